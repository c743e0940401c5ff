"""Joining whole per-segment audio files into ONE valid file of the requested format.

``stream_long_text`` synthesises every segment by its own request; the whole per-segment files
are joined here (mp3, wav, pcm, flac, opus, aac). Standard library only: this package belongs to
the async core, which must not depend on numpy or FFmpeg.

One module per container format (:mod:`.mp3`, :mod:`.aac`, :mod:`.wav`, :mod:`.flac`,
:mod:`.ogg`, :mod:`.pcm`), each providing a joiner with the small :class:`_FormatJoiner`
interface (feed a segment, finish) and, where streamed headers need patching, a finalizer.
This module holds the interface, the registry of formats, and the public API.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ._common import AudioJoinError, _id3v2_end
from .aac import _AacJoiner, _adts_confirmed, _adts_frame
from .flac import _finalize_flac, _FlacJoiner
from .mp3 import _Mp3Joiner, _mpeg_frame_at, _mpeg_sync, lame_delay_padding
from .ogg import _finalize_opus, _OpusJoiner, _parse_opus
from .pcm import _PcmJoiner
from .silence import silence
from .wav import _finalize_wav, _WavJoiner

__all__ = [
    "JOINABLE_FORMATS",
    "AudioJoinError",
    "SegmentJoiner",
    "TimedJoin",
    "finalize",
    "join_segments",
    "join_with_pauses",
    "silence",
    "sniff_format",
]

JOINABLE_FORMATS: tuple[str, ...] = ("aac", "flac", "mp3", "opus", "pcm", "wav")


class _FormatJoiner(Protocol):
    @property
    def samples(self) -> int: ...

    @property
    def sample_rate(self) -> int | None: ...

    def feed(self, data: bytes, index: int, last: bool) -> bytes: ...

    def finish(self) -> bytes: ...


# Format name -> joiner factory (given the sample rate, which only headerless PCM needs).
_JOINERS: dict[str, Callable[[int | None], _FormatJoiner]] = {
    "aac": lambda sample_rate: _AacJoiner(),
    "flac": lambda sample_rate: _FlacJoiner(),
    "mp3": lambda sample_rate: _Mp3Joiner(),
    "opus": lambda sample_rate: _OpusJoiner(),
    "pcm": _PcmJoiner,
    "wav": lambda sample_rate: _WavJoiner(),
}

# Format name -> finalizer patching the "unknown length" headers of a streamed join.
_FINALIZERS: dict[str, Callable[[bytes], bytes]] = {
    "wav": _finalize_wav,
    "flac": _finalize_flac,
    "opus": _finalize_opus,
}


class SegmentJoiner:
    """Join whole per-segment audio files of one format into one stream, incrementally.

    Call :meth:`feed` once per segment, in order, with the segment's whole file, and emit what it
    returns; then emit :meth:`finish`. Headers whose sizes are unknown while streaming (WAV sizes,
    FLAC total samples) are written as "unknown" and can be fixed afterwards by :func:`finalize`.
    Pass ``last=True`` with the final segment so an Ogg Opus stream ends with an EOS page carrying
    the final segment's end trimming. Without it the last page lacks EOS: FFmpeg (and so Chromium)
    still decodes every packet to the end of the data, and by RFC 7845 only the end trimming of
    the final packet (under 20 ms of encoder padding) is lost; :func:`finalize` adds the flag.
    """

    def __init__(self, response_format: str, *, sample_rate: int | None = None) -> None:
        fmt = response_format.strip().lower()
        if fmt not in JOINABLE_FORMATS:
            raise AudioJoinError(
                f"Cannot join {response_format!r} audio; use one of {', '.join(JOINABLE_FORMATS)}."
            )
        self.response_format = fmt
        self._impl = _JOINERS[fmt](sample_rate)
        self._given_rate = sample_rate
        self._segments = 0
        self._closed = False
        self._ended = False

    @property
    def segments(self) -> int:
        """Number of segments fed so far."""
        return self._segments

    @property
    def samples(self) -> int:
        """Samples per channel emitted so far (Opus: at 48 kHz; MP3/AAC: including encoder delay)."""
        return self._impl.samples

    @property
    def sample_rate(self) -> int | None:
        """Sample rate of the joined audio (from the first header; for PCM the one given)."""
        return self._impl.sample_rate or self._given_rate

    @property
    def duration(self) -> float | None:
        """Seconds of audio emitted so far, or None when the sample rate is unknown (PCM)."""
        rate = self.sample_rate
        return self.samples / rate if rate else None

    def feed(self, data: bytes, *, last: bool = False) -> bytes:
        """Take the next segment's whole file and return the bytes to emit now."""
        if self._closed or self._ended:
            raise RuntimeError("SegmentJoiner.feed() called after finish() or after last=True.")
        self._segments += 1
        if not data and self.response_format != "pcm":
            raise AudioJoinError(
                f"segment {self._segments} is empty; the server returned no audio."
            )
        self._ended = last
        return self._impl.feed(bytes(data), self._segments, last)

    def finish(self) -> bytes:
        """Trailing bytes to emit after the last segment (often empty)."""
        if self._closed:
            return b""
        self._closed = True
        return self._impl.finish()


