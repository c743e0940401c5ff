"""``venice_nb.speak_many``: many texts to audio files from a script, a notebook cell or the
command line, with a progress bar (tqdm's ``auto``: a widget in notebooks, text in terminals) and
a summary table at the end (a pandas DataFrame where pandas is installed).

It runs :func:`venice_nb.core.batch.run_batch` on an event loop of its own in a worker thread, so
it also works in a notebook, whose kernel already runs a loop, and draws the bar from the calling
thread. The client comes from :mod:`venice_nb.session`: with no key, the offline engine answers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import os
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, fields
from typing import IO, Any, TypeVar

from .core.batch import (
    DEFAULT_FORMAT,
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    BatchPlan,
    BatchProgress,
    BatchResult,
    Status,
    check_run_options,
    format_usd,
    plan_batch,
    run_batch,
)
from .core.ratelimit import RateLimitState

__all__ = ["BatchReport", "speak_many"]

T = TypeVar("T")
POLL_SECONDS = 0.1


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        return None
    return pandas


@dataclass
class BatchReport(BatchResult):
    """A :class:`~venice_nb.core.batch.BatchResult` that shows itself as a summary: counts, the
    estimated cost, and each failure with its reason."""

    def summary(self) -> Any:
        """Items, characters and estimated cost per status: a DataFrame with pandas, else a dict."""
        rows: dict[str, dict[str, Any]] = {}
        statuses: tuple[Status, ...] = ("done", "skipped", "failed", "pending")
        for status in statuses:
            items = self._with(status)
            costs = [r.cost_usd for r in items if r.cost_usd is not None]
            rows["not sent" if status == "pending" else status] = {
                "items": len(items),
                "characters": sum(len(r.text) for r in items),
                "cost_usd": sum(costs) if costs else None,
            }
        pandas = _pandas()
        if pandas is None:
            return rows
        frame = pandas.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "status"
        return frame

    def failures(self) -> Any:
        """Each failed or unsent item with its reason: a DataFrame with pandas, else dicts."""
        rows = [
            {
                "name": r.name,
                "status": "not sent" if r.status == "pending" else r.status,
                "http_status": r.http_status,
                "attempts": r.attempts,
                "reason": r.reason or "stopped before it was sent",
            }
            for r in self.items
            if r.status in ("failed", "pending")
        ]
        pandas = _pandas()
        if pandas is None:
            return rows
        columns = ["name", "status", "http_status", "attempts", "reason"]
        return pandas.DataFrame(rows, columns=columns).set_index("name")

    def to_frame(self) -> Any:
        """One row per item (name, status, reason, attempts, bytes, cost, path, voice, model)."""
        pandas = _pandas()
        records = self.records()
        return records if pandas is None else pandas.DataFrame(records).set_index("name")

    def __repr__(self) -> str:
        lines = [str(self)]
        lines += [f"  {r.name}: {r.reason}" for r in self.items if r.status == "failed"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        failed = [r for r in self.items if r.status == "failed"]
        rows = "".join(
            f"<tr><td>{html.escape(r.name)}</td><td>{r.http_status or ''}</td>"
            f"<td>{html.escape(r.reason or '')}</td></tr>"
            for r in failed
        )
        table = (
            "<table><tr><th>failed item</th><th>HTTP</th><th>reason</th></tr>" + rows + "</table>"
            if failed
            else ""
        )
        return (
            f"<div><p>{html.escape(str(self))} in {html.escape(str(self.out_dir))}</p>{table}</div>"
        )


class _Bar:
    """A tqdm.auto bar fed with :class:`BatchProgress` snapshots, redrawn only when they change."""

    def __init__(self, total: int, file: IO[str] | None, desc: str = "Speaking") -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=desc, unit="item", file=file, dynamic_ncols=True)
        self._shown: tuple[Any, ...] | None = None

    def show(self, progress: BatchProgress | None, note: str = "") -> None:
        if progress is None:
            return
        text = f"done {progress.done}, skipped {progress.skipped}, failed {progress.failed}"
        if progress.cost_usd is not None or progress.estimated_usd is not None:
            text += f", {format_usd(progress.cost_usd or 0.0)}"
            if progress.estimated_usd is not None:
                text += f" of ~{format_usd(progress.estimated_usd)}"
        waiting = progress.rate.waiting_until
        now = time.time()
        if waiting is not None and waiting > now:
            text += f", rate limit: resuming in {waiting - now:.0f} s"
        if note:
            text += f", {note}"
        state = (progress.finished, text)
        if state == self._shown:
            return
        self._shown = state
        # The text first: update() may redraw, and must not show the new count with old text.
        self._bar.set_postfix_str(text, refresh=False)
        self._bar.update(progress.finished - self._bar.n)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def _run_in_thread(make: Callable[[], Coroutine[Any, Any, T]], poll: Callable[[str], None]) -> T:
    """Run ``make()`` on a new event loop in a worker thread; call ``poll`` while waiting.

    Ctrl-C (or "interrupt kernel") cancels it, which stops sending and lets requests already sent
    finish and be written; a second Ctrl-C abandons those too. The interrupt is then re-raised.
    """
    loop = asyncio.new_event_loop()
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
    holder: list[asyncio.Task[T]] = []
    started = threading.Event()

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            task = loop.create_task(make())
            holder.append(task)
            started.set()
            outcome.set_result(loop.run_until_complete(task))
        except BaseException as exc:  # handed to the waiting thread
            outcome.set_exception(exc)
        finally:
            started.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def cancel() -> None:
        started.wait()
        if holder and not outcome.done():
            try:
                loop.call_soon_threadsafe(holder[0].cancel)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def wait(note: str) -> T:
        while True:
            try:
                return outcome.result(timeout=POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                poll(note)

    thread = threading.Thread(target=target, name="venice-nb-batch", daemon=True)
    thread.start()
    try:
        return wait("")
    except KeyboardInterrupt:
        cancel()
        try:
            wait("stopping: finishing the requests already sent (Ctrl-C again to abandon them)")
        except KeyboardInterrupt:
            cancel()
            concurrent.futures.wait([outcome], timeout=5)
        except (asyncio.CancelledError, Exception):  # the interrupt wins
            pass
        raise KeyboardInterrupt from None
    finally:
        poll("")


def speak_many(
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
    progress: bool = True,
    progress_file: IO[str] | None = None,
    speed: float | None = None,
    language: str | None = None,
    prompt: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    scheduler: Any = None,
) -> BatchReport:
    """Speak each text into its own file ``out_dir/<name>.<format>`` and return a summary.

    ``texts`` is a list (names from ``names``, else numbered from the first words), a dict (names
    from its keys), a pandas Series (names from its index), or a DataFrame or rows from
    :func:`~venice_nb.core.batch.read_batch_file` with columns ``text`` and optionally ``name``,
    ``voice``, ``model`` (``voice`` and ``model`` here are the defaults). Files appear only once
    complete, so a rerun skips what is done and sends the rest. Up to ``concurrency`` requests are
    in flight; the service's rate-limit headers pace them; a 429 or 5xx delays its item, another
    4xx fails only that item (see the report's ``failures()``). ``requests_per_second`` caps this
    call's own rate, for several processes sharing one key. Bad input raises
    :class:`~venice_nb.core.errors.InvalidRequestError` before any request; a 401/402/403 stops
    the batch and is raised; Ctrl-C stops it after the requests already sent are written.

    ``scheduler`` (a ``distributed.Client`` or a scheduler address), or ``texts`` given as a Dask
    DataFrame or Bag, runs the batch across a Dask cluster's workers with one rate limit shared
    by all (see :mod:`venice_nb.cluster`; needs ``venice-nb[dask]``). The rows are checked and
    named here first; ``out_dir`` must be a folder every worker can write.
    """
    check_run_options(
        concurrency=concurrency,
        max_attempts=max_attempts,
        requests_per_second=requests_per_second,
    )
    from .cluster import check_scheduler, gather_collection, is_dask_collection

    check_scheduler(scheduler)
    on_cluster = scheduler is not None or is_dask_collection(texts)
    if is_dask_collection(texts):
        texts = gather_collection(texts)
    plan = plan_batch(
        texts,
        out_dir=out_dir,
        voice=voice,
        model=model,
        format=format,
        names=names,
        **{
            k: v
            for k, v in {
                "speed": speed,
                "language": language,
                "prompt": prompt,
                "temperature": temperature,
                "top_p": top_p,
            }.items()
            if v is not None
        },
    )
    latest: list[BatchProgress] = []
    bar = _Bar(len(plan), progress_file) if progress else None

    def on_progress(snapshot: BatchProgress) -> None:
        latest[:] = [snapshot]

    if on_cluster:
        try:
            result = _run_on_cluster(
                scheduler, plan, concurrency, max_attempts, requests_per_second, bar
            )
        finally:
            if bar is not None:
                bar.close()
        return BatchReport(*(getattr(result, f.name) for f in fields(result)))

    def poll(note: str) -> None:
        if bar is not None and latest:
            bar.show(latest[0], note)

    async def job() -> BatchResult:
        return await _run(plan, concurrency, max_attempts, requests_per_second, on_progress)

    try:
        result = _run_in_thread(job, poll)
    finally:
        if bar is not None:
            bar.close()
    return BatchReport(*(getattr(result, f.name) for f in fields(result)))


async def _run(
    plan: BatchPlan,
    concurrency: int,
    max_attempts: int,
    requests_per_second: float | None,
    on_progress: Callable[[BatchProgress], None],
) -> BatchResult:
    from .session import new_client

    async with new_client() as client:
        return await run_batch(
            client,
            plan,
            concurrency=concurrency,
            max_attempts=max_attempts,
            requests_per_second=requests_per_second,
            on_progress=on_progress,
        )


def _cluster_progress(
    total: int, finished: dict[int, str], rate: RateLimitState | None
) -> BatchProgress:
    """A progress snapshot from the statuses the cluster reported so far."""
    counts = {"done": 0, "skipped": 0, "failed": 0}
    for status in finished.values():
        if status in counts:
            counts[status] += 1
    return BatchProgress(
        total=total,
        done=counts["done"],
        skipped=counts["skipped"],
        failed=counts["failed"],
        in_flight=0,
        cost_usd=None,
        estimated_usd=None,
        rate=rate or RateLimitState(None, None, None, None, 0, 0),
    )


def _run_on_cluster(
    scheduler: Any,
    plan: BatchPlan,
    concurrency: int,
    max_attempts: int,
    requests_per_second: float | None,
    bar: _Bar | None,
) -> BatchResult:
    """``speak_many`` on a Dask cluster: parts of the plan as tasks, one bar over all workers."""
    from .cluster import run_on_cluster, speak_part

    def show(finished: dict[int, str], rate: RateLimitState | None) -> None:
        if bar is not None:
            bar.show(_cluster_progress(len(plan), finished, rate))

    run = run_on_cluster(
        scheduler,
        plan.items,
        speak_part,
        lambda part: (
            list(part),
            plan.out_dir,
            plan.format,
            plan.options,
            concurrency,
            max_attempts,
        ),
        requests_per_second=requests_per_second,
        on_progress=show,
    )
    return BatchResult(
        run.outcomes, plan.out_dir, run.elapsed, run.requests, run.rate_limited, run.slowdowns
    )
