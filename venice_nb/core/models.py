"""``client.models``: the model catalog (``GET /models``) with a short-lived cache."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Literal, get_args

from .errors import InvalidRequestError
from .types import ModelInfo, ModelList

if TYPE_CHECKING:
    from .client import VeniceClient

__all__ = ["ModelType", "Models"]

ModelType = Literal[
    "asr",
    "tts",
    "all",
    "text",
    "image",
    "embedding",
    "music",
    "video",
    "upscale",
    "inpaint",
    "code",
]
_TYPES = frozenset(get_args(ModelType))


class Models:
    """Lists models; answers are cached per type for ``client.models_cache_ttl`` seconds."""

    def __init__(self, client: VeniceClient) -> None:
        self._client = client
        self._cache: dict[str, tuple[float, ModelList]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def list(self, type: str | None = None, *, refresh: bool = False) -> ModelList:
        """``GET /models?type=...``; ``type`` is one of tts, asr, all, ... (None: the service default)."""
        if type is not None and type not in _TYPES:
            raise InvalidRequestError(
                f"Unknown model type {type!r}; use one of {', '.join(sorted(_TYPES))}.",
                param="type",
            )
        key = type or ""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._cache.get(key)
            if hit and not refresh and time.monotonic() - hit[0] < self._client.models_cache_ttl:
                return hit[1]
            raw = await self._client.request(
                "GET", "/models", params={"type": type} if type else None
            )
            models = raw.parse(ModelList, "the model list")
            self._cache[key] = (time.monotonic(), models)
            return models

    async def retrieve(self, model_id: str, *, type: str = "all") -> ModelInfo:
        """The catalog entry of one model; a clear error lists the known ids when it is unknown."""
        models = await self.list(type)
        found = models.get(model_id)
        if found is None:
            known = ", ".join(m.id for m in models)
            raise InvalidRequestError(
                f"Unknown model {model_id!r}; the {type} models are: {known}.", param="model"
            )
        return found

    def clear_cache(self) -> None:
        self._cache.clear()
