"""Read duration and sample rate from audio headers in pure Python (no decoder needed), and
bound how many bytes of audio a speech request can produce."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .containers import SegmentJoiner
from .containers.mp3 import gapless_samples

__all__ = ["AudioInfo", "probe", "speech_answer_bytes", "speech_answer_seconds"]

PCM_DEFAULT_RATE = 24_000
PCM_SAMPLE_RATES = {"tts-gradium-v1": 48_000}
"""Headerless pcm rates: 24 kHz, 48 kHz for the models listed (contract README)."""


def pcm_rate(model: str | None) -> int:
    return PCM_SAMPLE_RATES.get(model or "", PCM_DEFAULT_RATE)


SPEECH_SECONDS_PER_CHAR = 0.3
"""Slowest speech assumed per input character at speed 1: about four times slower than read
English (~13 characters a second) and twice as slow as read Japanese, so pauses, spelled-out
numbers and symbols read as words fit."""
SPEECH_HEADROOM_SECONDS = 20.0
"""Added to every request: leading and trailing silence, a short input read as long words."""
SPEECH_HEADER_BYTES = 256 * 1024
"""Container overhead allowed beyond the audio itself (headers, tags, seek tables)."""
COMPRESSED_BYTES_PER_SECOND = {"mp3": 40_000, "opus": 64_000, "aac": 72_000}
"""The highest bitrate each compressed format allows (mp3 320 kb/s, Opus 510 kb/s, AAC-LC stereo
at 48 kHz 576 kb/s), in bytes per second."""


def speech_answer_seconds(chars: int, speed: float | None = None) -> float:
    """The longest speech ``chars`` characters can make at ``speed`` (generous by design). A
    speed above 1 does not shorten it: a model may ignore the speed it is asked for."""
    slowest = SPEECH_HEADROOM_SECONDS + SPEECH_SECONDS_PER_CHAR * max(chars, 0)
    return slowest / min(speed if speed and speed > 0 else 1.0, 1.0)


def speech_answer_bytes(chars: int, model: str | None, fmt: str | None, speed: float | None) -> int:
    """The most bytes a speech answer can hold: the longest speech of ``chars`` characters at
    the format's highest bytes per second (16-bit mono at the model's rate for pcm, wav and
    flac; wav when no format is named, the worst of all), plus container overhead."""
    per_second = COMPRESSED_BYTES_PER_SECOND.get(fmt or "")
    if per_second is None:
        per_second = 2 * max(pcm_rate(model), PCM_DEFAULT_RATE)
    return int(speech_answer_seconds(chars, speed) * per_second) + SPEECH_HEADER_BYTES


@dataclass(frozen=True)
class AudioInfo:
    """What the headers tell: sample rate and duration in seconds (None when unknown)."""

    sample_rate: int | None = None
    duration: float | None = None


def probe(data: bytes, fmt: str | None, *, sample_rate: int | None = None) -> AudioInfo:
    """Best-effort header read for the six speech formats; never raises on odd input."""
    try:
        if fmt == "pcm":
            rate = sample_rate or PCM_DEFAULT_RATE
            return AudioInfo(rate, len(data) / 2 / rate)
        if fmt in ("mp3", "aac"):
            return _counted(fmt, data)
        reader = {"wav": _wav, "flac": _flac, "opus": _ogg_opus}.get(fmt or "")
        return reader(data) if reader else AudioInfo()
    except (struct.error, IndexError, ValueError, ZeroDivisionError, RuntimeError):
        return AudioInfo()


def _wav(data: bytes) -> AudioInfo:
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return AudioInfo()
    pos, rate, block = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt ":
            _, _channels, rate, _, block = struct.unpack_from("<HHIIH", data, body)
        elif cid == b"data":
            avail = len(data) - body
            n = avail if size in (0, 0xFFFFFFFF) or size > avail else size
            if rate and block:
                return AudioInfo(rate, n // block / rate)
            return AudioInfo(rate)
        pos = body + size + (size & 1)
    return AudioInfo(rate)


def _flac(data: bytes) -> AudioInfo:
    if data[:4] != b"fLaC":
        return AudioInfo()
    info = data[8 : 8 + 34]
    rate = (info[10] << 12) | (info[11] << 4) | (info[12] >> 4)
    total = ((info[13] & 0x0F) << 32) | struct.unpack_from(">I", info, 14)[0]
    if not total:  # a streamed join: STREAMINFO says "unknown", so count the frames
        return _counted("flac", data)
    return AudioInfo(rate, total / rate if rate else None)


def _ogg_opus(data: bytes) -> AudioInfo:
    if data[:4] != b"OggS":
        return AudioInfo()
    first = data.find(b"OpusHead")
    preskip = struct.unpack_from("<H", data, first + 10)[0] if first >= 0 else 0
    last = data.rfind(b"OggS")
    while last >= 0:
        granule = struct.unpack_from("<q", data, last + 6)[0]
        if granule > 0:
            return AudioInfo(48000, max(granule - preskip, 0) / 48000)
        last = data.rfind(b"OggS", 0, last)
    return AudioInfo(48000)


def _counted(fmt: str, data: bytes) -> AudioInfo:
    """MP3/AAC carry no total in their headers: count frames with the segment joiner's parser.
    An MP3's LAME tag says how many samples are encoder delay and padding; browsers and FFmpeg
    drop them, so the duration does too (7.59 s of speech, not the 7.66 s its frames hold)."""
    joiner = SegmentJoiner(fmt)
    joiner.feed(data, last=True)
    duration = joiner.duration
    if fmt == "mp3" and duration and joiner.sample_rate:
        trimmed = duration - gapless_samples(data) / joiner.sample_rate
        duration = trimmed if trimmed > 0 else duration
    return AudioInfo(joiner.sample_rate, duration)
