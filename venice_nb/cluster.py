"""Batches on a Dask cluster: what ``speak_many`` and ``transcribe_many`` do with ``scheduler=``
(a ``distributed.Client`` or an address) or a Dask collection. Dask schedules and redoes the work
of a lost worker; this module only adds the one thing Dask cannot know: the service's rate limit.

**One limiter for the whole cluster.** :class:`ClusterLimiter` is a Dask actor that holds the
same :class:`~venice_nb.core.ratelimit.RateLimitPacer` a single machine uses. Every request of
every worker takes its permit from it and reports its answer to it, so the estimate of what is
left in the window counts the requests in flight on all workers, and the headers and any 429
(with its ``Retry-After``) hold every worker. An actor rather than a ``distributed.Variable`` plus
``Semaphore``: pacing needs one count, updated by every answer, of the requests in flight across
the cluster; a Variable is read and written without a lock (two workers would both take the last
permit) and a Semaphore caps concurrency, not a rate per window.

**A lost worker.** Dask reruns the tasks of a worker that dies. Each task skips the items whose
file exists and creates files only if absent (:func:`~venice_nb.core.files.atomic_create`), so an
item is never written twice nor left half written. Dask does not recreate an actor whose worker
died (dask/distributed#4287), so the driver keeps a spare limiter on another worker, watches the
limiter and, when it is lost, publishes the spare in a ``distributed.Variable`` (held by the
scheduler) and starts a new spare; workers that find the old one gone wait for the new one. The limiter hands back the permits of requests whose worker
left, so a death does not shrink the window for the rest of the job.

**Secrets stay home.** Workers make their clients from their own environment
(``VENICE_API_KEY``, ``VENICE_BASE_URL``): the key never travels in the task graph.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .core.batch import BatchPlan, ItemResult, run_batch
from .core.errors import InvalidRequestError
from .core.ratelimit import RateLimitPacer, RateLimitState

__all__ = [
    "ClusterLimiter",
    "ClusterRun",
    "check_scheduler",
    "connect",
    "gather_collection",
    "is_dask_collection",
    "run_on_cluster",
    "speak_part",
    "worker_pacer",
]

GATHER_SECONDS = 5.0
"""How long the driver waits to read a part that said it was done (a lost result waits for
its rerun instead)."""
POLL_SECONDS = 0.25
"""How often the driver asks the limiter for progress (and checks that it is alive)."""
LOOK_SECONDS = 0.1
"""How often a worker without a limiter looks for the one the driver publishes."""
FALLBACK_AFTER = 5.0
"""Seconds a worker waits for a lost limiter's successor before pacing itself by the headers."""
INSTALL_HINT = "install the Dask extra: pip install 'venice-nb[dask]'"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InvalidRequestError(
            f"Running on a cluster needs dask.distributed; {INSTALL_HINT}.", param="scheduler"
        ) from None
    return distributed


def is_dask_collection(obj: Any) -> bool:
    """A Dask DataFrame, Series or Bag (without importing Dask when it is not loaded)."""
    if type(obj).__module__.split(".")[0] != "dask":
        return False
    import dask

    return bool(dask.is_dask_collection(obj))


def gather_collection(obj: Any) -> Any:
    """The rows of a Dask collection, on the driver: every row is checked and named there, before
    any request, with one view of all names (partitions' indexes would collide)."""
    return obj.compute()


def check_scheduler(scheduler: Any) -> None:
    """Refuse a ``scheduler=`` that is neither a Client nor an address, before any work starts
    (and say how to get Dask when it is missing)."""
    if scheduler is None:
        return
    distributed = _distributed()
    if isinstance(scheduler, distributed.Client):
        return
    if isinstance(scheduler, str) and scheduler.strip():
        return
    raise InvalidRequestError(
        f"scheduler must be a distributed.Client or an address such as 'tcp://host:8786', "
        f"got {type(scheduler).__name__}.",
        param="scheduler",
    )


