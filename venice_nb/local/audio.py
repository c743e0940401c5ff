"""Audio plumbing with PyAV and numpy: resampling, time-stretching, encoding the six output
formats (whole or progressively), sniffing upload containers, decoding them, measuring pitch."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import av
import av.filter
import numpy as np
import numpy.typing as npt

from venice_nb.core.types import CONTENT_TYPES

FloatArray = npt.NDArray[np.float32]


# container, codec, sample format fed to the encoder, muxer options
_CODECS: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "mp3": ("mp3", "libmp3lame", "s16p", {}),
    # Small Ogg pages so a streamed answer is not held back by the muxer (default: 1 s pages).
    "opus": ("ogg", "libopus", "s16", {"page_duration": "20000"}),
    "aac": ("adts", "aac", "fltp", {}),
    "flac": ("flac", "flac", "s16", {}),
}

ASR_RATE = 16000


class AudioDecodeError(Exception):
    """The upload is not audio PyAV can decode (corrupt, truncated, or not audio at all)."""


def _frame(samples: FloatArray, rate: int, fmt: str = "flt") -> av.AudioFrame:
    if fmt == "s16":
        data: npt.NDArray[Any] = to_int16(samples).reshape(1, -1)
    else:
        data = np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
    frame.sample_rate = rate
    return frame


def _mono(frame: av.AudioFrame | av.VideoFrame) -> FloatArray:
    """The float samples of a mono frame as a flat array."""
    return np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)


def to_int16(samples: FloatArray) -> npt.NDArray[np.int16]:
    """Float samples in [-1, 1] to signed 16-bit."""
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)


def resample(samples: FloatArray, rate_in: int, rate_out: int) -> FloatArray:
    """Mono float resampling with FFmpeg's swresample (any integer rates).

    Labelling samples with a rate other than the one they were made at and resampling is how the
    engine shifts pitch (see ``voices.py``).
    """
    if rate_in == rate_out or samples.size == 0:
        return np.asarray(samples, dtype=np.float32)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate_out)
    parts = [_mono(f) for f in resampler.resample(_frame(samples, rate_in))]
    parts += [_mono(f) for f in resampler.resample(None)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def time_stretch(samples: FloatArray, rate: int, factor: float) -> FloatArray:
    """Play ``factor`` times faster without changing pitch (FFmpeg ``atempo``, chained past 0.5-2)."""
    if abs(factor - 1.0) < 1e-3 or samples.size == 0:
        return samples
    steps: list[float] = []
    rest = factor
    while rest > 2.0:
        steps.append(2.0)
        rest /= 2.0
    while rest < 0.5:
        steps.append(0.5)
        rest /= 0.5
    steps.append(rest)
    graph = av.filter.Graph()
    node = graph.add_abuffer(format="flt", sample_rate=rate, layout="mono")
    for step in steps:
        nxt = graph.add("atempo", f"{step:.6f}")
        node.link_to(nxt)
        node = nxt
    sink = graph.add("abuffersink")
    node.link_to(sink)
    graph.configure()
    graph.push(_frame(samples, rate))
    graph.push(None)
    out: list[FloatArray] = []
    while True:
        try:
            out.append(_mono(graph.pull()))
        except (av.BlockingIOError, av.EOFError):
            break
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def wav_header(rate: int, data_bytes: int | None) -> bytes:
    """A 44-byte PCM s16le mono WAV header; ``data_bytes=None`` marks an open-ended stream."""
    size = 0xFFFFFFFF - 36 if data_bytes is None else data_bytes
    return b"RIFF" + struct.pack(
        "<I4s4sIHHIIHH4sI",
        min(36 + size, 0xFFFFFFFF),
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
        size,
    )


class _Sink:
    """A write-only, non-seekable byte sink: muxers then write progressively and never seek back."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


