"""The offline Venice-compatible HTTP server: ``/api/v1/models``, ``/audio/speech``,
``/audio/transcriptions``, ``/audio/voices``, answering as the cloud contract says.

``create_app`` builds the aiohttp application (routes from ``handlers``, request models from
``requests``, errors, tokens and headers from ``middleware``); ``LocalServer`` runs it on a
background thread with its own event loop (the embedded default of ``venice_nb.session`` and the
tests use it). Engines run on a thread pool sized to the cores, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import replace
from types import TracebackType

from aiohttp import web

from . import handlers
from .config import LocalConfig
from .middleware import Auth, Handler, install, is_loopback_host, protect
from .requests import JSON_BODY_LIMIT
from .service import API_PREFIX, SERVICE_KEY, LocalService, service_of

__all__ = ["LocalConfig", "LocalServer", "create_app", "is_loopback_host"]

ROUTES: tuple[tuple[str, str, Handler, Auth], ...] = (
    ("GET", "/models", handlers.list_models, Auth.IF_SENT),
    ("POST", "/audio/speech", handlers.create_speech, Auth.REQUIRED),
    ("POST", "/audio/transcriptions", handlers.transcribe, Auth.REQUIRED),
    ("POST", "/audio/voices", handlers.create_voice, Auth.REQUIRED),
)
"""(method, path under ``/api/v1``, handler, token policy) of every endpoint."""


def create_app(config: LocalConfig | None = None) -> web.Application:
    """Build the aiohttp application serving the Venice audio API under ``/api/v1``."""
    service = LocalService(config or LocalConfig())
    app = web.Application(client_max_size=JSON_BODY_LIMIT)
    app[SERVICE_KEY] = service
    install(app)
    for method, path, handler, auth in ROUTES:
        if method == "GET":  # answers HEAD too
            route = app.router.add_get(f"{API_PREFIX}{path}", handler)
        else:
            route = app.router.add_route(method, f"{API_PREFIX}{path}", handler)
        protect(app, route, auth)

    async def _close(_app: web.Application) -> None:
        service.close()

    app.on_cleanup.append(_close)
    return app


class LocalServer:
    """Runs ``create_app`` on a background thread with its own event loop.

    ``start()`` blocks until the socket listens and returns the base URL
    (``http://127.0.0.1:PORT/api/v1``); ``stop()`` shuts it down. Binding a non-loopback host
    requires a token.
    """

    def __init__(
        self,
        config: LocalConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        config = config or LocalConfig()
        if token is not None:
            config = replace(config, token=token)
        if not is_loopback_host(host) and not config.token:
            raise ValueError(
                f"Refusing to serve on {host} without a token: pass --token (or token=...) or bind 127.0.0.1."
            )
        self.config = config
        self.host = host
        self.port = port
        self.app: web.Application | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/api/v1`` once started."""
        if self._base_url is None:
            raise RuntimeError("The local server is not running; call start() first.")
        return self._base_url

    @property
    def service(self) -> LocalService:
        """The running service (engines, catalog, clone store)."""
        if self.app is None:
            raise RuntimeError("The local server is not running; call start() first.")
        return service_of(self.app)

    def start(self) -> str:
        """Start serving on the background thread; returns the base URL once listening."""
        if self._thread is not None:
            return self.base_url
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._run, name="venice-nb-local-server", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self.base_url

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self.app = create_app(self.config)
            # keepalive_timeout also closes connections that never finish their headers
            # (aiohttp arms it when a connection opens), as nginx's client_header_timeout.
            self._runner = web.AppRunner(
                self.app,
                handle_signals=False,
                access_log=None,
                shutdown_timeout=2.0,
                keepalive_timeout=self.config.header_timeout,
            )
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port)
            loop.run_until_complete(site.start())
            server = site._server
            assert server is not None
            sockets = getattr(server, "sockets", None) or []
            port = sockets[0].getsockname()[1] if sockets else self.port
            self.port = port
            host = self.host
            if host in ("0.0.0.0", "", "::"):
                host = "127.0.0.1"
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
            self._base_url = f"http://{host}:{port}{API_PREFIX}"
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            with contextlib.suppress(Exception):
                if self._runner is not None:
                    loop.run_until_complete(self._runner.cleanup())
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._runner.cleanup())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if loop.is_running() and self._runner is not None:
            # Close the listening socket and open connections on the server's own loop first.
            done = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            with contextlib.suppress(Exception):
                done.result(timeout=10)
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self._base_url = None

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