def connect(scheduler: Any) -> tuple[Any, bool]:
    """The ``distributed.Client`` for ``scheduler`` and whether this call made it (to close it).

    ``scheduler`` is a Client, a scheduler address (``tcp://host:8786``), or None for the client
    already made in this process.
    """
    distributed = _distributed()
    if isinstance(scheduler, distributed.Client):
        return scheduler, False
    if isinstance(scheduler, str) and scheduler.strip():
        try:
            return distributed.Client(scheduler.strip(), timeout="20s"), True
        except OSError as exc:
            raise InvalidRequestError(
                f"Cannot reach the Dask scheduler at {scheduler!r} ({exc}); check the address "
                "(such as tcp://10.0.0.5:8786) and that the scheduler runs.",
                param="scheduler",
            ) from None
    if scheduler is None:
        try:
            return distributed.get_client(), False
        except ValueError:
            raise InvalidRequestError(
                "A Dask collection was given but no Dask client exists; pass scheduler= (a "
                "distributed.Client or the scheduler's address) or create a Client first.",
                param="scheduler",
            ) from None
    raise InvalidRequestError(
        f"scheduler must be a distributed.Client or an address such as 'tcp://host:8786', "
        f"got {type(scheduler).__name__}.",
        param="scheduler",
    )


# -- the limiter (a Dask actor) -------------------------------------------------------------------
class ClusterLimiter:
    """One :class:`RateLimitPacer` for every worker of a job, and the job's progress.

    Its methods are coroutines, so Dask runs them on the hosting worker's event loop, where the
    pacer's waits live. Permits are tagged with the worker that took them.
    """

    def __init__(self, requests_per_second: float | None = None) -> None:
        self._requests_per_second = requests_per_second
        self._pacer: RateLimitPacer | None = None
        self._holders: dict[int, str] = {}
        self._finished: dict[int, str] = {}
        self.requests = 0

    def _get(self) -> RateLimitPacer:
        if self._pacer is None:  # made on the event loop that will wait on it
            self._pacer = RateLimitPacer(requests_per_second=self._requests_per_second)
        return self._pacer

    async def acquire(self, worker: str) -> int:
        ticket = await self._get().acquire()
        self._holders[ticket] = worker
        self.requests += 1
        return ticket

    async def observe(
        self, ticket: int, headers: Mapping[str, str] | None, status: int | None
    ) -> None:
        self._holders.pop(ticket, None)
        self._get().observe(ticket, headers, status)

    async def release(self, ticket: int) -> None:
        self._holders.pop(ticket, None)
        self._get().release(ticket)
        self.requests -= 1

    async def finish(self, statuses: dict[int, str]) -> None:
        """Record items finished (index in the job -> status) for the driver's progress bar."""
        self._finished.update(statuses)

    async def progress(
        self, live_workers: Sequence[str] | None = None
    ) -> tuple[dict[int, str], RateLimitState, int]:
        """Items finished, the pacer's state and requests sent; first frees the permits of
        requests whose worker is gone (their answers will never be reported)."""
        pacer = self._get()
        if live_workers is not None:
            live = set(live_workers)
            for ticket, worker in list(self._holders.items()):
                if worker not in live:
                    del self._holders[ticket]
                    pacer.observe(ticket, None, None)
        return dict(self._finished), pacer.state, self.requests


def _actor_lost(exc: BaseException) -> bool:
    """The limiter's worker died (or cannot be reached): wait for the driver's new one."""
    return isinstance(exc, OSError | TimeoutError) or (
        isinstance(exc, RuntimeError) and "lost" in str(exc).lower()
    )


