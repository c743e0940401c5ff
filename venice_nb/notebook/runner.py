"""One background thread with its own long-lived event loop, where the notebook layer runs the core.

A Jupyter kernel already runs an asyncio loop in the main thread, so a cell cannot call
``asyncio.run``. Magics, helpers and widget callbacks submit coroutines to this loop instead:
:func:`run` waits for the answer (Ctrl-C / "interrupt kernel" cancels the request), :func:`submit`
returns a future at once so a widget callback never blocks the kernel. The loop keeps one
:class:`~venice_nb.core.VeniceClient` per backend, so its HTTP connections are reused.

Why not nest-asyncio: it patches asyncio process-wide to let the kernel's running loop be
re-entered, which breaks other libraries' assumptions and cannot be undone; a loop of our own in
its own thread needs no patch and lets a cell be interrupted cleanly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from venice_nb.core.client import VeniceClient

__all__ = ["Runner", "get_client", "get_runner", "run", "shutdown", "submit"]

T = TypeVar("T")

POLL_SECONDS = 0.05
CANCEL_GRACE_SECONDS = 1.0


class Runner:
    """A daemon thread running an event loop forever; coroutines are submitted to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: dict[str, VeniceClient] = {}
        self._client_lock: asyncio.Lock | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The runner's loop, started on first use."""
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name="venice-nb-runner", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
                self._clients = {}
                self._client_lock = None
            return self._loop

    @property
    def in_runner_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the runner loop and return at once."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        timeout: float | None = None,
        *,
        poll: Callable[[], None] | None = None,
        interval: float = POLL_SECONDS,
    ) -> T:
        """Run ``coro`` on the runner loop and wait for its result in the calling thread.

        ``poll`` is called from the calling thread about every ``interval`` seconds (50 ms)
        while waiting (used to redraw progress bars and forward live audio from the cell). A
        KeyboardInterrupt cancels the coroutine, waits up to a second for the cancellation to
        land, then propagates.
        """
        if self.in_runner_thread:
            coro.close()
            raise RuntimeError("runner.run() cannot be called from the runner's own loop.")
        return self.wait(self.submit(coro), timeout, poll=poll, interval=interval)

    def wait(
        self,
        future: concurrent.futures.Future[T],
        timeout: float | None = None,
        *,
        poll: Callable[[], None] | None = None,
        interval: float = POLL_SECONDS,
        wake: threading.Event | None = None,
    ) -> T:
        """Wait for a :meth:`submit` future as :meth:`run` does (``poll``, Ctrl-C cancels), for
        work started before the cell had something else to do (showing a widget). Setting
        ``wake`` (from any thread) calls ``poll`` at once instead of at the next ``interval``:
        live audio is forwarded the moment a chunk arrives."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if wake is not None:
            future.add_done_callback(lambda _: wake.set())
        try:
            while True:
                if wake is not None:
                    wake.wait(interval)
                    wake.clear()  # before poll: what arrives during it sets wake again
                    if future.done():
                        return future.result()
                else:
                    try:
                        return future.result(timeout=interval)
                    except concurrent.futures.TimeoutError:
                        pass
                if poll is not None:
                    poll()
                if deadline is not None and time.monotonic() > deadline:
                    future.cancel()
                    raise TimeoutError(
                        f"The request did not finish within {timeout:g} s; it was cancelled."
                    ) from None
        except KeyboardInterrupt:
            future.cancel()
            concurrent.futures.wait([future], timeout=CANCEL_GRACE_SECONDS)
            raise
        finally:
            if poll is not None and future.done():
                poll()

    async def client(self) -> VeniceClient:
        """The long-lived client for the current backend (call on the runner loop)."""
        from venice_nb.session import get_backend, new_client

        if self._client_lock is None:
            self._client_lock = asyncio.Lock()
        async with self._client_lock:
            backend = get_backend()
            key = f"{backend.kind}|{backend.base_url}"
            client = self._clients.get(key)
            if client is None:
                for stale in self._clients.values():  # the backend changed (session reset)
                    await stale.close()
                client = new_client()
                await client.__aenter__()
                self._clients = {key: client}
            return client

    def close(self) -> None:
        """Close the clients and stop the loop (the next use starts a fresh one)."""
        with self._lock:
            loop, thread, clients = self._loop, self._thread, list(self._clients.values())
            self._loop, self._thread, self._clients = None, None, {}
        if loop is None or thread is None or not thread.is_alive():
            return

        async def close_all() -> None:
            for client in clients:
                await client.close()

        try:
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=5)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()


_RUNNER = Runner()


def get_runner() -> Runner:
    """The process-wide runner."""
    return _RUNNER


def run(
    coro: Coroutine[Any, Any, T],
    timeout: float | None = None,
    *,
    poll: Callable[[], None] | None = None,
    interval: float = POLL_SECONDS,
) -> T:
    """Run ``coro`` on the background loop and wait for it (see :meth:`Runner.run`)."""
    return _RUNNER.run(coro, timeout, poll=poll, interval=interval)


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule ``coro`` on the background loop without waiting."""
    return _RUNNER.submit(coro)


async def get_client() -> VeniceClient:
    """The background loop's client for the session's backend (await it on that loop)."""
    return await _RUNNER.client()


def shutdown() -> None:
    """Close the background loop's clients and stop the loop."""
    _RUNNER.close()
