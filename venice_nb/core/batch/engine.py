"""Running a planned batch: workers, rate-limit pacing, per-item retry or failure, resumable
atomic writes, a stop that never wastes an answer already paid for, and one run per folder
(an OS lock through ``filelock``, released by the kernel even when a run is killed)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import (
    APIError,
    APIResponseValidationError,
    InvalidRequestError,
    RateLimitError,
    is_fatal,
    is_transient,
)
from ..ratelimit import RateLimitPacer
from .plan import (
    DEFAULT_FORMAT,
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    BatchPlan,
    PlannedItem,
    is_complete,
    plan_batch,
    write_complete,
)
from .results import BatchProgress, BatchResult, ItemResult

if TYPE_CHECKING:
    from pathlib import Path

    from filelock import BaseFileLock

    from ..client import Timeout, VeniceClient
    from ..types import ModelInfo

__all__ = ["check_run_options", "run_batch", "speak_many_async"]

LOCK_NAME = ".venice-nb-batch.lock"
"""The file in ``out_dir`` that a running batch holds locked (it stays; the lock does not)."""

MAX_RATE_LIMITED = 50
"""429 answers one item may meet before it is failed (a server that never lets it through)."""
ENGINE_HEADER = "x-venice-nb-engine"
"""Set to ``offline`` by venice_nb's offline engine: its speech costs nothing."""


