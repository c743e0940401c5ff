"""A loopback speech server that enforces a request rate limit and counts every text it is sent.

Shared by tests/test_batch.py and benchmarks/bench_batch.py. It serves ``GET /models`` (the
published catalog) and ``POST /audio/speech``, which accepts at most ``limit`` requests per
``window`` seconds (a fixed window that opens at the first request after the last one closed, or
a sliding window) and answers 429 past it, like the service: every answer carries
``x-ratelimit-limit-requests``, ``x-ratelimit-remaining-requests`` and
``x-ratelimit-reset-requests`` (Unix time). Answers that are refused do not count in the window.
Speech is a few deterministic bytes per (text, voice, format), not audio. ``POST
/audio/transcriptions`` shares the same limit and answers a fixed transcript naming the uploaded
file (:func:`stub_transcript`), counted per file name. The limit is the server's, so it holds
across every client of it (the processes of a Dask cluster included); ``accepted_at`` keeps the
time of each admitted request, for throughput figures.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any, Literal

from aiohttp import BodyPartReader, web

from .loopback import API_PREFIX, LoopbackServer

CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
_MESSAGES = {
    400: ("INVALID_REQUEST", "Invalid request parameters"),
    401: ("AUTHENTICATION_FAILED", "Authentication failed"),
    402: ("INSUFFICIENT_BALANCE", "Insufficient USD or Diem balance to complete request"),
    422: ("CONTENT_POLICY_VIOLATION", "The request was refused by the content policy."),
    429: ("RATE_LIMIT_EXCEEDED", "Rate limit exceeded"),
    500: ("INFERENCE_FAILED", "Inference processing failed"),
    503: ("MODEL_OFFLINE", "The model is at capacity. Please try again later."),
}


def _catalog() -> dict[str, Any]:
    """The published catalog from the shared reference folder, else the one the package ships."""
    shared = os.environ.get("VENICE_SHARED_DIR")
    root = Path(__file__).resolve().parents[1]
    for candidate in (
        Path(shared) / "venice-api" / "catalog.json" if shared else None,
        root.parent / "shared" / "venice-api" / "catalog.json",
        root / "venice_nb" / "local" / "data" / "catalog.json",
    ):
        if candidate is not None and candidate.is_file():
            data: dict[str, Any] = json.loads(candidate.read_text("utf-8"))
            return data
    raise FileNotFoundError("No catalog.json: set VENICE_SHARED_DIR to the shared folder.")


def stub_transcript(filename: str) -> dict[str, Any]:
    """The transcript the stub answers for an uploaded file (three words, 1.5 s)."""
    words = ["Transcript", "of", Path(filename).stem]
    return {
        "text": " ".join(words),
        "duration": 1.5,
        "timestamps": {
            "word": [
                {"word": w, "start": i * 0.5, "end": i * 0.5 + 0.4} for i, w in enumerate(words)
            ],
            "segment": [{"text": " ".join(words), "start": 0.0, "end": 1.4}],
        },
    }


def stub_audio(text: str, voice: str, fmt: str) -> bytes:
    """The bytes the stub answers for one request (so a test can check a file is whole)."""
    digest = hashlib.sha256(f"{voice}|{fmt}|{text}".encode()).digest()
    return b"STUB" + digest * 8


class RateLimitedStub(LoopbackServer):
    """The speech endpoint on 127.0.0.1 behind a rate limit, counting requests per text."""

    def __init__(
        self,
        *,
        limit: int = 60,
        window: float = 10.0,
        kind: Literal["fixed", "sliding"] = "fixed",
        latency: float = 0.0,
        api_key: str = "test-key",
    ) -> None:
        super().__init__()
        self.limit = limit
        self.window = window
        self.kind = kind
        self.latency = latency
        self.api_key = api_key
        self.attempts: Counter[str] = Counter()
        """Speech requests received per text (any answer)."""
        self.served: Counter[str] = Counter()
        """Speech answered with audio per text."""
        self.statuses: Counter[int] = Counter()
        self.accepted_at: list[float] = []
        """Unix time of every request admitted by the limit."""
        self.rejected_at: list[float] = []
        """Unix time of every 429 answered (by the limit or by :meth:`fail`)."""
        self.fault_retry_after: float | None = None
        """``Retry-After`` seconds sent with the 429s queued by :meth:`fail` (None: none)."""
        self.faults: dict[str, deque[int]] = {}
        self._catalog = _catalog()
        self._window_start = 0.0
        self._window_count = 0
        self._accepted: deque[float] = deque()
        self._changed: asyncio.Condition | None = None

    # -- what tests look at

    @property
    def rejected_429(self) -> int:
        return self.statuses[429]

    def reset_counts(self) -> None:
        """Forget what was counted (the window itself goes on), for the next test of a module."""
        for counter in (self.attempts, self.served, self.statuses):
            counter.clear()
        self.accepted_at.clear()
        self.rejected_at.clear()
        self.faults.clear()

    def fail(self, text: str, *statuses: int) -> None:
        """Answer the next requests for ``text`` with these statuses, in order."""
        self.faults.setdefault(text, deque()).extend(statuses)

    async def wait_sent(self, text: str) -> None:
        """Return once a speech request for ``text`` has been received (answered or not)."""
        assert self._changed is not None, "start() first"
        async with self._changed:
            await self._changed.wait_for(lambda: self.attempts[text] > 0)

    async def wait_served(self, count: int) -> None:
        """Return once ``count`` speech requests in all have been answered with audio."""
        assert self._changed is not None, "start() first"
        async with self._changed:
            await self._changed.wait_for(lambda: sum(self.served.values()) >= count)

    # -- lifecycle

    async def start(self) -> str:
        self._changed = asyncio.Condition()  # of the loop that serves
        return await super().start()

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(f"{API_PREFIX}/models", self._models)
        app.router.add_post(f"{API_PREFIX}/audio/speech", self._speech)
        app.router.add_post(f"{API_PREFIX}/audio/transcriptions", self._transcription)
        return app

    # -- the limit

    def _admit(self, now: float) -> tuple[bool, int, float]:
        """Count one request if the window has room: (admitted, remaining, reset Unix time)."""
        if self.kind == "sliding":
            while self._accepted and self._accepted[0] <= now - self.window:
                self._accepted.popleft()
            admitted = len(self._accepted) < self.limit
            if admitted:
                self._accepted.append(now)
            reset = self._accepted[0] + self.window if self._accepted else now
            return admitted, self.limit - len(self._accepted), reset
        if now >= self._window_start + self.window:
            self._window_start, self._window_count = now, 0
        admitted = self._window_count < self.limit
        if admitted:
            self._window_count += 1
        return admitted, self.limit - self._window_count, self._window_start + self.window

    def _headers(self, remaining: int, reset: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(max(0, remaining)),
            "x-ratelimit-reset-requests": f"{reset:.3f}",
        }

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # -- handlers

    async def _models(self, request: web.Request) -> web.Response:
        kind = request.query.get("type", "all")
        data = [m for m in self._catalog["data"] if kind in ("all", m["type"])]
        return web.json_response({"object": "list", "type": kind, "data": data})

    async def _speech(self, request: web.Request) -> web.Response:
        body = await request.json()
        text, voice = str(body.get("input", "")), str(body.get("voice", ""))
        fmt = str(body.get("response_format") or "mp3")
        self.attempts[text] += 1
        await self._notify()
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, {})
        now = time.time()
        queued = self.faults.get(text)
        if queued:
            status = queued.popleft()
            if status == 429:
                headers = self._headers(0, now + 0.2)
                if self.fault_retry_after is not None:
                    headers["Retry-After"] = f"{self.fault_retry_after:g}"
                return self._error(429, headers)
            return self._error(status, {})
        admitted, remaining, reset = self._admit(now)
        headers = self._headers(remaining, reset)
        if not admitted:
            return self._error(429, headers)
        self.accepted_at.append(now)
        if self.latency:
            await asyncio.sleep(self.latency)
        self.statuses[200] += 1
        self.served[text] += 1
        await self._notify()
        headers["Content-Type"] = CONTENT_TYPES.get(fmt, "audio/mpeg")
        return web.Response(body=stub_audio(text, voice, fmt), headers=headers)

    async def _transcription(self, request: web.Request) -> web.Response:
        filename = ""
        async for part in await request.multipart():
            if isinstance(part, BodyPartReader) and part.name == "file":
                filename = part.filename or ""
            if isinstance(part, BodyPartReader):
                await part.read()
        self.attempts[filename] += 1
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, {})
        now = time.time()
        queued = self.faults.get(filename)
        if queued:
            return self._error(queued.popleft(), self._headers(0, now + 0.2))
        admitted, remaining, reset = self._admit(now)
        headers = self._headers(remaining, reset)
        if not admitted:
            return self._error(429, headers)
        self.accepted_at.append(now)
        if self.latency:
            await asyncio.sleep(self.latency)
        self.statuses[200] += 1
        self.served[filename] += 1
        await self._notify()
        return web.json_response(stub_transcript(filename), headers=headers)

    def _error(self, status: int, headers: dict[str, str]) -> web.Response:
        self.statuses[status] += 1
        if status == 429:
            self.rejected_at.append(time.time())
        code, message = _MESSAGES.get(status, ("UNKNOWN_ERROR", "Unknown error"))
        return web.json_response({"error": message, "code": code}, status=status, headers=headers)
