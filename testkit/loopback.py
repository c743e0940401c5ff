"""What every loopback test server of testkit shares: listen on an ephemeral 127.0.0.1 port
under ``/api/v1``, close, work as an async context manager, or serve from a thread of its own
for code under test that blocks the caller's thread (``speak_many``, the IPython magics).

A subclass builds its ``web.Application`` in ``build_app``; aiohttp does the rest.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Self

from aiohttp import web

API_PREFIX = "/api/v1"


class LoopbackServer:
    """Base of the stand-in servers: ``async with Server() as s: s.base_url``."""

    runner_options: ClassVar[dict[str, Any]] = {"access_log": None, "shutdown_timeout": 0.5}

    def __init__(self) -> None:
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def build_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> str:
        """Listen on an ephemeral 127.0.0.1 port; returns the base URL ending in /api/v1."""
        if self._runner is not None:
            return self.base_url
        runner = web.AppRunner(self.build_app(), **self.runner_options)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}{API_PREFIX}"
        return self.base_url

    async def close(self) -> None:
        """Stop listening and drop open connections."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextmanager
    def in_thread(self) -> Iterator[str]:
        """Serve from a thread and event loop of its own; yields the base URL."""
        loop = asyncio.new_event_loop()
        base_url = loop.run_until_complete(self.start())
        thread = threading.Thread(
            target=loop.run_forever, name=f"{type(self).__name__}-loop", daemon=True
        )
        thread.start()
        try:
            yield base_url
        finally:
            asyncio.run_coroutine_threadsafe(self.close(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
