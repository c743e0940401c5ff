"""The offline server's endpoint handlers, one module per endpoint; each takes an aiohttp
request and finds the shared ``LocalService`` on the application."""

from __future__ import annotations

from .models import list_models
from .speech import create_speech
from .transcriptions import transcribe
from .voices import create_voice

__all__ = ["create_speech", "create_voice", "list_models", "transcribe"]
