"""A client whose every POST takes a permit from a :class:`RateLimitPacer` and reports its answer
to it, so code that knows nothing of pacing (one transcription, the long-form layer's pieces) is
paced by the service's rate-limit headers, and by one pacer shared by many clients or machines.

Speech batches pace inside their engine (:mod:`venice_nb.core.batch.engine`); transcription
batches use this client, so both hold every sender on a 429 instead of retrying each on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .client import RETRYABLE_STATUS, RawResponse, Timeout, VeniceClient
from .errors import APIConnectionError, APIError, RateLimitError
from .ratelimit import RateLimitPacer

__all__ = ["MAX_RATE_LIMITED", "PacedClient"]

MAX_RATE_LIMITED = 50
"""429 answers one request may meet before it is raised (a server that never lets it through)."""


class PacedClient(VeniceClient):
    """A :class:`VeniceClient` whose POST requests wait for ``pacer`` and teach it every answer.

    A 429 is retried after the pacer's hold (which every user of the pacer waits out) and does not
    count against ``max_retries``; 5xx answers and dropped connections are retried as by the
    plain client, each retry taking a new permit. GET requests (the model catalog) are not paced.
    """

    def __init__(self, *args: Any, pacer: RateLimitPacer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pacer = pacer
        self.requests = 0
        """POST requests sent (each retry counts)."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        data: Callable[[], Any] | None = None,
        timeout: Timeout = None,
        retries: int | None = None,
    ) -> RawResponse:
        if method != "POST":
            return await super().request(
                method, path, json=json, params=params, data=data, timeout=timeout, retries=retries
            )
        budget = self.max_retries if retries is None else retries
        failures = limited = 0
        while True:
            ticket = await self.pacer.acquire()
            self.requests += 1
            try:
                raw = await super().request(
                    method, path, json=json, params=params, data=data, timeout=timeout, retries=0
                )
            except APIError as exc:
                self.pacer.observe(ticket, exc.headers or None, exc.status)
                if isinstance(exc, RateLimitError):
                    limited += 1
                    if limited < MAX_RATE_LIMITED:
                        continue
                    raise
                retryable = exc.status in RETRYABLE_STATUS or isinstance(exc, APIConnectionError)
                if retryable and failures < budget:
                    failures += 1
                    await asyncio.sleep(self.retry_delay(failures, exc.headers or None, exc.status))
                    continue
                raise
            except BaseException:
                self.pacer.observe(ticket, None, None)
                raise
            self.pacer.observe(ticket, raw.headers, raw.status)
            return raw
