"""``venice_nb.transcribe_many``: many recordings to transcript files, the listening twin of
``speak_many``. One file per source in ``out_dir`` (json with words, or txt / srt / vtt), written
atomically and skipped when present, so a rerun does only what is missing; a progress bar; a
summary table (path, status, duration, words, reason) that can go to Parquet.

Every request goes through a :class:`~venice_nb.core.paced.PacedClient`, so the service's
rate-limit headers pace the batch and a 429 holds every sender; on a Dask cluster
(``scheduler=``) the pacer is the cluster's one limiter (:mod:`venice_nb.cluster`).
"""

from __future__ import annotations

import asyncio
import glob
import html
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .batch import _Bar, _cluster_progress, _pandas, _run_in_thread
from .core.audio import DEFAULT_TRANSCRIBE_MODEL
from .core.batch import check_run_options, is_complete, sanitize_name
from .core.batch.plan import write_complete
from .core.batch.results import ByStatus
from .core.errors import APIError, InvalidRequestError, is_fatal
from .core.paced import PacedClient
from .core.ratelimit import RateLimitPacer, RateLimitState
from .core.types import AudioTranscriptionResponse

__all__ = ["FORMATS", "TranscriptItem", "TranscriptOutcome", "TranscriptReport", "transcribe_many"]

FORMATS = ("json", "txt", "srt", "vtt")
MEDIA_SUFFIXES = frozenset(
    {".wav", ".mp3", ".flac", ".m4a", ".mp4", ".aac", ".ogg", ".opus", ".webm", ".mkv", ".mov"}
)
"""Files taken from a folder or a glob: audio, and video whose sound the long-form layer reads."""
_COLUMNS = ["path", "status", "duration", "words", "reason", "out", "attempts"]


@dataclass(frozen=True)
class TranscriptItem:
    """One source and the transcript file it gets."""

    index: int
    source: Path
    out: Path


@dataclass
class TranscriptOutcome:
    """What happened to one source."""

    index: int
    source: Path
    out: Path
    status: str = "pending"
    """done, skipped, failed, or pending (not sent)."""
    duration: float | None = None
    words: int | None = None
    reason: str | None = None
    attempts: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "path": str(self.source),
            "status": "not sent" if self.status == "pending" else self.status,
            "duration": self.duration,
            "words": self.words,
            "reason": self.reason,
            "out": str(self.out),
            "attempts": self.attempts,
        }