class StreamEncoder:
    """Encodes speech piece by piece into one continuous file of a response format.

    ``feed`` returns the bytes ready so far (send them at once); ``finish`` returns the rest.
    With ``streaming=False`` nothing is returned before ``finish``, and container headers hold
    exact sizes (seekable buffer).
    """

    def __init__(self, fmt: str, rate: int, streaming: bool) -> None:
        if fmt not in CONTENT_TYPES:
            raise ValueError(f"unknown response format {fmt!r}")
        self.fmt = fmt
        self.rate = rate
        self.streaming = streaming
        self._pcm: list[bytes] = []
        self._header_sent = False
        self._container: Any = None
        self._stream: Any = None
        self._sink: _Sink | io.BytesIO | None = None
        if fmt in _CODECS:
            container, codec, sample_fmt, options = _CODECS[fmt]
            self._sink = _Sink() if streaming else io.BytesIO()
            self._container = av.open(self._sink, mode="w", format=container, options=options)
            self._stream = self._container.add_stream(codec, rate=rate, layout="mono")
            self._stream.format = sample_fmt
            if fmt == "mp3":
                self._stream.bit_rate = 64000 if rate <= 24000 else 128000

    def feed(self, samples: FloatArray) -> bytes:
        """Add mono float samples at ``self.rate``; return encoded bytes ready to send (streaming)."""
        if self.fmt in ("pcm", "wav"):
            data = to_int16(samples).tobytes()
            if not self.streaming:
                self._pcm.append(data)
                return b""
            if self.fmt == "wav" and not self._header_sent:
                self._header_sent = True
                return wav_header(self.rate, None) + data
            return data
        if samples.size:
            for packet in self._stream.encode(_frame(samples, self.rate)):
                self._container.mux(packet)
        return self._sink.take() if isinstance(self._sink, _Sink) else b""

    def finish(self) -> bytes:
        """Flush the encoder and return the remaining bytes (everything, when not streaming)."""
        if self.fmt in ("pcm", "wav"):
            if self.streaming:
                if self.fmt == "wav" and not self._header_sent:
                    self._header_sent = True
                    return wav_header(self.rate, None)
                return b""
            body = b"".join(self._pcm)
            return (wav_header(self.rate, len(body)) + body) if self.fmt == "wav" else body
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        if isinstance(self._sink, _Sink):
            return self._sink.take()
        assert isinstance(self._sink, io.BytesIO)
        return self._sink.getvalue()

    def close(self) -> None:
        """Release the muxer if the answer was abandoned half way."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # already closed or never written: nothing left to free
                pass


def encode(samples: FloatArray, rate: int, fmt: str) -> bytes:
    """Encode a whole utterance into one file of ``fmt``."""
    enc = StreamEncoder(fmt, rate, streaming=False)
    enc.feed(samples)
    return enc.finish()


def sniff_container(head: bytes) -> str | None:
    """Name the container from its first bytes (None if unknown).

    Answers one of wav, flac, mp3, ogg, m4a (any ISO-BMFF: mp4/m4a), aac (ADTS), webm, or a
    recognised but unaccepted container (aiff, caf, amr, midi).
    """
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3":
        return "mp3"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"caff":
        return "caf"
    if head[:5] == b"#!AMR":
        return "amr"
    if head[:4] == b"MThd":
        return "midi"
    if len(head) >= 2 and head[0] == 0xFF:
        second = head[1]
        if second & 0xF6 == 0xF0:  # ADTS sync word, layer 0
            return "aac"
        if second & 0xE0 == 0xE0 and second & 0x06 != 0:  # MPEG audio frame sync, layer I-III
            return "mp3"
    return None


def sniff_file(path: str | Path) -> str | None:
    """``sniff_container`` on the first bytes of a file."""
    with open(path, "rb") as fh:
        return sniff_container(fh.read(16))


class AudioTooLongError(AudioDecodeError):
    """The audio lasts longer than the caller allows once decoded."""

    def __init__(self, max_seconds: float) -> None:
        super().__init__(f"longer than {max_seconds:g} s once decoded")
        self.max_seconds = max_seconds


def decode_mono(
    source: str | Path | bytes,
    rate: int = ASR_RATE,
    *,
    max_seconds: float | None = None,
    truncate: bool = False,
) -> FloatArray:
    """Decode the first audio stream of any FFmpeg-readable container to mono float32 at ``rate``.

    Decoding stops at ``max_seconds``: past it, ``truncate`` keeps the first ``max_seconds``, else
    :class:`AudioTooLongError` is raised. A small file can decode to hours (a FLAC of silence), so
    memory stays bounded by the duration allowed, not by what the file claims.
    """
    file: Any = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    limit = None if max_seconds is None else int(max_seconds * rate)
    parts: list[FloatArray] = []
    total = 0
    try:
        with av.open(file, mode="r") as container:
            if not container.streams.audio:
                raise AudioDecodeError("the file holds no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in _frames(container, stream, resampler):
                piece = _mono(frame)
                total += piece.size
                if limit is not None and total > limit:
                    if not truncate:
                        raise AudioTooLongError(float(max_seconds or 0))
                    parts.append(piece[: piece.size - (total - limit)])
                    break
                parts.append(piece)
    except AudioDecodeError:
        raise
    except (av.FFmpegError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise AudioDecodeError(str(exc)) from exc
    if not parts:
        return np.zeros(0, np.float32)
    return np.concatenate(parts)


def _frames(container: Any, stream: Any, resampler: Any) -> Any:
    """Resampled frames, decoded one at a time (nothing is decoded ahead)."""
    for frame in container.decode(stream):
        yield from resampler.resample(frame)
    yield from resampler.resample(None)


def rms(samples: FloatArray) -> float:
    """Root mean square level of float samples (0 for empty input)."""
    if samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def is_silent(samples: FloatArray, threshold: float = 1e-3) -> bool:
    """True when nothing in the signal rises above roughly -60 dBFS."""
    return samples.size == 0 or float(np.max(np.abs(samples))) < threshold


def estimate_f0(
    samples: FloatArray, rate: int, fmin: float = 60.0, fmax: float = 400.0
) -> float | None:
    """Median fundamental frequency of the voiced frames, YIN-style (an approximation).

    Frames of 40 ms every 20 ms; cumulative-mean-normalised difference via autocorrelation;
    a frame is voiced when the dip falls under 0.15 and the frame is loud enough. None when
    fewer than five frames are voiced.
    """
    frame_len = int(0.040 * rate)
    hop = int(0.020 * rate)
    lag_min = max(2, int(rate / fmax))
    lag_max = min(frame_len - 1, int(rate / fmin))
    if samples.size < frame_len or lag_max <= lag_min:
        return None
    level = rms(samples)
    estimates: list[float] = []
    for start in range(0, samples.size - frame_len, hop):
        frame = samples[start : start + frame_len].astype(np.float64)
        if rms(frame.astype(np.float32)) < 0.3 * level:
            continue
        frame = frame - frame.mean()
        spec = np.fft.rfft(frame, 2 * frame_len)
        acf = np.fft.irfft(spec * np.conj(spec))[:frame_len]
        squares = frame**2
        head = np.cumsum(squares)[::-1]  # head[tau] = energy of frame[: frame_len - tau]
        tail = np.cumsum(squares[::-1])[::-1]  # tail[tau] = energy of frame[tau:]
        diff = head + tail - 2 * acf  # d(tau) = sum_j (x_j - x_{j+tau})^2
        diff[0] = 0.0
        taus = np.arange(1, frame_len)
        cmnd = np.ones(frame_len)
        cums = np.cumsum(diff[1:])
        cmnd[1:] = diff[1:] * taus / np.where(cums == 0, 1.0, cums)
        window = cmnd[lag_min : lag_max + 1]
        below = np.nonzero(window < 0.15)[0]
        if below.size == 0:
            continue
        tau = int(below[0])
        while tau + 1 < window.size and window[tau + 1] < window[tau]:
            tau += 1
        estimates.append(rate / (tau + lag_min))
    if len(estimates) < 5:
        return None
    return float(np.median(estimates))


LIMIT_CEILING = 0.89
"""Peak ceiling of rendered speech (-1 dBFS): no voice clips, whatever its pack does."""


def limit(samples: FloatArray, ceiling: float = LIMIT_CEILING) -> FloatArray:
    """Scale a rendered sentence down so its peak stays under ``ceiling`` (never up)."""
    if samples.size == 0:
        return samples
    peak = float(np.max(np.abs(samples)))
    if peak <= ceiling:
        return samples
    return (samples * (ceiling / peak)).astype(np.float32)


def estimate_formants(samples: FloatArray, rate: int) -> tuple[float, float] | None:
    """Median first and second formants (Hz) of the loud frames, by linear prediction.

    The signal is resampled to 10 kHz, pre-emphasised and cut into 25 ms Hamming frames; an
    order-12 LPC polynomial per frame (autocorrelation method) gives resonances, of which
    those above 200 Hz with a bandwidth under 400 Hz are formants. None when too few frames
    have two. A rough measure (good enough to tell a small voice from a large one).
    """
    work_rate = 10_000
    x = resample(samples.astype(np.float32), rate, work_rate).astype(np.float64)
    if x.size < work_rate // 4:
        return None
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])
    frame_len, hop, order = int(0.025 * work_rate), int(0.010 * work_rate), 12
    window = np.hamming(frame_len)
    level = float(np.sqrt(np.mean(x**2)))
    f1s: list[float] = []
    f2s: list[float] = []
    for start in range(0, x.size - frame_len, hop):
        frame = x[start : start + frame_len] * window
        if np.sqrt(np.mean(frame**2)) < 0.5 * level:
            continue
        acf = np.correlate(frame, frame, "full")[frame_len - 1 : frame_len + order]
        if acf[0] <= 0:
            continue
        toeplitz = np.array([[acf[abs(i - j)] for j in range(order)] for i in range(order)])
        try:
            coeffs = np.linalg.solve(toeplitz + np.eye(order) * acf[0] * 1e-9, acf[1 : order + 1])
        except np.linalg.LinAlgError:
            continue
        roots = np.roots(np.concatenate(([1.0], -coeffs)))
        roots = roots[np.imag(roots) > 0]
        freqs = np.angle(roots) * work_rate / (2 * np.pi)
        bandwidths = -work_rate / np.pi * np.log(np.abs(roots))
        formants = np.sort(freqs[(freqs > 200) & (bandwidths < 400)])
        if formants.size >= 2:
            f1s.append(float(formants[0]))
            f2s.append(float(formants[1]))
    if len(f1s) < 5:
        return None
    return float(np.median(f1s)), float(np.median(f2s))


def concat(parts: Iterable[FloatArray]) -> FloatArray:
    """Join float sample arrays (an empty array for nothing)."""
    items = [p for p in parts if p.size]
    return np.concatenate(items).astype(np.float32) if items else np.zeros(0, np.float32)
