"""The offline engine: a local HTTP server speaking the Venice audio API with real speech.

Install with the ``local`` extra. ``LocalServer`` runs it in-process on a background thread;
``venice-nb serve`` / ``python -m venice_nb.local`` run it in the foreground.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import LocalConfig
    from .server import LocalServer, create_app

__all__ = ["LocalConfig", "LocalServer", "create_app"]


def __getattr__(name: str) -> Any:
    """Import the server (PyAV, numpy) only when it is asked for."""
    if name == "LocalConfig":
        from .config import LocalConfig

        return LocalConfig
    if name in ("LocalServer", "create_app"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