class RemotePacer(RateLimitPacer):
    """The engine's pacer on a worker: every permit comes from the job's :class:`ClusterLimiter`.

    ``observe`` and ``release`` are sent without waiting; the next ``acquire`` first waits for
    them to arrive, so a 429 this worker saw holds its own next request too. When the limiter is
    lost, ``acquire`` waits for the driver to publish its successor (the spare, in well under a
    second); only if none comes within :data:`FALLBACK_AFTER` seconds do permits come from a pacer
    of this task's own, paced by the headers alone, until one does.
    """

    def __init__(self, variable: Any, worker: str) -> None:
        super().__init__()
        self._variable = variable
        self._worker = worker
        self._actor: Any = None
        self._lost_key: str | None = None
        self._lost_since = time.monotonic()  # no limiter yet
        self._next_look = 0.0
        self._pending: list[Any] = []
        self._local: RateLimitPacer | None = None

    def look(self) -> None:
        """Take the limiter the driver published, if it is running (blocking: a thread's job)."""
        future = self._variable.get(timeout=30)
        if future.key == self._lost_key or future.status != "finished":
            return
        try:
            self._actor = future.result(timeout=30)
        except Exception as exc:
            if not _actor_lost(exc):
                raise
            self._lost_key = future.key

    async def _limiter(self) -> Any:
        if self._actor is None and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + LOOK_SECONDS
            await asyncio.to_thread(self.look)
        return self._actor

    def _lose(self, actor: Any) -> None:
        if self._actor is actor:
            self._actor, self._lost_key = None, actor.key
            self._lost_since = time.monotonic()

    def _send(self, method: str, *args: Any) -> None:
        if self._actor is not None:
            self._pending.append((self._actor, getattr(self._actor, method)(*args)))

    async def _flush(self) -> None:
        sent, self._pending = self._pending, []
        for actor, future in sent:
            try:
                await asyncio.to_thread(future.result)
            except Exception as exc:  # the limiter was lost: its successor knows nothing of it
                if not _actor_lost(exc):
                    raise
                self._lose(actor)

    async def acquire(self) -> int:
        await self._flush()
        while True:
            actor = await self._limiter()
            if actor is not None:
                try:
                    ticket: int = await asyncio.to_thread(actor.acquire(self._worker).result)
                    return ticket
                except Exception as exc:
                    if not _actor_lost(exc):
                        raise
                    self._lose(actor)
                    continue
            if time.monotonic() - self._lost_since >= FALLBACK_AFTER:
                break
            await asyncio.sleep(LOOK_SECONDS)  # the driver's spare limiter takes over soon
        if self._local is None:
            self._local = RateLimitPacer()
        return -1 - await self._local.acquire()  # negative: a permit of the local pacer

    def release(self, ticket: int) -> None:
        if ticket < 0:
            assert self._local is not None
            self._local.release(-1 - ticket)
        else:
            self._send("release", ticket)

    def observe(self, ticket: int, headers: Mapping[str, str] | None, status: int | None) -> None:
        if status == 429:
            self.rate_limited += 1
        if ticket < 0:
            assert self._local is not None
            self._local.observe(-1 - ticket, headers, status)
        else:
            self._send("observe", ticket, dict(headers) if headers else None, status)

    def finish(self, statuses: dict[int, str]) -> None:
        self._send("finish", statuses)

    async def close(self) -> None:
        await self._flush()


def worker_pacer(variable_name: str) -> RemotePacer:
    """In a Dask task: a pacer that takes its permits from the job's limiter."""
    distributed = _distributed()
    worker = distributed.get_worker()
    pacer = RemotePacer(distributed.Variable(variable_name, client=worker.client), worker.address)
    pacer.look()
    return pacer


