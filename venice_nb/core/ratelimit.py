"""Pacing many requests by the service's own rate-limit headers, so a batch slows down before a
429 instead of after one.

Every answer carries ``x-ratelimit-remaining-requests`` and ``x-ratelimit-reset-requests`` (the
Unix time the window resets). :class:`RateLimitPacer` keeps an estimate of what is left in the
window: the latest answer's count minus the requests sent after that answer's request. When the
estimate reaches zero it holds every sender until the reset time, then lets one request through
to learn the new window before the others follow. A server that sends no such headers is not
paced at all; a 429 that happens anyway closes the window until its reset time (or ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import InvalidRequestError

__all__ = ["RateLimitPacer", "RateLimitState", "parse_reset"]

MARGIN = 0.05
"""Seconds added to the server's reset time before sending again (clocks and rounding)."""
MAX_MARGIN = 2.0
"""The margin grows after each 429 that pacing did not prevent, up to this."""
DEFAULT_429_WAIT = 1.0
"""Seconds to hold the batch after a 429 that names no reset time and no ``Retry-After``."""


def parse_reset(value: str | None, now: float) -> float | None:
    """A reset header as a Unix time: large numbers are Unix seconds, small ones seconds from now."""
    if not value:
        return None
    try:
        at = float(value)
    except ValueError:
        return None
    if not math.isfinite(at) or at < 0:
        return None
    return at if at > 1e9 else now + at


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) else None


@dataclass(frozen=True)
class RateLimitState:
    """What the pacer knows, for progress displays."""

    limit: int | None
    """The window's size (``x-ratelimit-limit-requests``), when the server said."""
    remaining: int | None
    """Requests this batch may still send in the window (an estimate); None when unknown."""
    reset_at: float | None
    """Unix time the window resets, when known."""
    waiting_until: float | None
    """Set while senders are held back: the Unix time they resume."""
    slowdowns: int
    """Times senders were held until a window reset."""
    rate_limited: int
    """429 answers seen."""


class RateLimitPacer:
    """Hands out send permits (:meth:`acquire`) and learns from every answer (:meth:`observe`).

    Requests still in flight are assumed not yet counted by the server, so the estimate errs on
    the safe side and corrects itself as their answers arrive. Within one window (answers with the
    same reset time) the lowest count wins, since answers can arrive out of order; an answer with
    a later reset time is newer news (a fixed window that reopened, or a sliding one that moved).
    ``requests_per_second`` is an optional ceiling of this pacer's own, for several processes
    sharing one key: give each its share of the key's limit. ``clock`` is the Unix clock the
    reset headers are compared with.
    """

    def __init__(
        self,
        *,
        requests_per_second: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if requests_per_second is not None and (
            isinstance(requests_per_second, bool)
            or not isinstance(requests_per_second, int | float)
            or not 0 < requests_per_second < math.inf
        ):
            raise InvalidRequestError(
                f"requests_per_second must be a number > 0, got {requests_per_second!r}.",
                param="requests_per_second",
            )
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._clock = clock
        self._limited: bool | None = None  # None: no answer yet, so no idea
        self._limit: int | None = None
        self._remaining: int | None = None  # the server's count; None: unknown, probe first
        self._reset_at: float | None = None
        self._outstanding: set[int] = set()  # tickets sent and not answered yet
        self._sent = 0
        self._probe: int | None = None
        self._next_send = 0.0  # monotonic time the requests_per_second ceiling allows
        self._margin = MARGIN
        self._waiting_until: float | None = None
        self._changed = asyncio.Event()
        self.slowdowns = 0
        self.rate_limited = 0
        self.on_hold: Callable[[], object] | None = None
        """Called when senders start waiting for a window to reset (to show it)."""

    @property
    def available(self) -> int | None:
        """Requests that may be sent now by the estimate; None when unknown or unlimited."""
        if self._remaining is None:
            return None
        return self._remaining - len(self._outstanding)

    @property
    def state(self) -> RateLimitState:
        return RateLimitState(
            self._limit,
            self.available,
            self._reset_at,
            self._waiting_until,
            self.slowdowns,
            self.rate_limited,
        )

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early when an answer changes what is known."""
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            pass

    async def acquire(self) -> int:
        """Wait until one more request may be sent; returns its ticket for :meth:`observe`."""
        while True:
            now = self._clock()
            available = self.available
            if available is not None and available <= 0:
                resume = (self._reset_at or now) + self._margin
                if now < resume or (self._outstanding and self._remaining):
                    # Before the reset, or answers still to come that may free the estimate.
                    if now < resume and self._waiting_until is None:
                        self._waiting_until = resume
                        self.slowdowns += 1
                        if self.on_hold is not None:
                            self.on_hold()
                    await self._wait(resume - now if now < resume else 60.0)
                    continue
                self._remaining = None  # the window has reset: learn the new one first
                self._waiting_until = None
            if self._limited is not False and self._remaining is None:
                if self._probe is not None:  # one request learns the window; the rest wait
                    await self._wait(60.0)
                    continue
                self._probe = self._take()
                return self._probe
            if self._interval:
                delay = self._next_send - time.monotonic()
                if delay > 0:
                    await self._wait(delay)
                    continue
            return self._take()

    def _take(self) -> int:
        ticket = self._sent
        self._sent += 1
        self._outstanding.add(ticket)
        if self._interval:
            self._next_send = max(self._next_send, time.monotonic()) + self._interval
        return ticket

    def release(self, ticket: int) -> None:
        """Give back a permit whose request was never sent."""
        self._outstanding.discard(ticket)
        if self._probe == ticket:
            self._probe = None
        self._notify()

    def observe(self, ticket: int, headers: Mapping[str, str] | None, status: int | None) -> None:
        """Learn from the answer to ``ticket`` (``headers`` lower-cased; None: no answer came)."""
        now = self._clock()
        headers = headers or {}
        remaining = _int(headers.get("x-ratelimit-remaining-requests"))
        reset_at = parse_reset(headers.get("x-ratelimit-reset-requests"), now)
        limit = _int(headers.get("x-ratelimit-limit-requests"))
        self._outstanding.discard(ticket)
        if self._probe == ticket:
            self._probe = None
        if limit is not None:
            self._limit = limit
        if status == 429:
            self.rate_limited += 1
            self._limited = True
            retry_after = parse_reset(headers.get("retry-after"), now)
            hints = [t for t in (reset_at, retry_after) if t is not None and t > now]
            hint = max(hints) if hints else now + DEFAULT_429_WAIT
            if self._remaining is None or self._remaining > 0:
                self._margin = min(MAX_MARGIN, self._margin * 2)  # pacing let this one through
            self._remaining = 0
            self._reset_at = max(hint, self._reset_at or 0.0)
        elif remaining is not None:
            self._limited = True
            # A count is never too high for now: since the answer, a fixed window can only have
            # reopened and a sliding one only let old requests go. So even an answer whose reset
            # time has passed is used; only an answer older than the one applied is not.
            if self._remaining is None or self._reset_at is None or reset_at is None:
                self._remaining, self._reset_at = remaining, reset_at
            elif abs(reset_at - self._reset_at) < 1e-3:  # the same window: the lowest count wins
                self._remaining = min(self._remaining, remaining)
            elif reset_at > self._reset_at:  # a newer window
                self._remaining, self._reset_at = remaining, reset_at
            available = self.available
            if available is not None and available > 0:
                self._waiting_until = None
        elif status is not None and self._limited is None:
            self._limited = False  # the server publishes no limits: do not pace
        self._notify()
