"""Reading any audio or video file as a stream of 16 kHz mono samples, with PyAV (FFmpeg's
libraries, no ``ffmpeg`` binary): the first step of transcribing long audio.

The file is never held whole: packets are demuxed and decoded one at a time and resampled to
16-bit mono at 16 kHz, the rate speech recognisers work at. Offsets downstream are counted in
these samples, so they are exact. What the header claims (duration, sample rate) is only used
for the progress bar and for noticing a file that ends early; it is never trusted for memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import av
import numpy as np
import numpy.typing as npt

from venice_nb.core.errors import InvalidRequestError

__all__ = [
    "RATE",
    "VIDEO_SUFFIXES",
    "AudioTrack",
    "Media",
    "open_media",
]

RATE = 16_000
"""Samples per second of the prepared audio (mono, 16-bit)."""
MAX_PLAUSIBLE_RATE = 768_000
MAX_PLAUSIBLE_SECONDS = 7 * 24 * 3600.0
"""A header claiming more than a week is not believed (it only feeds the progress bar)."""
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg"})
EARLY_END_SECONDS = 2.0
"""Audio ending this much before its header's duration (and 1 % of it) counts as cut short."""

Int16Array = npt.NDArray[np.int16]


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream of a file, as ``--track`` numbers them (0 is the first audio track)."""

    index: int
    codec: str
    channels: int
    sample_rate: int
    language: str | None

    def describe(self) -> str:
        lang = f"{self.language}, " if self.language else ""
        return f"{self.index} ({lang}{self.codec}, {self.channels} ch, {self.sample_rate} Hz)"


@dataclass
class Media:
    """An opened file and its chosen audio track; :meth:`samples` decodes it as a stream."""

    name: str
    container: Any
    stream: Any
    tracks: list[AudioTrack]
    track: int
    has_video: bool
    header_seconds: float | None
    decoded_samples: int = 0
    stopped: str | None = None
    """Why decoding ended before the end of the file (a damaged packet), else None."""
    _closed: bool = field(default=False, repr=False)

    @property
    def decoded_seconds(self) -> float:
        return self.decoded_samples / RATE

    def samples(self, chunk_seconds: float = 10.0) -> Iterator[Int16Array]:
        """The track as 16 kHz mono int16 arrays of about ``chunk_seconds`` each (the last may
        be shorter). A packet that cannot be decoded ends the stream; :attr:`stopped` says why."""
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        want = max(1, int(chunk_seconds * RATE))
        pending: list[Int16Array] = []
        held = 0

        def take(frames: list[Any]) -> Iterator[Int16Array]:
            nonlocal held
            for out in frames:
                data = out.to_ndarray().reshape(-1).astype(np.int16, copy=False)
                if data.size:
                    pending.append(data)
                    held += data.size
            while held >= want:
                yield self._emit(pending, want)
                held -= want

        try:
            for packet in self.container.demux(self.stream):
                try:
                    frames = packet.decode()
                except av.error.EOFError:
                    break
                for frame in frames:
                    yield from take(resampler.resample(frame))
        except (av.FFmpegError, ValueError) as exc:
            self.stopped = (
                f"it could not be decoded past {_clock(self.decoded_seconds + held / RATE)} ({exc})"
            )
        try:
            yield from take(resampler.resample(None))
        except (av.FFmpegError, ValueError):
            pass
        if held:
            yield self._emit(pending, held)

    def _emit(self, pending: list[Int16Array], count: int) -> Int16Array:
        """The first ``count`` samples held in ``pending`` as one array (the rest stays)."""
        joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
        head, rest = joined[:count], joined[count:]
        pending.clear()
        if rest.size:
            pending.append(rest)
        self.decoded_samples += head.size
        return head

    def ended_early(self) -> str | None:
        """A sentence saying the audio stopped before the end its header announced, or None."""
        if self.stopped:
            return f"{self.name!r} stops at {_clock(self.decoded_seconds)}: {self.stopped}"
        claimed = self.header_seconds
        if claimed is None:
            return None
        short = claimed - self.decoded_seconds
        if short > EARLY_END_SECONDS and short > 0.01 * claimed:
            return (
                f"{self.name!r} ends at {_clock(self.decoded_seconds)} although its header says "
                f"{_clock(claimed)}: the file looks truncated; only the part that decodes is "
                "transcribed"
            )
        return None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.container.close()

    def __enter__(self) -> Media:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _clock(seconds: float) -> str:
    total = int(seconds)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _is_cover_art(stream: Any) -> bool:
    disposition = getattr(stream, "disposition", None)
    flag = getattr(getattr(av.stream, "Disposition", None), "attached_pic", None)
    if disposition is None or flag is None:
        return False
    try:
        return bool(disposition & flag)
    except TypeError:
        return False


def open_media(
    file: str | os.PathLike[str] | bytes | bytearray | IO[bytes],
    *,
    track: int | None = None,
    name: str | None = None,
) -> Media:
    """Open ``file`` (a path, bytes or a binary file object) and choose its audio track.

    Raises :class:`InvalidRequestError` for a file that is not media, has no audio track, names
    a track it does not have, or claims an impossible sample rate."""
    if isinstance(file, bytes | bytearray | memoryview):
        import io

        source: Any = io.BytesIO(bytes(file))
        label = name or "the audio"
        head = bytes(file[:4096])
    elif isinstance(file, str | os.PathLike):
        path = Path(file).expanduser()
        label = name or path.name
        if not path.exists():
            raise InvalidRequestError(f"No file at {str(path)!r}; check the path.", param="file")
        if not path.is_file():
            raise InvalidRequestError(
                f"{str(path)!r} is not a file; give the path of an audio or video file.",
                param="file",
            )
        if path.stat().st_size == 0:
            raise InvalidRequestError(f"{label!r} is empty (0 bytes).", param="file")
        source = str(path)
        with path.open("rb") as fh:
            head = fh.read(4096)
    elif hasattr(file, "read"):
        source = file
        label = name or str(getattr(file, "name", "the audio"))
        head = b""
    else:
        raise InvalidRequestError(
            f"Cannot read audio from a {type(file).__name__}; give a path, bytes or a binary "
            "file object.",
            param="file",
        )
    try:
        container = av.open(source, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, av.FFmpegError):
            raise
        raise InvalidRequestError(
            f"{label!r} is not audio or video that can be decoded ({_short(exc)}); give a "
            "recording (wav, mp3, flac, m4a, ogg, opus, webm, mp4, mov, mkv).",
            param="file",
        ) from None
    try:
        return _choose(container, label, track, head)
    except BaseException:
        container.close()
        raise


def _short(exc: BaseException) -> str:
    text = str(exc)
    # FFmpeg errors repeat the file name; the caller already names it.
    for marker in (": '", ': "'):
        if marker in text:
            text = text.split(marker)[0]
    return text.strip() or type(exc).__name__


def _choose(container: Any, label: str, track: int | None, head: bytes = b"") -> Media:
    audio = list(container.streams.audio)
    video = [s for s in container.streams.video if not _is_cover_art(s)]
    if not audio:
        what = f"{len(video)} video track(s)" if video else "no audio or video tracks"
        raise InvalidRequestError(
            f"{label!r} has no audio track (it has {what}); there is nothing to transcribe.",
            param="file",
        )
    tracks = [
        AudioTrack(
            index=i,
            codec=s.codec_context.name,
            channels=s.codec_context.channels or 0,
            sample_rate=s.codec_context.sample_rate or 0,
            language=(s.metadata or {}).get("language"),
        )
        for i, s in enumerate(audio)
    ]
    chosen = 0 if track is None else track
    if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < len(audio):
        listing = "; ".join(t.describe() for t in tracks)
        raise InvalidRequestError(
            f"{label!r} has no audio track {track!r}; its audio tracks are {listing} "
            "(--track counts from 0).",
            param="track",
        )
    stream = audio[chosen]
    rate = stream.codec_context.sample_rate or 0
    if not 0 < rate <= MAX_PLAUSIBLE_RATE:
        raise InvalidRequestError(
            f"{label!r} claims a sample rate of {rate} Hz, which no recording has; the file is "
            "damaged or not what its name says.",
            param="file",
        )
    stream.thread_type = "AUTO"
    return Media(
        name=label,
        container=container,
        stream=stream,
        tracks=tracks,
        track=chosen,
        has_video=bool(video),
        header_seconds=_header_seconds(container, stream, head),
    )


def _wav_claim(head: bytes) -> float | None:
    """What a RIFF/WAVE header's data chunk says the audio lasts (FFmpeg trusts the file's
    size instead, so a cut-off WAV would look whole)."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        tag, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if tag == b"fmt " and pos + 16 <= len(head):
            byte_rate = int.from_bytes(head[pos + 16 : pos + 20], "little")
        elif tag == b"data":
            if not byte_rate or size in (0, 0xFFFFFFFF):  # streamed WAVs leave it unset
                return None
            return size / byte_rate
        pos += 8 + size + (size & 1)
    return None


def _header_seconds(container: Any, stream: Any, head: bytes = b"") -> float | None:
    seconds: float | None = _wav_claim(head)
    if seconds is not None and 0 < seconds <= MAX_PLAUSIBLE_SECONDS:
        return seconds
    seconds = None
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / 1_000_000
    if seconds is None or not 0 < seconds <= MAX_PLAUSIBLE_SECONDS:
        return None
    return seconds