@dataclass
class TranscriptReport(ByStatus[TranscriptOutcome]):
    """Every source's outcome in input order, with a summary table (``to_frame``)."""

    items: list[TranscriptOutcome]
    out_dir: Path
    elapsed: float
    requests: int
    """Transcription requests sent (retries included; the long-form layer may send several)."""
    rate_limited: int
    """429 answers met."""
    extra: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        return [r.record() for r in self.items]

    def to_frame(self) -> Any:
        """One row per source: path, status, duration, words, reason, out, attempts (a pandas
        DataFrame; a list of dicts without pandas). ``.to_parquet(...)`` needs pyarrow."""
        pandas = _pandas()
        records = self.records()
        return records if pandas is None else pandas.DataFrame(records, columns=_COLUMNS)

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_frame` to a Parquet file (pandas and pyarrow needed)."""
        frame = self.to_frame()
        if isinstance(frame, list):
            raise InvalidRequestError("to_parquet needs pandas: pip install pandas pyarrow.")
        frame.to_parquet(path, index=False)

    def __str__(self) -> str:
        c = self.counts
        parts = [f"{c['done']} done", f"{c['skipped']} skipped", f"{c['failed']} failed"]
        if c["pending"]:
            parts.append(f"{c['pending']} not sent")
        return f"{len(self.items)} sources: {', '.join(parts)} ({self.elapsed:.1f} s)"

    def __repr__(self) -> str:
        lines = [str(self)]
        lines += [f"  {r.source}: {r.reason}" for r in self.failed]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(str(r.source))}</td><td>{html.escape(r.reason or '')}</td></tr>"
            for r in self.failed
        )
        table = f"<table><tr><th>failed</th><th>reason</th></tr>{rows}</table>" if rows else ""
        return (
            f"<div><p>{html.escape(str(self))} in {html.escape(str(self.out_dir))}</p>{table}</div>"
        )


# -- planning ------------------------------------------------------------------------------------
def _paths(sources: Any) -> list[Path]:
    """The source files: a list of paths, a glob, a folder, a pandas Series or a DataFrame with
    a ``path`` column."""
    if isinstance(sources, str | os.PathLike):
        text = os.fspath(sources)
        folder = Path(text).expanduser()
        if folder.is_dir():
            found = sorted(
                p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
            )
            if not found:
                raise InvalidRequestError(
                    f"The folder {text!r} holds no audio or video files "
                    f"({', '.join(sorted(MEDIA_SUFFIXES))}).",
                    param="sources",
                )
            return found
        if glob.has_magic(text) and not folder.is_file():  # a file may have [ ] in its name
            found = sorted(
                Path(p) for p in glob.glob(os.path.expanduser(text)) if Path(p).is_file()
            )
            if not found:
                raise InvalidRequestError(
                    f"No file matches {text!r}; check the pattern.", param="sources"
                )
            return found
        return [folder]
    if type(sources).__name__ == "DataFrame":
        if "path" not in sources.columns:
            raise InvalidRequestError(
                "A DataFrame of sources needs a 'path' column (one file per row).",
                param="sources",
            )
        sources = list(sources["path"])
    elif type(sources).__name__ == "Series":
        sources = list(sources)
    if not isinstance(sources, Sequence) or isinstance(sources, bytes):
        raise InvalidRequestError(
            "sources must be a list of paths, a glob such as 'calls/*.mp3', a folder, a pandas "
            f"Series or a DataFrame with a 'path' column; got {type(sources).__name__}.",
            param="sources",
        )
    paths = []
    for n, value in enumerate(sources, start=1):
        if not isinstance(value, str | os.PathLike) or not os.fspath(value).strip():
            raise InvalidRequestError(
                f"Source {n} is {value!r}, not the path of a file.", param="sources"
            )
        paths.append(Path(value).expanduser())
    return paths


def plan_transcripts(
    sources: Any, *, out_dir: str | os.PathLike[str], format: str
) -> list[TranscriptItem]:
    """Check the sources and give each its transcript file ``out_dir/<stem>.<format>``, before
    any request: a missing file, an unknown format or two sources with one name are refused."""
    if format not in FORMATS:
        raise InvalidRequestError(
            f"Unknown format {format!r}; use one of {', '.join(FORMATS)}.", param="format"
        )
    if not isinstance(out_dir, str | os.PathLike) or not os.fspath(out_dir).strip():
        raise InvalidRequestError(
            "out_dir must be the path of a folder for the transcripts.", param="out_dir"
        )
    folder = Path(out_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InvalidRequestError(
            f"out_dir {str(folder)!r} is a file; give a folder (it is created if missing).",
            param="out_dir",
        )
    paths = _paths(sources)
    if not paths:
        raise InvalidRequestError("There are no sources; give at least one file.", param="sources")
    items: list[TranscriptItem] = []
    taken: dict[str, Path] = {}
    for index, path in enumerate(paths):
        if not path.is_file():
            raise InvalidRequestError(
                f"Source {str(path)!r} is not a file (missing, or a folder); fix the path.",
                param="sources",
            )
        stem = sanitize_name(path.stem) or f"{index + 1:04d}"
        key = stem.casefold()
        if key in taken:
            raise InvalidRequestError(
                f"{str(taken[key])!r} and {str(path)!r} would both be written to {stem}.{format}; "
                "rename one (transcripts are named after their source).",
                param="sources",
            )
        taken[key] = path
        items.append(TranscriptItem(index, path, folder / f"{stem}.{format}"))
    return items


# -- one source ----------------------------------------------------------------------------------
async def _transcribe_source(
    client: Any, path: Path, *, model: str, language: str | None
) -> AudioTranscriptionResponse:
    """The one call that transcribes one source: a file that fits one request goes as it is;
    long audio and video through the long-form layer (pieces, cached, merged)."""
    from .longform import transcribe_file

    return await transcribe_file(client, path, model=model, language=language)


def render(result: AudioTranscriptionResponse, format: str) -> bytes:
    """The transcript file's bytes in ``format`` (json with words, txt, srt or vtt)."""
    if format == "json":
        text = result.model_dump_json(indent=2)
    elif format == "txt":
        text = result.text.strip() + "\n"
    else:
        from .core.subtitles import to_srt, to_vtt

        text = (to_srt if format == "srt" else to_vtt)(result)
    return text.encode("utf-8")


async def transcribe_items(
    client: Any,
    items: Sequence[TranscriptItem],
    *,
    model: str,
    language: str | None,
    format: str,
    concurrency: int,
    shared_folder: bool = False,
    on_item: Callable[[TranscriptOutcome], None] | None = None,
) -> list[TranscriptOutcome]:
    """Transcribe the items whose file is missing, ``concurrency`` at a time; a 401/402/403
    stops the batch and is raised, any other error fails only its item."""
    outcomes = [TranscriptOutcome(i.index, i.source, i.out) for i in items]
    queue = list(zip(items, outcomes, strict=True))
    queue.reverse()
    fatal: list[BaseException] = []

    async def worker() -> None:
        while queue and not fatal:
            item, outcome = queue.pop()
            if is_complete(item.out):
                outcome.status, outcome.reason = "skipped", "file already exists"
            else:
                outcome.attempts += 1
                try:
                    result = await _transcribe_source(
                        client, item.source, model=model, language=language
                    )
                except (APIError, OSError) as exc:  # a refused file, a bad answer
                    if isinstance(exc, APIError) and is_fatal(exc):
                        fatal.append(exc)
                        return
                    outcome.status, outcome.reason = "failed", str(exc)
                else:
                    written = await asyncio.to_thread(
                        write_complete,
                        item.out,
                        render(result, format),
                        overwrite=not shared_folder,
                    )
                    outcome.duration, outcome.words = result.duration, len(result.words)
                    if written:
                        outcome.status = "done"
                    else:
                        outcome.status, outcome.reason = "skipped", "written by another worker"
            if on_item is not None:
                on_item(outcome)

    if items:
        await asyncio.to_thread(items[0].out.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(items)))))
    if fatal:
        raise fatal[0]
    return outcomes


def _client(pacer: RateLimitPacer, max_attempts: int) -> PacedClient:
    from .session import get_backend

    backend = get_backend()
    return PacedClient(
        api_key=backend.api_key,
        base_url=backend.base_url,
        max_retries=max_attempts - 1,
        pacer=pacer,
    )


def transcribe_part(
    variable_name: str,
    items: Sequence[TranscriptItem],
    model: str,
    language: str | None,
    format: str,
    concurrency: int,
    max_attempts: int,
) -> tuple[list[TranscriptOutcome], int]:
    """A Dask task: transcribe ``items`` with the job's shared limiter (see venice_nb.cluster)."""
    from .cluster import worker_pacer

    pacer = worker_pacer(variable_name)

    def on_item(outcome: TranscriptOutcome) -> None:
        pacer.finish({outcome.index: outcome.status})

    async def run() -> tuple[list[TranscriptOutcome], int]:
        try:
            client = _client(pacer, max_attempts)
            async with client:
                done = await transcribe_items(
                    client,
                    items,
                    model=model,
                    language=language,
                    format=format,
                    concurrency=concurrency,
                    shared_folder=True,
                    on_item=on_item,
                )
                return done, client.requests
        finally:
            await pacer.close()

    return asyncio.run(run())


def transcribe_many(
    sources: Any,
    *,
    out_dir: str | os.PathLike[str],
    model: str = DEFAULT_TRANSCRIBE_MODEL,
    language: str | None = None,
    format: str = "json",
    concurrency: int = 4,
    max_attempts: int = 5,
    requests_per_second: float | None = None,
    scheduler: Any = None,
    progress: bool = True,
    progress_file: IO[str] | None = None,
) -> TranscriptReport:
    """Transcribe each source into ``out_dir/<stem>.<format>`` and return a summary.

    ``sources`` is a list of paths, a glob (``"calls/*.mp3"``), a folder (its audio and video
    files), a pandas Series of paths or a DataFrame with a ``path`` column; a Dask DataFrame or
    Bag, or ``scheduler=`` (a ``distributed.Client`` or an address), runs it on a Dask cluster
    with one rate limit for all workers. ``format`` is json (text, duration and word times), txt,
    srt or vtt. Files appear only once complete and are skipped when present, so a rerun does
    only what is missing. Bad input raises :class:`InvalidRequestError` before any request; a
    401/402/403 stops the batch and is raised; any other error fails only its source.
    """
    from .cluster import check_scheduler, gather_collection, is_dask_collection

    check_scheduler(scheduler)
    check_run_options(
        concurrency=concurrency, max_attempts=max_attempts, requests_per_second=requests_per_second
    )
    on_cluster = scheduler is not None or is_dask_collection(sources)
    if is_dask_collection(sources):
        sources = gather_collection(sources)
    items = plan_transcripts(sources, out_dir=out_dir, format=format)
    folder = Path(out_dir).expanduser()
    bar = _Bar(len(items), progress_file, desc="Transcribing") if progress else None
    statuses: dict[int, str] = {}
    started = time.monotonic()

    def show(finished: dict[int, str], rate: RateLimitState | None) -> None:
        if bar is not None:
            bar.show(_cluster_progress(len(items), finished, rate))

    try:
        if on_cluster:
            from .cluster import run_on_cluster

            run = run_on_cluster(
                scheduler,
                items,
                transcribe_part,
                lambda part: (list(part), model, language, format, concurrency, max_attempts),
                requests_per_second=requests_per_second,
                on_progress=show,
            )
            return TranscriptReport(
                run.outcomes, folder, run.elapsed, run.requests, run.rate_limited
            )
        pacer_box: list[RateLimitPacer] = []
        requests = [0]

        async def job() -> list[TranscriptOutcome]:
            pacer = RateLimitPacer(requests_per_second=requests_per_second)
            pacer_box.append(pacer)
            client = _client(pacer, max_attempts)
            async with client:
                try:
                    return await transcribe_items(
                        client,
                        items,
                        model=model,
                        language=language,
                        format=format,
                        concurrency=concurrency,
                        on_item=lambda o: statuses.__setitem__(o.index, o.status),
                    )
                finally:
                    requests[0] = client.requests

        outcomes = _run_in_thread(
            job, lambda note: show(dict(statuses), pacer_box[0].state if pacer_box else None)
        )
        limited = pacer_box[0].rate_limited if pacer_box else 0
        return TranscriptReport(outcomes, folder, time.monotonic() - started, requests[0], limited)
    finally:
        if bar is not None:
            bar.close()
