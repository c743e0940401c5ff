"""Test-only audio helpers: encode real per-segment files with PyAV and decode joined results.

Independent of ``venice_nb.core.segments``: the checks here (Ogg CRC, page walking) are written
the slow, obvious way so they can catch mistakes in the fast implementation.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import cast

import av
import numpy as np

RATE = 24000
DURATIONS = (0.7, 1.1, 0.9)

# response_format -> (container, codec) as the Venice API would produce them
ENCODERS: dict[str, tuple[str, str]] = {
    "mp3": ("mp3", "libmp3lame"),
    "opus": ("ogg", "libopus"),
    "aac": ("adts", "aac"),
    "flac": ("flac", "flac"),
    "wav": ("wav", "pcm_s16le"),
}


def tone(seconds: float, *, rate: int = RATE, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    """Int16 samples (channels, n) of a sine tone with a little noise, so codecs work for real."""
    n = round(seconds * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(int(freq * 1000 + n))
    wave = 0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(n)
    mono = (wave * 32767).astype(np.int16)
    return np.tile(mono, (channels, 1))


def encode(fmt: str, samples: np.ndarray, *, rate: int = RATE) -> bytes:
    """Encode int16 (channels, n) samples into a whole file of ``fmt`` as the API would."""
    if fmt == "pcm":
        return samples[0].astype("<i2").tobytes()
    container, codec = ENCODERS[fmt]
    return encode_with(container, codec, samples, rate=rate)


def encode_with(container: str, codec: str, samples: np.ndarray, *, rate: int = RATE) -> bytes:
    """Encode int16 (channels, n) samples with any FFmpeg muxer and encoder."""
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = cast(av.AudioStream, out.add_stream(codec, rate=rate, layout=layout))
        interleaved = samples.T.reshape(1, -1).copy()
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buf.getvalue()


def segments(fmt: str, *, rate: int = RATE, channels: int = 1) -> tuple[list[bytes], list[int]]:
    """Three whole files of ``fmt`` (0.7 s, 1.1 s, 0.9 s) and their true sample counts."""
    parts, counts = [], []
    for i, seconds in enumerate(DURATIONS):
        samples = tone(seconds, rate=rate, freq=330.0 + 110 * i, channels=channels)
        parts.append(encode(fmt, samples, rate=rate))
        counts.append(samples.shape[1])
    return parts, counts


@dataclass
class Decoded:
    samples: int  # per channel, as the decoder output them
    rate: int
    channels: int
    stream_frames: int  # header-reported frame count (0 when the container has none)
    duration: float | None  # header/container duration in seconds, None when unknown


def decode(fmt: str, data: bytes) -> Decoded:
    """Decode ``data`` with FFmpeg and count what comes out."""
    if fmt == "pcm":
        return Decoded(len(data) // 2, RATE, 1, 0, None)
    container = {"opus": "ogg", "aac": "aac"}.get(fmt, fmt)
    with av.open(io.BytesIO(data), "r", format=container) as inp:
        stream = inp.streams.audio[0]
        total = 0
        rate = channels = 0
        for frame in inp.decode(stream):
            total += frame.samples
            rate, channels = frame.sample_rate, len(frame.layout.channels)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        return Decoded(total, rate, channels, stream.frames, duration)


def decode_samples(fmt: str, data: bytes) -> np.ndarray:
    """All decoded samples of a mono file, concatenated."""
    if fmt == "pcm":
        return np.frombuffer(data, "<i2")
    with av.open(io.BytesIO(data), "r", format=fmt) as inp:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in inp.decode(audio=0)])


# ---- Ogg, written plainly -------------------------------------------------------------------


def ogg_crc_bitwise(page: bytes) -> int:
    """Ogg CRC-32 (poly 0x04C11DB7, MSB first, init 0), one bit at a time."""
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


@dataclass
class OggPage:
    flags: int
    granule: int
    serial: int
    sequence: int
    crc_ok: bool
    body: bytes


def ogg_pages(data: bytes) -> list[OggPage]:
    pages = []
    pos = 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS", f"no Ogg page at byte {pos}"
        flags, granule, serial, sequence, crc, count = struct.unpack_from("<xBqIIIB", data, pos + 4)
        lacing = data[pos + 27 : pos + 27 + count]
        size = 27 + count + sum(lacing)
        raw = bytearray(data[pos : pos + size])
        raw[22:26] = bytes(4)
        pages.append(
            OggPage(
                flags,
                granule,
                serial,
                sequence,
                ogg_crc_bitwise(bytes(raw)) == crc,
                bytes(raw[27 + count :]),
            )
        )
        pos += size
    return pages


# ---- MP3 / FLAC inspection --------------------------------------------------------------------


def flac_streaminfo(data: bytes) -> dict[str, int]:
    assert data[:4] == b"fLaC"
    body = data[8:42]
    packed = int.from_bytes(body[10:18], "big")
    return {
        "min_block": int.from_bytes(body[0:2], "big"),
        "max_block": int.from_bytes(body[2:4], "big"),
        "min_frame": int.from_bytes(body[4:7], "big"),
        "max_frame": int.from_bytes(body[7:10], "big"),
        "rate": packed >> 44,
        "total": packed & 0xFFFFFFFFF,
    }


def flac_block_types(data: bytes) -> list[int]:
    pos, types = 4, []
    while True:
        flags = data[pos]
        types.append(flags & 0x7F)
        pos += 4 + int.from_bytes(data[pos + 1 : pos + 4], "big")
        if flags & 0x80:
            return types


def id3v1(title: str = "segment") -> bytes:
    """A 128-byte ID3v1 tag as some encoders append."""
    return b"TAG" + title.encode().ljust(30, b"\0") + bytes(95)


def wav_bytes(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A loud (not silent) 16-bit mono WAV of ``seconds``: accepted as speech-like by servers."""
    frames = np.tile(np.array([16384, -16384, 8192, -8192], dtype="<i2"), int(seconds * rate / 4))
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + frames.nbytes,
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        rate,
        rate * 2,
        2,
        16,
        b"data",
        frames.nbytes,
    )
    return header + frames.tobytes()
