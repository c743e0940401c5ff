"""Admission control and the enforced rate window of the offline server.

``Admission`` lets a bounded number of requests do engine work at once, keeps a short FIFO line
behind them and refuses the rest at once (429 ``MODEL_OVERLOADED`` with ``Retry-After`` from the
recent pace), so no request waits unanswered past its client's timeout. ``RateWindow`` counts
requests and input characters per minute, refuses past its limits (429 ``RATE_LIMIT_EXCEEDED``)
and reports exactly those numbers in the ``x-ratelimit-*`` headers.

Hand-written on purpose: aiohttp has no admission control, and the rate-limit libraries
(aiolimiter, limits) make callers wait or only count; neither answers "refused, come back in N s"
with the remaining/reset figures the headers must carry. Both parts are plain asyncio on the
server's own loop (every method runs there), so no locks are needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator

from .errors import ApiError

__all__ = ["Admission", "RateWindow"]

MAX_RETRY_AFTER_S = 60
"""Longest ``Retry-After`` sent: clients (openai-python, ours) honour hints up to 60 s."""


class Admission:
    """At most ``active`` requests at engine work, ``waiting`` more in line, the rest refused.

    The line is also bounded in time: a request that would wait longer than ``max_wait_s``
    (its place in line times the recent hold time, over the slots) is refused at once, so the
    bound follows the engine's pace (the natural voices hold a slot longer than fast mode's).

    Engine work is queued on the thread pool one sentence (or one transcription) at a time per
    request, so the admitted requests share the workers round-robin: a streamed request keeps
    its pace beside whole ones, and a short one is not stuck behind a long one.
    """

    def __init__(self, active: int, waiting: int, max_wait_s: float = 30.0) -> None:
        self.active_limit = max(1, active)
        self.waiting_limit = max(0, waiting)
        self.max_wait_s = max_wait_s
        self._active = 0
        self._line: deque[asyncio.Future[None]] = deque()
        self._hold_s = 2.0  # moving average of how long a request holds its slot
        self.refused = 0

    @property
    def active(self) -> int:
        """Requests at engine work now."""
        return self._active

    @property
    def waiting(self) -> int:
        """Requests in line now."""
        return sum(1 for f in self._line if not f.done())

    def expected_wait(self) -> float:
        """Seconds a request arriving now would wait: the line ahead times the recent hold
        time, over the slots (0 when a slot is free)."""
        if self._active < self.active_limit and not self.waiting:
            return 0.0
        return self._hold_s * (self.waiting + 1) / self.active_limit

    def retry_after(self) -> int:
        """Seconds until a slot is likely free."""
        estimate = self._hold_s * (self.waiting + 1) / self.active_limit
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(estimate)))

    def full(self) -> bool:
        """True when a request arriving now would be refused."""
        if self._active < self.active_limit and not self.waiting:
            return False
        return self.waiting >= self.waiting_limit or self.expected_wait() > self.max_wait_s

    def check(self) -> None:
        """Refuse now (429) if full, before an upload is read only to be refused afterwards."""
        if self.full():
            raise self._overloaded()

    def _overloaded(self) -> ApiError:
        self.refused += 1
        seconds = self.retry_after()
        return ApiError(
            429,
            f"The offline engine is busy ({self._active} requests at work, {self.waiting} "
            f"waiting); retry in {seconds} s.",
            "MODEL_OVERLOADED",
            headers={"Retry-After": str(seconds)},
        )

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one engine slot for the body of the ``async with``; 429 at once when full."""
        if self._active < self.active_limit and not self.waiting:
            self._active += 1
        elif not self.full():
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._line.append(turn)
            try:
                await turn  # the slot of a finishing request is handed over
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._release()  # handed over just as the client left: pass it on
                else:
                    with contextlib.suppress(ValueError):
                        self._line.remove(turn)
                raise
        else:
            raise self._overloaded()
        start = time.monotonic()
        try:
            yield
        finally:
            held = time.monotonic() - start
            self._hold_s = 0.8 * self._hold_s + 0.2 * held
            self._release()

    def _release(self) -> None:
        while self._line:
            turn = self._line.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes on; the active count stays
                return
        self._active -= 1


class RateWindow:
    """Requests and input characters per minute: counted, enforced and reported truthfully.

    A fixed one-minute window. ``admit`` counts a request or refuses it (429 with
    ``Retry-After`` until the window resets); ``spend`` takes speech input characters (the
    offline engine's "tokens") the same way; ``headers`` describes the window without counting.
    """

    WINDOW_S = 60.0

    def __init__(self, requests: int, tokens: int) -> None:
        self.limit_requests = max(1, requests)
        self.limit_tokens = max(1, tokens)
        self._start = time.time()
        self._requests = 0
        self._tokens = 0

    def _roll(self) -> float:
        now = time.time()
        if now - self._start >= self.WINDOW_S:
            self._start = now
            self._requests = 0
            self._tokens = 0
        return now

    def _refuse(self, what: str, now: float) -> ApiError:
        seconds = max(1, math.ceil(self._start + self.WINDOW_S - now))
        return ApiError(
            429,
            f"Rate limit reached: {what} per minute on this offline server; retry in {seconds} s "
            "(venice-nb serve --rate-limit raises it).",
            "RATE_LIMIT_EXCEEDED",
            headers={"Retry-After": str(seconds)},
        )

    def admit(self) -> None:
        """Count one request, or raise 429 when the window's requests are used up."""
        now = self._roll()
        if self._requests >= self.limit_requests:
            raise self._refuse(f"{self.limit_requests} requests", now)
        self._requests += 1

    def refund(self) -> None:
        """Give back a request that was counted but refused for another reason (overload)."""
        self._requests = max(0, self._requests - 1)

    def spend(self, tokens: int) -> None:
        """Take ``tokens`` input characters, or raise 429 when the window has fewer left."""
        now = self._roll()
        if self._tokens + tokens > self.limit_tokens:
            raise self._refuse(f"{self.limit_tokens} input characters", now)
        self._tokens += tokens

    def headers(self) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers of the current window (nothing is counted)."""
        now = self._roll()
        reset = self._start + self.WINDOW_S
        return {
            "x-ratelimit-limit-requests": str(self.limit_requests),
            "x-ratelimit-remaining-requests": str(max(0, self.limit_requests - self._requests)),
            "x-ratelimit-reset-requests": str(math.ceil(reset)),
            "x-ratelimit-limit-tokens": str(self.limit_tokens),
            "x-ratelimit-remaining-tokens": str(max(0, self.limit_tokens - self._tokens)),
            "x-ratelimit-reset-tokens": str(max(1, math.ceil(reset - now))),
        }