def join_segments(
    response_format: str, parts: Sequence[bytes], *, sample_rate: int | None = None
) -> bytes:
    """Whole joined file with exact headers (sizes, sample counts): for when all parts are in memory."""
    if not parts:
        raise AudioJoinError("There are no segments to join; pass at least one audio file.")
    joiner = SegmentJoiner(response_format, sample_rate=sample_rate)
    chunks = [joiner.feed(part, last=i == len(parts) - 1) for i, part in enumerate(parts)]
    chunks.append(joiner.finish())
    return finalize(joiner.response_format, b"".join(chunks))


@dataclass(frozen=True)
class TimedJoin:
    """One joined file and where each part's audio lies in it (seconds from the start)."""

    data: bytes
    response_format: str
    sample_rate: int | None
    spans: list[tuple[float, float]]
    duration: float | None


_MP3_DECODER_DELAY = 529  # samples every MP3 decoder adds before the encoder's own delay


def _lead_and_tail(fmt: str, data: bytes, index: int) -> tuple[int, int]:
    """Samples at the start and end of a part that are codec priming and padding, not audio:
    what a player trims when the part plays alone, but not inside a joined stream."""
    if fmt == "mp3":
        delay, padding = lame_delay_padding(data)
        if delay or padding:
            return delay + _MP3_DECODER_DELAY, max(0, padding - _MP3_DECODER_DELAY)
    elif fmt == "opus" and index:  # the joined stream trims only the first part's pre-skip
        (pre_skip,) = struct.unpack_from("<H", _parse_opus(data, index + 1).head, 10)
        return pre_skip, 0
    return 0, 0


def join_with_pauses(
    response_format: str,
    parts: Sequence[bytes],
    pauses: Sequence[float],
    *,
    sample_rate: int | None = None,
) -> TimedJoin:
    """Join whole files of one format with ``pauses[i]`` seconds of silence after part ``i``
    (made by :func:`silence`, shaped like the first part), and report each part's span.

    Spans are exact to the sample for wav, pcm and flac; for mp3 and opus they skip each part's
    codec priming (the LAME tag's delay, Opus pre-skip); for aac they include it (ADTS does not
    say). Raises :class:`AudioJoinError` when the parts do not share one stream layout.
    """
    if not parts:
        raise AudioJoinError("There are no parts to join; pass at least one audio file.")
    if len(pauses) < len(parts) - 1:
        raise ValueError(f"{len(parts)} parts need {len(parts) - 1} pauses, got {len(pauses)}.")
    joiner = SegmentJoiner(response_format, sample_rate=sample_rate)
    fmt = joiner.response_format
    chunks: list[bytes] = []
    marks: list[tuple[int, int]] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        before = joiner.samples
        chunks.append(joiner.feed(part, last=last))
        lead, tail = _lead_and_tail(fmt, part, i)
        after = joiner.samples
        marks.append((min(before + lead, after), max(before, after - tail)))
        if not last and pauses[i] > 0:
            chunks.append(
                joiner.feed(silence(fmt, pauses[i], like=parts[0], sample_rate=sample_rate))
            )
    chunks.append(joiner.finish())
    rate = joiner.sample_rate
    scale = 1.0 / rate if rate else 0.0
    return TimedJoin(
        finalize(fmt, b"".join(chunks)),
        fmt,
        rate,
        [(a * scale, b * scale) for a, b in marks],
        joiner.duration,
    )


def finalize(response_format: str, data: bytes) -> bytes:
    """Patch "unknown length" headers of a streamed join to exact values.

    WAV gets its RIFF and data sizes, FLAC its STREAMINFO total samples and block/frame size
    bounds, Ogg Opus an EOS flag on its last page; other formats are returned unchanged.
    """
    fmt = response_format.strip().lower()
    finalizer = _FINALIZERS.get(fmt)
    return finalizer(data) if finalizer else data


def sniff_format(data: bytes) -> str | None:
    """Audio container named by the magic bytes, or None if unknown.

    Answers 'mp3', 'wav', 'flac', 'opus' (Ogg Opus), 'ogg' (other Ogg, e.g. Vorbis), 'aac' (ADTS
    or ADIF), 'm4a' (MP4 audio brands), 'mp4' (other ISO media), 'webm' or 'mkv' (Matroska).
    Headerless PCM cannot be recognised.
    """
    start = _id3v2_end(data)
    body = data[start:]
    if body[:4] == b"fLaC":
        return "flac"
    if start == 0:
        if data[:4] in (b"RIFF", b"RF64", b"BW64") and data[8:12] == b"WAVE":
            return "wav"
        if data[:4] == b"OggS":
            return "opus" if b"OpusHead" in data[28:64] else "ogg"
        if data[4:8] == b"ftyp":
            brand = data[8:12]
            return "m4a" if brand in (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ") else "mp4"
        if data[4:8] in (b"moov", b"mdat"):
            return "mp4"
        if data[:4] == b"\x1a\x45\xdf\xa3":
            return "webm" if b"webm" in data[:64] else "mkv"
    if body[:4] == b"ADIF" or (_adts_frame(body, 0) is not None and _adts_confirmed(body)):
        return "aac"
    if _mpeg_frame_at(body, 0, len(body)) is not None:
        return "mp3"
    if start and _mpeg_sync(data, start, min(len(data), start + 4096)) is not None:
        return "mp3"  # ID3v2 followed by padding before the first frame
    return None
