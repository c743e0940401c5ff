"""``GET /models``: the catalog, filtered by ``type`` (public: no token needed)."""

from __future__ import annotations

from aiohttp import web

from ..errors import bad_request
from ..service import service_of

__all__ = ["MODEL_TYPES", "list_models"]

MODEL_TYPES = ("asr", "embedding", "image", "music", "text", "tts", "upscale", "inpaint", "video")


async def list_models(request: web.Request) -> web.Response:
    """The catalog's models of ``?type=`` (``text`` by default, ``all`` for every one)."""
    service = service_of(request.app)
    kind = request.query.get("type", "text")
    if kind not in (*MODEL_TYPES, "all", "code"):
        raise bad_request(
            "type",
            f"Invalid enum value. Expected {' | '.join(repr(t) for t in (*MODEL_TYPES, 'all', 'code'))}, received {kind!r}",
        )
    return web.json_response(service.catalog.listing(kind, service.labels()))