# -- tasks ---------------------------------------------------------------------------------------
def speak_part(
    variable_name: str,
    items: Sequence[Any],
    out_dir: Path,
    fmt: str,
    options: dict[str, Any],
    concurrency: int,
    max_attempts: int,
) -> tuple[list[ItemResult], int]:
    """A Dask task: speak ``items`` (planned on the driver) with the job's shared limiter."""
    pacer = worker_pacer(variable_name)
    plan = BatchPlan(
        tuple(replace(item, index=i) for i, item in enumerate(items)), out_dir, fmt, options
    )

    def on_progress(snapshot: Any) -> None:
        last = snapshot.last
        if last is not None and last.status != "pending":
            pacer.finish({items[last.index].index: last.status})

    async def run() -> Any:
        from .session import new_client

        try:
            async with new_client() as client:
                return await run_batch(
                    client,
                    plan,
                    concurrency=concurrency,
                    max_attempts=max_attempts,
                    pacer=pacer,
                    shared_folder=True,
                    on_progress=on_progress,
                )
        finally:
            await pacer.close()

    result = asyncio.run(run())
    for item, outcome in zip(items, result.items, strict=True):
        outcome.index = item.index
        outcome.error = None  # exceptions need not unpickle on the driver; the reason says it
    return result.items, result.requests


# -- the driver ----------------------------------------------------------------------------------
@dataclass
class ClusterRun:
    """What the driver gathered: each task's outcomes, and the limiter's figures."""

    outcomes: list[Any]
    """Every item's outcome, in job order (the last run of an item's task wins)."""
    requests: int
    rate_limited: int
    slowdowns: int
    elapsed: float
    limiters: int
    """Limiters started: 1, plus one per limiter lost with its worker."""


class _Limiter:
    """The driver's handle on the job's limiter: starts it, polls it, replaces it when lost.

    A spare limiter waits on another worker, so that losing the limiter's worker costs only the
    time to notice (one poll): the spare is published at once and a new spare is started. A new
    limiter needs a free worker thread, which a busy cluster may not have for a while; the spare
    does not.
    """

    def __init__(self, client: Any, requests_per_second: float | None) -> None:
        distributed = _distributed()
        self.client = client
        self.requests_per_second = requests_per_second
        self.variable = distributed.Variable(f"venice-nb-limiter-{uuid.uuid4().hex}", client=client)
        self.started = 0
        self.finished: dict[int, str] = {}
        self.state: RateLimitState | None = None
        self._before = (0, 0, 0)  # requests, 429s, slowdowns counted by limiters since lost
        self._last_requests = 0
        self._future: Any = None
        self._actor: Any = None
        self._spare: Any = None
        self._actor = self._start().result(timeout=120)
        spare = self._start_spare()
        if spare is not None:  # before the parts take every thread
            spare.result(timeout=120)

    @property
    def name(self) -> str:
        return str(self.variable.name)

    def _submit(self, **where: Any) -> Any:
        return self.client.submit(
            ClusterLimiter, self.requests_per_second, actor=True, pure=False, priority=100, **where
        )

    def _start(self) -> Any:
        """Submit a new limiter and publish it; returns its future."""
        if self._future is not None:
            self.client.cancel([self._future])
        self._actor = None
        self._future = self._submit()
        self.variable.set(self._future)
        self.started += 1
        return self._future

    def _start_spare(self) -> Any:
        """Start a spare limiter on a worker other than the limiter's (None: no other worker)."""
        held = self.client.who_has([self._future]).get(self._future.key) or ()
        others = [w for w in self.client.scheduler_info(n_workers=-1)["workers"] if w not in held]
        self._spare = self._submit(workers=others, allow_other_workers=False) if others else None
        return self._spare

    def _promote_spare(self) -> bool:
        """Publish the spare as the limiter, if it runs; then start a new spare."""
        spare, self._spare = self._spare, None
        if spare is None or spare.status != "finished":
            if spare is not None:
                self.client.cancel([spare])
            return False
        try:
            actor = spare.result(timeout=5)
            actor.progress(None).result(timeout=5)  # alive, not on the worker just lost
        except Exception as exc:
            if not _actor_lost(exc):
                raise
            self.client.cancel([spare])
            return False
        self.client.cancel([self._future])
        self._future, self._actor = spare, actor
        self.variable.set(spare)
        self.started += 1
        self._start_spare()
        return True

    def poll(self) -> None:
        if self._actor is None:  # a replacement on its way
            if self._future.status == "finished":
                self._actor = self._future.result()
                self._start_spare()
            elif self._future.status in ("error", "lost", "cancelled"):
                self._start()
            return
        if self._spare is not None and self._spare.status in ("error", "lost", "cancelled"):
            self._start_spare()
        live = list(self.client.scheduler_info(n_workers=-1)["workers"])
        try:
            finished, state, requests = self._actor.progress(live).result(timeout=30)
        except Exception as exc:
            if not _actor_lost(exc):
                raise
            self._before = self._totals()
            self._last_requests, self.state = 0, None
            if not self._promote_spare():
                self._start()
            return
        self.finished.update(finished)
        self.state = state
        self._last_requests = requests

    def _totals(self) -> tuple[int, int, int]:
        requests, limited, slowdowns = self._before
        if self.state is not None:
            limited += self.state.rate_limited
            slowdowns += self.state.slowdowns
        return requests + self._last_requests, limited, slowdowns

    @property
    def requests(self) -> int:
        """Requests sent with the limiters' permits (not those of workers pacing themselves)."""
        return self._totals()[0]

    def totals(self) -> tuple[int, int]:
        """429 answers and slowdowns, over every limiter of the job."""
        _, limited, slowdowns = self._totals()
        return limited, slowdowns

    def close(self) -> None:
        try:
            self.variable.delete()
        finally:
            self.client.cancel([f for f in (self._future, self._spare) if f is not None])


