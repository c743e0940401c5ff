"""Read duration and sample rate from audio headers in pure Python (no decoder needed)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["AudioInfo", "probe"]

PCM_DEFAULT_RATE = 24_000
_MP3_BITRATES = {
    (1, 3): [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    (2, 3): [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}
_MP3_RATES = {1: [44100, 48000, 32000], 2: [22050, 24000, 16000], 25: [11025, 12000, 8000]}
_ADTS_RATES = [
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
]


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
        reader = {"wav": _wav, "flac": _flac, "mp3": _mp3, "opus": _ogg_opus, "aac": _adts}.get(
            fmt or ""
        )
        return reader(data) if reader else AudioInfo()
    except (struct.error, IndexError, ValueError, ZeroDivisionError):
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
    return AudioInfo(rate, total / rate if total and rate else None)


def _skip_id3(data: bytes) -> int:
    if data[:3] == b"ID3" and len(data) >= 10:
        size = 0
        for b in data[6:10]:
            size = (size << 7) | (b & 0x7F)
        return 10 + size + (10 if data[5] & 0x10 else 0)
    return 0


def _mp3(data: bytes) -> AudioInfo:
    pos, end = _skip_id3(data), len(data)
    if data[-128:-125] == b"TAG":
        end -= 128
    rate, samples = None, 0
    while pos + 4 <= end:
        h = struct.unpack_from(">I", data, pos)[0]
        if (h >> 21) & 0x7FF != 0x7FF:
            pos += 1
            continue
        ver_bits, layer_bits = (h >> 19) & 3, (h >> 17) & 3
        br_idx, sr_idx, pad = (h >> 12) & 15, (h >> 10) & 3, (h >> 9) & 1
        if ver_bits == 1 or layer_bits != 1 or br_idx in (0, 15) or sr_idx == 3:
            pos += 1
            continue
        version = {3: 1, 2: 2, 0: 25}[ver_bits]
        rate = _MP3_RATES[version][sr_idx]
        bitrate = _MP3_BITRATES[(1 if version == 1 else 2, 3)][br_idx] * 1000
        per_frame = 1152 if version == 1 else 576
        size = (144 if version == 1 else 72) * bitrate // rate + pad
        side = (
            (32 if (h >> 6) & 3 != 3 else 17) if version == 1 else (17 if (h >> 6) & 3 != 3 else 9)
        )
        tag = data[pos + 4 + side : pos + 8 + side]
        if samples == 0 and tag in (b"Xing", b"Info"):
            pos += size  # header frame carries no audio
            continue
        samples += per_frame
        pos += size
    return AudioInfo(rate, samples / rate if rate else None)


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


def _adts(data: bytes) -> AudioInfo:
    pos, frames, rate = _skip_id3(data), 0, None
    while pos + 7 <= len(data):
        if data[pos] != 0xFF or data[pos + 1] & 0xF6 != 0xF0:
            pos += 1
            continue
        rate = _ADTS_RATES[(data[pos + 2] >> 2) & 0x0F]
        length = ((data[pos + 3] & 3) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
        if length < 7:
            break
        frames += (data[pos + 6] & 3) + 1
        pos += length
    return AudioInfo(rate, frames * 1024 / rate if rate else None)
