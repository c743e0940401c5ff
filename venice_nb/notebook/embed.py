"""Compact audio for embedding in a notebook: at most ~0.5 MB of notebook per minute of speech.

A notebook stores embedded audio as base64, so a WAV costs about 5 MB a minute. Speech that came
back as wav, pcm or flac, or any audio over the budget, is re-encoded here with PyAV as mono mp3
(32 kbit/s by default: about 0.32 MB of notebook a minute), which every browser plays.
Without PyAV (the ``local`` extra) :class:`TranscodeUnavailable` tells the caller to ask the
server for mp3 instead.
"""

from __future__ import annotations

import base64
import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from venice_nb.core.audioinfo import probe
from venice_nb.core.segments import TimedJoin

__all__ = [
    "EmbeddedAudio",
    "TranscodeUnavailable",
    "compact",
    "duration_of",
    "have_pyav",
    "pcm_to_wav",
    "reencode_join",
    "sniff_format",
    "transcode_mp3",
]

MIME_BY_FORMAT = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "ogg": "audio/ogg",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "webm": "audio/webm",
    "flac": "audio/flac",
    "wav": "audio/wav",
}
COMPRESSED = frozenset({"mp3", "opus", "ogg", "aac", "m4a", "webm"})
MIN_BUDGET_BYTES = 0
EMBED_RATE = 24_000


class TranscodeUnavailable(RuntimeError):
    """Re-encoding needs PyAV (``pip install 'venice-nb[local]'``), which is not installed."""


@dataclass(frozen=True)
class EmbeddedAudio:
    """Audio ready to embed: bytes, the MIME type a browser plays, its duration if known."""

    data: bytes
    mime: str
    duration: float | None = None
    transcoded: bool = False

    @property
    def notebook_bytes(self) -> int:
        """Bytes this audio takes in a notebook once base64-encoded."""
        return 4 * ((len(self.data) + 2) // 3)

    def data_uri(self) -> str:
        """A ``data:`` URI for an ``<audio src>``."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def have_pyav() -> bool:
    """Whether PyAV can be imported (it ships with the ``local`` extra)."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def sniff_format(data: bytes) -> str | None:
    """The container of ``data`` from its first bytes: mp3, aac, wav, flac, ogg, m4a, webm."""
    head = bytes(data[:16])
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "opus" if b"OpusHead" in bytes(data[:64]) else "ogg"
    if head[:3] == b"ID3":
        return "mp3"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "aac" if head[1] & 0x06 == 0 else "mp3"
    return None


def pcm_to_wav(data: bytes, sample_rate: int, channels: int = 1) -> bytes:
    """Wrap headerless s16le samples in a WAV header."""
    block = 2 * channels
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, 16
    )
    return header + b"data" + struct.pack("<I", len(data)) + data


def _decodable(data: bytes, fmt: str | None, sample_rate: int | None) -> tuple[bytes, str | None]:
    if fmt == "pcm":
        return pcm_to_wav(data, sample_rate or EMBED_RATE), "wav"
    return data, fmt or sniff_format(data)


def duration_of(
    data: bytes, fmt: str | None = None, sample_rate: int | None = None
) -> float | None:
    """Seconds of audio, from the headers or, failing that, by decoding with PyAV."""
    if fmt == "pcm":
        return len(data) / 2 / (sample_rate or EMBED_RATE)
    fmt = fmt or sniff_format(data)
    info = probe(data, fmt, sample_rate=sample_rate)
    if info.duration:
        return info.duration
    if not have_pyav():
        return None
    import av

    try:
        with av.open(io.BytesIO(data), "r") as container:
            stream = container.streams.audio[0]
            if container.duration:
                return float(container.duration) / 1_000_000
            samples = sum(int(frame.samples) for frame in container.decode(stream))
            return samples / stream.rate if stream.rate else None
    except (av.FFmpegError, IndexError, ValueError):
        return None


def transcode_mp3(
    data: bytes, fmt: str | None = None, *, sample_rate: int | None = None, bitrate: int = 32000
) -> bytes:
    """Re-encode any decodable audio as mono mp3 at ``bitrate`` bits/s, 24 kHz."""
    if not have_pyav():
        raise TranscodeUnavailable(
            "Re-encoding audio for the notebook needs PyAV; install it with "
            "pip install 'venice-nb[local]'."
        )
    import av

    source, _ = _decodable(data, fmt, sample_rate)
    out = io.BytesIO()
    try:
        with av.open(io.BytesIO(source), "r") as inp, av.open(out, "w", format="mp3") as muxer:
            stream = muxer.add_stream("libmp3lame", rate=EMBED_RATE)
            stream.bit_rate = bitrate
            stream.layout = "mono"
            resampler = av.AudioResampler(format="s16p", layout="mono", rate=EMBED_RATE)
            for frame in inp.decode(audio=0):
                for chunk in resampler.resample(frame):
                    muxer.mux(stream.encode(chunk))
            for chunk in resampler.resample(None):
                muxer.mux(stream.encode(chunk))
            muxer.mux(stream.encode(None))
    except (av.FFmpegError, IndexError) as exc:
        raise ValueError(f"The audio could not be decoded for embedding ({exc}).") from exc
    return out.getvalue()


