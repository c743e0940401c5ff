"""Long text as one audio file: the machinery behind ``client.audio.stream_long_text``.

Long input is cut into sentence-aligned segments that each fit a model's budget; every segment is
synthesised by its own request, a few at once, and the whole per-segment files are joined in
input order into ONE valid file of the requested format (mp3, wav, pcm, flac, opus, aac). The
splitting lives in :mod:`venice_nb.core.sentences` and the joining in
:mod:`venice_nb.core.containers` (one module per container format); this module runs the
segment requests and re-exports both's public names.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .audioinfo import pcm_rate
from .containers import (
    JOINABLE_FORMATS,
    AudioJoinError,
    SegmentJoiner,
    TimedJoin,
    finalize,
    join_segments,
    join_with_pauses,
    silence,
    sniff_format,
)
from .errors import APIResponseValidationError, InvalidRequestError
from .sentences import DEFAULT_MAX_WORDS, QWEN3_MAX_WORDS, max_words_for_model, split_text

if TYPE_CHECKING:
    from .client import VeniceClient

__all__ = [
    "DEFAULT_MAX_WORDS",
    "JOINABLE_FORMATS",
    "QWEN3_MAX_WORDS",
    "AudioJoinError",
    "SegmentJoiner",
    "SegmentProgress",
    "TimedJoin",
    "check_long_text_options",
    "finalize",
    "join_segments",
    "join_with_pauses",
    "max_words_for_model",
    "silence",
    "sniff_format",
    "speak_segments",
    "split_text",
]


@dataclass(frozen=True)
class SegmentProgress:
    """Passed to ``on_segment_complete`` each time one segment's audio has arrived."""

    index: int
    total: int
    completed: int
    text: str
    nbytes: int


def check_long_text_options(
    max_concurrency: Any, max_words_per_segment: Any, on_segment_complete: Any
) -> None:
    """Raise :class:`InvalidRequestError` for options ``stream_long_text`` cannot use."""
    if (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise InvalidRequestError(
            "max_concurrency must be a whole number >= 1.", param="max_concurrency"
        )
    if max_words_per_segment is not None and (
        isinstance(max_words_per_segment, bool)
        or not isinstance(max_words_per_segment, int)
        or max_words_per_segment < 1
    ):
        raise InvalidRequestError(
            "max_words_per_segment must be a whole number >= 1.", param="max_words_per_segment"
        )
    if on_segment_complete is not None and not callable(on_segment_complete):
        raise InvalidRequestError(
            "on_segment_complete must be callable.", param="on_segment_complete"
        )


async def speak_segments(
    client: VeniceClient,
    body: dict[str, Any],
    *,
    max_words: int,
    max_chars: int,
    max_concurrency: int,
    on_segment_complete: Callable[[SegmentProgress], Any] | None = None,
    timeout: float | None = None,
) -> AsyncGenerator[bytes, None]:
    """Speak ``body["input"]`` (a checked speech request body naming its format) segment by
    segment: up to ``max_concurrency`` requests at once within a window ahead of the next
    segment in order, yielding the joined audio as soon as that segment is ready. The first
    failure cancels the rest and is raised; closing the generator cancels what is in flight."""
    fmt: str = body["response_format"]
    model: str = body["model"]
    parts = split_text(body["input"], max_words=max_words, max_chars=max_chars)
    total = len(parts)
    joiner = SegmentJoiner(fmt, sample_rate=pcm_rate(model) if fmt == "pcm" else None)
    semaphore = asyncio.Semaphore(max_concurrency)
    window = max(2 * max_concurrency, max_concurrency + 2)
    completed = 0
    failed = False

    async def fetch(index: int) -> bytes:
        nonlocal completed, failed
        async with semaphore:
            # A waiting segment is woken by the failed one's release before the generator
            # can cancel it: it must not send a request for a call that already failed.
            if failed:
                raise asyncio.CancelledError
            try:
                raw = await client.request(
                    "POST",
                    "/audio/speech",
                    json={**body, "input": parts[index]},
                    timeout=timeout,
                )
                raw.audio_check()
            except BaseException:
                failed = True
                raise
        completed += 1
        if on_segment_complete is not None:
            result = on_segment_complete(
                SegmentProgress(index, total, completed, parts[index], len(raw.body))
            )
            if inspect.isawaitable(result):
                await result
        return raw.body

    tasks: dict[int, asyncio.Task[bytes]] = {}
    try:
        started = 0
        for index in range(total):
            while started < total and started < index + window:
                tasks[started] = asyncio.ensure_future(fetch(started))
                started += 1
            data = await tasks.pop(index)
            try:
                out = joiner.feed(data, last=index == total - 1)
            except AudioJoinError as exc:
                raise APIResponseValidationError(
                    f"Segment {index + 1} of {total} is not {fmt} audio that can be joined "
                    f"({exc}).",
                    status=200,
                ) from exc
            if out:
                yield out
        tail = joiner.finish()
        if tail:
            yield tail
    finally:
        for task in tasks.values():
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks.values(), return_exceptions=True)
