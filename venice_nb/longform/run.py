"""Transcribing audio or video of any length: one request when the file fits one, else pieces
cut at quiet moments, sent in parallel under the batches' pacing and retry rules, and merged in
order with their true offsets.

The listening twin of ``stream_long_text``, shaped after faster-whisper's batched pipeline and
whisperX (cut at silence, keep each piece's offset, no overlap). Decoding, cutting and encoding
run in a worker thread one piece ahead of the senders, so the first piece leaves while the rest
of the file is still being decoded, and at most ``concurrency`` encoded pieces wait in memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import io
import os
import threading
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import PrivateAttr

from venice_nb.core.audio import DEFAULT_TRANSCRIBE_MODEL, TranscriptionRequest
from venice_nb.core.batch.engine import MAX_RATE_LIMITED
from venice_nb.core.errors import (
    APIError,
    IncompleteTranscriptionError,
    InvalidRequestError,
    RateLimitError,
    is_fatal,
    is_transient,
)
from venice_nb.core.files import MAX_UPLOAD_BYTES, TRANSCRIBE_CONTAINERS
from venice_nb.core.ratelimit import RateLimitPacer
from venice_nb.core.types import (
    AudioTranscriptionResponse,
    TranscriptionGap,
    TranscriptionSegment,
    TranscriptionTimestamps,
    TranscriptionWord,
)

from .cache import PieceCache
from .media import RATE, VIDEO_SUFFIXES, Media, open_media
from .pieces import (
    DEFAULT_BITRATE,
    DEFAULT_MAX_PIECE_SECONDS,
    DEFAULT_SEARCH_SECONDS,
    Piece,
    cut_pieces,
    encode_mp3,
)

if TYPE_CHECKING:
    from venice_nb.core.client import Timeout, VeniceClient

__all__ = ["LongProgress", "LongTranscription", "transcribe_file"]

DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_ATTEMPTS = 5


class LongTranscription(AudioTranscriptionResponse):
    """A transcript of a whole file (the service's shape: text, duration, timestamps), plus how
    it was made: ``pieces`` sent or reused, ``requests`` sent, ``cached`` pieces reused,
    ``warnings`` (a file that stopped decoding early). None of these go into its JSON."""

    _pieces: int = PrivateAttr(default=1)
    _requests: int = PrivateAttr(default=0)
    _cached: int = PrivateAttr(default=0)
    _warnings: list[str] = PrivateAttr(default_factory=list)
    _gaps: list[TranscriptionGap] = PrivateAttr(default_factory=list)
    _piece_starts: list[float] = PrivateAttr(default_factory=list)

    @property
    def pieces(self) -> int:
        return self._pieces

    @property
    def requests(self) -> int:
        return self._requests

    @property
    def cached(self) -> int:
        return self._cached

    @property
    def warnings(self) -> list[str]:
        return list(self._warnings)

    @property
    def piece_starts(self) -> list[float]:
        """Where each piece began, in seconds (the cuts, and 0.0)."""
        return list(self._piece_starts)

    @property
    def gaps(self) -> list[TranscriptionGap]:
        """Time ranges missing from the transcript and why (empty unless it is partial)."""
        return list(self._gaps)


@dataclass(frozen=True)
class LongProgress:
    """Where a transcription stands: pieces and seconds of audio done (transcribed, reused from
    the cache, or failed) out of the total, once known (the header's duration until decoding
    has reached the end)."""

    pieces_done: int
    pieces_total: int | None
    seconds_done: float
    seconds_total: float | None
    cached: int
    failed: int
    requests: int
    decoded_seconds: float


def _tiny_wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"\0\0" * (RATE // 10))
    return out.getvalue()


def _fits_one_request(file: Any, max_piece_seconds: float, track: int | None) -> bool:
    """A plain audio file under the upload limit and the piece length goes as it is."""
    if track is not None or not isinstance(file, str | os.PathLike | bytes | bytearray):
        return False
    if isinstance(file, str | os.PathLike):
        path = Path(file).expanduser()
        if path.suffix.lower() in VIDEO_SUFFIXES or not path.is_file():
            return False
        size = path.stat().st_size
    else:
        size = len(file)
    if size > MAX_UPLOAD_BYTES or size == 0:
        return False
    from venice_nb.core.containers import sniff_format

    if isinstance(file, bytes | bytearray):
        head = bytes(file[: 64 * 1024])
    else:
        with Path(file).expanduser().open("rb") as fh:
            head = fh.read(64 * 1024)
    fmt = sniff_format(head)
    if fmt is None or (fmt not in TRANSCRIBE_CONTAINERS and fmt != "ogg"):
        return False
    try:
        with open_media(file) as media:
            if media.has_video:
                return False
            seconds = media.header_seconds
            if seconds is None:  # no duration in the header: count (at most one piece's worth)
                limit = int(max_piece_seconds * RATE) + 1
                for _ in media.samples():
                    if media.decoded_samples > limit:
                        break
                seconds = media.decoded_seconds
            return seconds <= max_piece_seconds
    except InvalidRequestError:
        return False


@dataclass
class _Outcome:
    piece: Piece
    response: AudioTranscriptionResponse | None = None
    error: APIError | None = None
    cached: bool = False


@dataclass
class _Prepared:
    index: int
    start: int
    count: int
    lead: int
    key: str | None
    body: bytes | None
    cached: AudioTranscriptionResponse | None
    silent: bool

    @property
    def offset(self) -> float:
        """Where the audio sent for this piece starts (after its quiet lead)."""
        return (self.start + self.lead) / RATE

    @property
    def end(self) -> float:
        return (self.start + self.count) / RATE


@dataclass
class _Run:
    client: VeniceClient
    model: str
    language: str | None
    timestamps: bool
    concurrency: int
    max_attempts: int
    pacer: RateLimitPacer
    cache: PieceCache | None
    bitrate: int
    timeout: Timeout
    on_progress: Callable[[LongProgress], Any] | None
    media: Media
    done: dict[int, tuple[_Prepared, AudioTranscriptionResponse | None, APIError | None]] = field(
        default_factory=dict
    )
    pieces_total: int | None = None
    seconds_done: float = 0.0
    cached: int = 0
    failed: int = 0
    requests: int = 0
    decoding: threading.Lock = field(default_factory=threading.Lock)
    preparer: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(1, "venice-nb-longform")
    )
    """One thread decodes and encodes, always the same: with the default executor's changing
    threads, each kept a malloc arena of freed piece buffers (+1.6 GB over three hours)."""

    def progress(self) -> None:
        if self.on_progress is None:
            return
        decoded = self.media.decoded_seconds
        total = decoded if self.pieces_total is not None else self.media.header_seconds
        if total is not None and total < decoded:
            total = None
        self.on_progress(
            LongProgress(
                pieces_done=len(self.done),
                pieces_total=self.pieces_total,
                seconds_done=self.seconds_done,
                seconds_total=total,
                cached=self.cached,
                failed=self.failed,
                requests=self.requests,
                decoded_seconds=decoded,
            )
        )

    def prepare(self, piece: Piece) -> _Prepared:
        """Hash, look up and (when needed) encode one piece: runs in a worker thread."""
        silent = piece.silent
        lead = 0 if silent else piece.lead()
        sent = piece.samples[lead:]
        key = cached = body = None
        if not silent:
            if self.cache is not None:
                key = PieceCache.key(
                    hashlib.sha256(sent.tobytes()).hexdigest(),
                    model=self.model,
                    language=self.language,
                    timestamps=self.timestamps,
                    encoding=f"mp3-{RATE}-{self.bitrate}",
                )
                cached = self.cache.get(key)
            if cached is None:
                body = encode_mp3(sent, bitrate=self.bitrate)
        return _Prepared(piece.index, piece.start, piece.samples.size, lead, key, body, cached, silent)

    async def produce(
        self, pieces: Iterator[Piece], queue: asyncio.Queue[_Prepared | None]
    ) -> None:
        def step() -> _Prepared | None:
            with self.decoding:  # close() waits for a step a cancelled run left running
                piece = next(pieces, None)
                return None if piece is None else self.prepare(piece)

        count = 0
        loop = asyncio.get_running_loop()
        while True:
            prepared = await loop.run_in_executor(self.preparer, step)
            if prepared is None:
                break
            count += 1
            await queue.put(prepared)
            self.progress()
        self.pieces_total = count
        for _ in range(self.concurrency):
            await queue.put(None)

    def close(self) -> None:
        with self.decoding:
            self.media.close()
        self.preparer.shutdown(wait=False)

    async def consume(self, queue: asyncio.Queue[_Prepared | None]) -> None:
        while True:
            prepared = await queue.get()
            if prepared is None:
                return
            response: AudioTranscriptionResponse | None = None
            error: APIError | None = None
            if prepared.silent:
                response = AudioTranscriptionResponse(text="", duration=prepared.count / RATE)
            elif prepared.cached is not None:
                response = prepared.cached
                self.cached += 1
            else:
                try:
                    response = await self.send(prepared)
                except APIError as exc:
                    if is_fatal(exc):
                        raise
                    error = exc
                    self.failed += 1
                if response is not None and self.cache is not None and prepared.key:
                    await asyncio.to_thread(self.cache.put, prepared.key, response)
            prepared.body = None  # the upload is no longer needed
            self.done[prepared.index] = (prepared, response, error)
            self.seconds_done += prepared.count / RATE
            self.progress()

    async def send(self, prepared: _Prepared) -> AudioTranscriptionResponse:
        """One piece until it is heard or fails for good (the batches' rules: 429 paced, 5xx and
        lost connections retried with backoff up to ``max_attempts``, other 4xx not retried)."""
        assert prepared.body is not None
        request: TranscriptionRequest = await self.client.audio.transcription_request(
            file=prepared.body,
            model=self.model,
            language=self.language,
            timestamps=self.timestamps,
            response_format="json",
        )
        transient = limited = 0
        while True:
            ticket = await self.pacer.acquire()
            observed = False
            try:
                self.requests += 1
                self.progress()
                try:
                    raw = await self.client.request(
                        "POST",
                        "/audio/transcriptions",
                        data=request.form,
                        timeout=self.timeout,
                        retries=0,
                    )
                except APIError as exc:
                    self.pacer.observe(ticket, exc.headers or None, exc.status)
                    observed = True
                    if isinstance(exc, RateLimitError):
                        limited += 1
                        if limited < MAX_RATE_LIMITED:
                            continue
                    elif is_transient(exc):
                        transient += 1
                        if transient < self.max_attempts:
                            delay = self.client.retry_delay(
                                transient, exc.headers or None, exc.status
                            )
                            await asyncio.sleep(delay)
                            continue
                    raise
                self.pacer.observe(ticket, raw.headers, raw.status)
                observed = True
                result = request.parse(raw)
                if isinstance(result, str):  # a server that ignored response_format=json
                    return AudioTranscriptionResponse(text=result, duration=prepared.count / RATE)
                return result
            finally:
                if not observed:
                    self.pacer.observe(ticket, None, None)


def _merge(
    outcomes: list[tuple[_Prepared, AudioTranscriptionResponse | None, APIError | None]],
    duration: float,
) -> tuple[LongTranscription, list[TranscriptionGap]]:
    texts: list[str] = []
    words: list[TranscriptionWord] = []
    segments: list[TranscriptionSegment] = []
    gaps: list[TranscriptionGap] = []
    timed = False
    for prepared, response, error in outcomes:
        off, end = prepared.offset, prepared.end
        if response is None:
            off = prepared.start / RATE
            reason = str(error) if error is not None else "not transcribed"
            if gaps and abs(gaps[-1].end - off) < 1e-6 and gaps[-1].reason == reason:
                gaps[-1] = TranscriptionGap(start=gaps[-1].start, end=end, reason=reason)
            else:
                gaps.append(TranscriptionGap(start=round(off, 3), end=round(end, 3), reason=reason))
            continue
        if response.text.strip():
            texts.append(response.text.strip())
        if response.timestamps is not None:
            timed = True

        def place(t: float, off: float = off, end: float = end) -> float:
            return round(min(max(off + float(t), off), end), 3)

        words += [
            TranscriptionWord(word=w.word, start=place(w.start), end=place(w.end))
            for w in response.words
        ]
        segments += [
            TranscriptionSegment(text=s.text, start=place(s.start), end=place(s.end))
            for s in response.segments
        ]
    result = LongTranscription(
        text=" ".join(texts),
        duration=round(duration, 3),
        timestamps=TranscriptionTimestamps(word=words, segment=segments) if timed else None,
    )
    return result, gaps


async def transcribe_file(
    client: VeniceClient,
    file: str | os.PathLike[str] | bytes | IO[bytes],
    *,
    model: str = DEFAULT_TRANSCRIBE_MODEL,
    language: str | None = None,
    timestamps: bool = True,
    track: int | None = None,
    max_piece_seconds: float = DEFAULT_MAX_PIECE_SECONDS,
    search_seconds: float = DEFAULT_SEARCH_SECONDS,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    cache: bool | str | os.PathLike[str] = True,
    bitrate: int = DEFAULT_BITRATE,
    pacer: RateLimitPacer | None = None,
    on_progress: Callable[[LongProgress], Any] | None = None,
    timeout: Timeout = None,
    name: str | None = None,
) -> LongTranscription:
    """Transcribe audio or video of any size and length (wav, mp3, flac, m4a/aac, ogg/opus,
    webm, mp4, mov, mkv, ...) and return one transcript with true timestamps.

    A plain audio file under 25 MB and ``max_piece_seconds`` is one request, as it is. Anything
    else (longer, larger, video, or a chosen ``track``) is decoded with PyAV as a stream, cut
    into pieces of at most ``max_piece_seconds`` at quiet moments, each sent as 16 kHz mono mp3,
    ``concurrency`` at a time, paced by the service's rate-limit headers (or ``pacer``, shared
    with other work). Finished pieces are cached (``cache``: True for the default directory, a
    path, or False), so a rerun sends only what is missing. Pieces that keep failing do not
    lose the others: :class:`IncompleteTranscriptionError` carries the partial transcript and
    the missing time ranges. 401/402/403 stop everything and are raised.
    """
    for param, value in (("concurrency", concurrency), ("max_attempts", max_attempts)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequestError(
                f"{param} must be a whole number >= 1, got {value!r}.", param=param
            )
    for param, number in (
        ("max_piece_seconds", max_piece_seconds),
        ("search_seconds", search_seconds),
    ):
        if isinstance(number, bool) or not isinstance(number, int | float) or not number > 0:
            raise InvalidRequestError(
                f"{param} must be a number of seconds > 0, got {number!r}.", param=param
            )
    if max_piece_seconds < 1:
        raise InvalidRequestError(
            f"max_piece_seconds must be at least 1 s, got {max_piece_seconds!r}.",
            param="max_piece_seconds",
        )
    if timestamps is not None and not isinstance(timestamps, bool):
        raise InvalidRequestError("timestamps must be True or False.", param="timestamps")
    # Every check the service's own request would fail, before anything is decoded or sent.
    await client.audio.transcription_request(
        file=_tiny_wav(), model=model, language=language, timestamps=timestamps
    )
    if await asyncio.to_thread(_fits_one_request, file, max_piece_seconds, track):
        answer = await client.audio.transcribe(
            file=file, model=model, language=language, timestamps=timestamps, timeout=timeout
        )
        if isinstance(answer, str):
            answer = AudioTranscriptionResponse(text=answer)
        whole = LongTranscription.model_validate(answer.model_dump())
        whole._requests = 1
        return whole

    media = await asyncio.to_thread(open_media, file, track=track, name=name)
    try:
        run = _Run(
            client=client,
            model=model,
            language=language,
            timestamps=timestamps,
            concurrency=concurrency,
            max_attempts=max_attempts,
            pacer=pacer or RateLimitPacer(),
            cache=None if cache is False else PieceCache(None if cache is True else cache),
            bitrate=bitrate,
            timeout=timeout,
            on_progress=on_progress,
            media=media,
        )
        pieces = cut_pieces(
            media.samples(), max_piece_seconds=max_piece_seconds, search_seconds=search_seconds
        )
        queue: asyncio.Queue[_Prepared | None] = asyncio.Queue(maxsize=concurrency)
        run.progress()
        producer = asyncio.create_task(run.produce(pieces, queue))
        consumers = [asyncio.create_task(run.consume(queue)) for _ in range(concurrency)]
        tasks = [producer, *consumers]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            failed = [t for t in done if not t.cancelled() and t.exception() is not None]
            if failed:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                raise failed[0].exception()  # type: ignore[misc]
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        run.progress()
    finally:
        await asyncio.to_thread(run.close)
    outcomes = [run.done[i] for i in sorted(run.done)]
    result, gaps = _merge(outcomes, media.decoded_seconds)
    result._pieces = len(outcomes)
    result._requests = run.requests
    result._cached = run.cached
    result._gaps = gaps
    result._piece_starts = [round(p.start / RATE, 3) for p, _, _ in outcomes]
    early = media.ended_early()
    if early:
        result._warnings.append(early)
    if gaps:
        missing = sum(g.end - g.start for g in gaps)
        raise IncompleteTranscriptionError(
            f"{len(gaps)} stretch(es) of {media.name!r} ({missing:.0f} s in all) could not be "
            f"transcribed: {gaps[0].reason}. The rest is in the error's .transcript; run it "
            "again to retry only the missing pieces.",
            transcript=result,
            missing=gaps,
        )
    return result