def compact(
    data: bytes,
    fmt: str | None = None,
    *,
    sample_rate: int | None = None,
    mb_per_minute: float = 0.5,
    bitrate: int = 32000,
) -> EmbeddedAudio:
    """Audio a notebook can embed cheaply: compressed audio within budget as it is, anything
    else (wav, pcm, flac, or over ``mb_per_minute``) re-encoded as mono mp3 at ``bitrate``."""
    data = bytes(data)
    fmt = fmt or sniff_format(data)
    duration = duration_of(data, fmt, sample_rate)
    if fmt in COMPRESSED:
        encoded = 4 * ((len(data) + 2) // 3)
        budget = MIN_BUDGET_BYTES
        if duration:
            budget = max(budget, int(mb_per_minute * 1_000_000 * duration / 60))
        if (duration is None and not have_pyav()) or encoded <= budget:
            return EmbeddedAudio(data, MIME_BY_FORMAT[fmt], duration)
    mp3 = transcode_mp3(data, fmt, sample_rate=sample_rate, bitrate=bitrate)
    return EmbeddedAudio(mp3, "audio/mpeg", duration or duration_of(mp3, "mp3"), transcoded=True)


# format -> (muxer, encoder, bit rate) for re-encoding joined audio (the file a user keeps).
_ENCODERS: dict[str, tuple[str, str, int]] = {
    "mp3": ("mp3", "libmp3lame", 64_000),
    "aac": ("adts", "aac", 64_000),
    "opus": ("ogg", "libopus", 32_000),
    "flac": ("flac", "flac", 0),
    "wav": ("wav", "pcm_s16le", 0),
}
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_AAC_PRIMING = 1024  # samples FFmpeg's AAC encoder puts first; ADTS cannot say so
_CHUNK = 4096


def _need_pyav(what: str) -> None:
    if not have_pyav():
        raise TranscodeUnavailable(
            f"{what} needs PyAV; install it with pip install 'venice-nb[local]'."
        )


def _decode_s16(
    data: bytes, fmt: str | None, sample_rate: int | None, rate: int | None
) -> tuple[bytes, int]:
    """Mono signed 16-bit samples of ``data`` at ``rate`` (None: its own rate), and that rate."""
    import av

    source, _ = _decodable(data, fmt, sample_rate)
    chunks: list[bytes] = []
    try:
        with av.open(io.BytesIO(source), "r") as inp:
            stream = inp.streams.audio[0]
            target = rate or stream.rate or EMBED_RATE
            resampler = av.AudioResampler(format="s16", layout="mono", rate=target)
            for frame in inp.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(bytes(out.planes[0])[: 2 * out.samples])
            for out in resampler.resample(None):
                chunks.append(bytes(out.planes[0])[: 2 * out.samples])
    except (av.FFmpegError, IndexError) as exc:
        raise ValueError(f"The audio could not be decoded ({exc}).") from exc
    return b"".join(chunks), target


def _encode_s16(samples: bytes, rate: int, response_format: str) -> bytes:
    import av

    if response_format == "pcm":
        return samples
    muxer_name, codec, bit_rate = _ENCODERS[response_format]
    out = io.BytesIO()
    total = len(samples) // 2
    with av.open(out, "w", format=muxer_name) as muxer:
        stream = muxer.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        if bit_rate:
            stream.bit_rate = bit_rate
        for pos in range(0, total, _CHUNK):
            count = min(_CHUNK, total - pos)
            frame = av.AudioFrame(format="s16", layout="mono", samples=count)
            frame.planes[0].update(samples[2 * pos : 2 * (pos + count)])
            frame.sample_rate = rate
            frame.pts = pos
            for packet in stream.encode(frame):
                muxer.mux(packet)
        for packet in stream.encode(None):
            muxer.mux(packet)
    return out.getvalue()


def reencode_join(
    parts: Sequence[tuple[bytes, str | None, int | None]],
    pauses: Sequence[float],
    response_format: str,
) -> TimedJoin:
    """Join audio of any formats and rates: decode every ``(data, format, pcm rate)`` part to
    mono 16-bit at the first part's rate, put ``pauses[i]`` seconds of silence after part ``i``,
    and encode the whole once as ``response_format``. For when the lines of a dialogue came back
    in formats or layouts the stdlib joiners cannot join as they are. Needs PyAV."""
    _need_pyav("Joining audio of different formats or sample rates")
    if response_format not in (*_ENCODERS, "pcm"):
        raise ValueError(f"Cannot encode {response_format!r} audio.")
    rate: int | None = None
    pieces: list[bytes] = []
    marks: list[tuple[int, int]] = []
    offset = 0
    for i, (data, fmt, pcm_rate) in enumerate(parts):
        samples, got = _decode_s16(data, fmt, pcm_rate, rate)
        if rate is None:
            rate = got
            if response_format == "opus" and rate not in _OPUS_RATES:
                rate = 48_000
                samples, _ = _decode_s16(data, fmt, pcm_rate, rate)
            elif response_format in ("mp3", "aac") and rate > 48_000:
                rate = 48_000
                samples, _ = _decode_s16(data, fmt, pcm_rate, rate)
        count = len(samples) // 2
        marks.append((offset, offset + count))
        pieces.append(samples[: 2 * count])
        offset += count
        if i < len(parts) - 1 and pauses[i] > 0:
            gap = round(pauses[i] * rate)
            pieces.append(bytes(2 * gap))
            offset += gap
    assert rate is not None
    encoded = _encode_s16(b"".join(pieces), rate, response_format)
    shift = _AAC_PRIMING if response_format == "aac" else 0
    spans = [((a + shift) / rate, (b + shift) / rate) for a, b in marks]
    return TimedJoin(encoded, response_format, rate, spans, (offset + shift) / rate)