def check_run_options(
    *, concurrency: int, max_attempts: int, requests_per_second: float | None
) -> None:
    """Refuse bad run options with :class:`InvalidRequestError` (before anything starts)."""
    for param, value in (("concurrency", concurrency), ("max_attempts", max_attempts)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequestError(
                f"{param} must be a whole number >= 1, got {value!r}.", param=param
            )
    RateLimitPacer(requests_per_second=requests_per_second)  # checks it


class _Engine:
    def __init__(
        self,
        client: VeniceClient,
        plan: BatchPlan,
        *,
        concurrency: int,
        max_attempts: int,
        pacer: RateLimitPacer,
        on_progress: Callable[[BatchProgress], Any] | None,
        timeout: Timeout,
        overwrite: bool = True,
    ) -> None:
        self.client = client
        self.plan = plan
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.pacer = pacer
        self.on_progress = on_progress
        self.timeout = timeout
        self.overwrite = overwrite
        self.results = [
            ItemResult(i.index, i.name, i.path, i.text, i.model, i.voice) for i in plan.items
        ]
        self.bodies: dict[tuple[str, str], dict[str, Any]] = {}
        self.prices: dict[str, ModelInfo | None] = {}
        self.queue: deque[PlannedItem] = deque()
        self.sending: set[asyncio.Task[Any]] = set()
        self.stop = False
        self.fatal: BaseException | None = None
        self.requests = 0
        self.estimated: float | None = None

    def progress(self, last: ItemResult | None = None) -> None:
        if self.on_progress is None:
            return
        counts = {"done": 0, "skipped": 0, "failed": 0, "pending": 0}
        costs = []
        for r in self.results:
            counts[r.status] += 1
            if r.cost_usd is not None:
                costs.append(r.cost_usd)
        self.on_progress(
            BatchProgress(
                total=len(self.results),
                done=counts["done"],
                skipped=counts["skipped"],
                failed=counts["failed"],
                in_flight=len(self.sending),
                cost_usd=sum(costs) if costs else None,
                estimated_usd=self.estimated,
                rate=self.pacer.state,
                last=last,
            )
        )

    async def prepare(self) -> None:
        """Skip complete files; check each (model, voice) against the catalog before sending."""
        for item, result in zip(self.plan.items, self.results, strict=True):
            if is_complete(item.path):
                result.status, result.reason = "skipped", "file already exists"
            else:
                self.queue.append(item)
        by_combo: dict[tuple[str, str], list[PlannedItem]] = {}
        for item in self.queue:
            by_combo.setdefault((item.model, item.voice), []).append(item)
        estimate = []
        for (model, voice), items in by_combo.items():
            try:
                request = await self.client.audio.speech_request(
                    input=items[0].text,
                    model=model,
                    voice=voice,
                    response_format=self.plan.format,
                    **{k: self.plan.options.get(k) for k in _OPTIONS},
                )
            except InvalidRequestError as exc:
                names = ", ".join(repr(i.name) for i in items[:3])
                more = f" and {len(items) - 3} more" if len(items) > 3 else ""
                raise InvalidRequestError(
                    f"Item {names}{more}: {exc.message}", param=exc.param
                ) from None
            body, info = dict(request.body), request.model
            body.pop("input")
            self.bodies[(model, voice)] = body
            self.prices[model] = info
            for item in items:
                cost = info.usd_cost(characters=len(item.text)) if info is not None else None
                if cost is not None:
                    estimate.append(cost)
        self.estimated = sum(estimate) if estimate else None
        await asyncio.to_thread(self.plan.out_dir.mkdir, parents=True, exist_ok=True)

    def skip_finished(self) -> None:
        """Drop from the queue the items whose files appeared since ``prepare``."""
        for item in list(self.queue):
            if is_complete(item.path):
                self.queue.remove(item)
                result = self.results[item.index]
                result.status, result.reason = "skipped", "file already exists"

    async def run(self) -> None:
        workers = [
            asyncio.create_task(self.worker())
            for _ in range(min(self.concurrency, len(self.queue)))
        ]
        try:
            pending = set(workers)
            while pending:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if self.stop:
                    await self.halt(workers)
                    break
        except asyncio.CancelledError:
            self.stop = True
            await self.halt(workers)
            raise
        if self.fatal is not None:
            raise self.fatal

    async def halt(self, workers: list[asyncio.Task[None]]) -> None:
        """Cancel workers that have not sent their request; wait for those that have."""
        for worker in workers:
            if worker not in self.sending:
                worker.cancel()
        try:
            await asyncio.wait(workers)
        except asyncio.CancelledError:  # cancelled again while draining: abandon the answers
            for worker in workers:
                worker.cancel()
            await asyncio.wait(workers)
            raise

    async def worker(self) -> None:
        while self.queue and not self.stop:
            item = self.queue.popleft()
            result = self.results[item.index]
            try:
                await self.speak(item, result)
                if result.status != "pending":
                    self.progress(result)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # a fatal error: stop the batch, report it
                self.stop = True
                if self.fatal is None:
                    self.fatal = exc
                return

    async def speak(self, item: PlannedItem, result: ItemResult) -> None:
        """Send ``item`` until it is done, failed, or the batch stops; raises only fatal errors."""
        body = {**self.bodies[(item.model, item.voice)], "input": item.text}
        task = asyncio.current_task()
        assert task is not None
        transient = limited = 0
        while not self.stop:
            if is_complete(item.path):  # another run on the same folder wrote it meanwhile
                result.status, result.reason = "skipped", "written by another run"
                return
            ticket = await self.pacer.acquire()
            if self.stop:
                self.pacer.release(ticket)
                return
            self.sending.add(task)
            observed = False
            try:
                result.attempts += 1
                self.requests += 1
                try:
                    raw = await self.client.request(
                        "POST", "/audio/speech", json=body, timeout=self.timeout, retries=0
                    )
                except APIError as exc:
                    self.pacer.observe(ticket, exc.headers or None, exc.status)
                    observed = True
                    if is_fatal(exc):
                        raise
                    if isinstance(exc, RateLimitError):
                        limited += 1
                        if limited < MAX_RATE_LIMITED:
                            self.progress()
                            continue
                    elif is_transient(exc):
                        transient += 1
                        if transient < self.max_attempts:
                            self.sending.discard(task)
                            delay = self.client.retry_delay(
                                transient, exc.headers or None, exc.status
                            )
                            self.progress()
                            await asyncio.sleep(delay)
                            continue
                    self.fail(result, exc)
                    return
                self.pacer.observe(ticket, raw.headers, raw.status)
                observed = True
                try:
                    raw.audio_check()
                except APIResponseValidationError as exc:
                    self.fail(result, exc)
                    return
                written = await asyncio.to_thread(
                    write_complete, item.path, raw.body, overwrite=self.overwrite
                )
                if not written:  # another worker of the same job was first
                    result.status, result.reason = "skipped", "written by another worker"
                    return
                result.status, result.bytes = "done", len(raw.body)
                info = self.prices.get(item.model)
                if info is not None and raw.headers.get(ENGINE_HEADER) != "offline":
                    result.cost_usd = info.usd_cost(characters=len(item.text))
                return
            finally:
                if not observed:
                    self.pacer.observe(ticket, None, None)
                self.sending.discard(task)

    @staticmethod
    def fail(result: ItemResult, exc: APIError) -> None:
        result.status = "failed"
        result.http_status = exc.status
        result.error = exc
        note = f" (gave up after {result.attempts} attempts)" if result.attempts > 1 else ""
        result.reason = f"{exc}{note}"


_OPTIONS = ("speed", "language", "prompt", "temperature", "top_p")


def _lock_folder(out_dir: Path) -> BaseFileLock:
    """Hold ``out_dir`` for this run, or say which run holds it and what to do."""
    from filelock import FileLock, Timeout

    lock = FileLock(out_dir / LOCK_NAME, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise InvalidRequestError(
            f"Another batch is writing into {out_dir} right now; wait for it to finish "
            "(its finished files are then skipped) or choose another out_dir.",
            param="out_dir",
        ) from None
    return lock


async def run_batch(
    client: VeniceClient,
    plan: BatchPlan,
    *,
    concurrency: int = 4,
    max_attempts: int = 5,
    requests_per_second: float | None = None,
    on_progress: Callable[[BatchProgress], Any] | None = None,
    timeout: Timeout = None,
    pacer: RateLimitPacer | None = None,
    shared_folder: bool = False,
) -> BatchResult:
    """Speak every item of ``plan`` whose file is missing, ``concurrency`` requests at a time.

    ``max_attempts`` bounds the tries of an item meeting 5xx answers, timeouts or dropped
    connections (a 429 waits for the window and does not count). ``requests_per_second`` caps
    this run's own rate (for several processes sharing one key). ``on_progress`` is called with a
    :class:`BatchProgress` at the start, after each item and on each retry. Cancelling the call
    stops sending at once, waits for the requests already sent and writes their files, then
    raises :class:`asyncio.CancelledError` (cancelling it again abandons those too). A 401, 402 or
    403 answer stops the batch the same way and is raised. The client's own retries are not used
    (``retries=0``): the batch retries, so that a 429 holds every sender, not just one.

    ``pacer`` replaces this run's own :class:`RateLimitPacer` (a cluster passes one shared by all
    its workers). ``shared_folder=True`` is for many runs of one job writing into one folder at
    once (the partitions of a cluster job): the folder is not locked, and a file is created only
    if absent, so an item done by two runs is written once (the second is reported skipped).
    """
    check_run_options(
        concurrency=concurrency,
        max_attempts=max_attempts,
        requests_per_second=requests_per_second,
    )
    if on_progress is not None and not callable(on_progress):
        raise InvalidRequestError("on_progress must be callable.", param="on_progress")
    engine = _Engine(
        client,
        plan,
        concurrency=concurrency,
        max_attempts=max_attempts,
        pacer=pacer or RateLimitPacer(requests_per_second=requests_per_second),
        on_progress=on_progress,
        timeout=timeout,
        overwrite=not shared_folder,
    )
    engine.pacer.on_hold = engine.progress
    started = time.monotonic()
    await engine.prepare()
    lock = None if shared_folder else await asyncio.to_thread(_lock_folder, plan.out_dir)
    try:
        engine.skip_finished()  # by a run that held the folder until just now
        engine.progress()
        await engine.run()
        engine.progress()
    finally:
        if lock is not None:
            lock.release()
    return BatchResult(
        engine.results,
        plan.out_dir,
        time.monotonic() - started,
        engine.requests,
        engine.pacer.rate_limited,
        engine.pacer.slowdowns,
    )


async def speak_many_async(
    client: VeniceClient,
    texts: Any,
    *,
    out_dir: str | os.PathLike[str],
    voice: str = DEFAULT_VOICE,
    model: str = DEFAULT_MODEL,
    format: str = DEFAULT_FORMAT,
    names: Sequence[Any] | None = None,
    concurrency: int = 4,
    max_attempts: int = 5,
    requests_per_second: float | None = None,
    on_progress: Callable[[BatchProgress], Any] | None = None,
    **options: Any,
) -> BatchResult:
    """:func:`plan_batch` then :func:`run_batch` with ``client``: the async ``speak_many``."""
    plan = plan_batch(
        texts, out_dir=out_dir, voice=voice, model=model, format=format, names=names, **options
    )
    return await run_batch(
        client,
        plan,
        concurrency=concurrency,
        max_attempts=max_attempts,
        requests_per_second=requests_per_second,
        on_progress=on_progress,
    )