def part_size(total: int, client: Any) -> int:
    """Items per task: a few tasks per worker thread, so a lost worker costs little and the
    others pick up its share; at most 100 items."""
    threads = sum(client.nthreads().values()) or 1
    return max(1, min(100, math.ceil(total / (4 * threads))))


def run_on_cluster(
    scheduler: Any,
    items: Sequence[Any],
    task: Callable[..., tuple[list[Any], int]],
    task_args: Callable[[Sequence[Any]], tuple[Any, ...]],
    *,
    requests_per_second: float | None,
    on_progress: Callable[[dict[int, str], RateLimitState | None], None],
) -> ClusterRun:
    """Cut ``items`` into parts and run ``task(limiter_name, *task_args(part))`` for each on the
    cluster, reporting progress (item index -> status) until every part is back.

    Ctrl-C cancels the tasks not finished (files already written stay; a rerun skips them).
    """
    client, owned = connect(scheduler)
    started = time.monotonic()
    limiter = _Limiter(client, requests_per_second)
    size = part_size(len(items), client)
    pending: set[Any] = set()
    try:
        pending = {
            client.submit(task, limiter.name, *task_args(items[i : i + size]), pure=False)
            for i in range(0, len(items), size)
        }
        outcomes: list[Any] = []
        while pending:
            for future in [f for f in pending if f.done()]:
                try:
                    done, _ = future.result(timeout=GATHER_SECONDS)
                except TimeoutError:
                    # Finished, then lost with its worker before we read it: the scheduler
                    # runs it again (the client still wants it); gather it on a later pass,
                    # polling the limiter meanwhile (a wait here hung a run for good in CI).
                    continue
                outcomes.extend(done)
                limiter.finished.update({r.index: r.status for r in done})
                pending.discard(future)
                future.release()  # gathered: a worker lost later need not recompute it
            limiter.poll()
            on_progress(limiter.finished, limiter.state)
            if pending:
                time.sleep(POLL_SECONDS)
    except BaseException:
        client.cancel(list(pending))
        raise
    finally:
        try:
            limiter.close()
        finally:
            if owned:
                client.close()
    rate_limited, slowdowns = limiter.totals()
    return ClusterRun(
        outcomes=sorted(outcomes, key=lambda r: r.index),
        requests=limiter.requests,
        rate_limited=rate_limited,
        slowdowns=slowdowns,
        elapsed=time.monotonic() - started,
        limiters=limiter.started,
    )
