"""Cutting a stream of 16 kHz samples into pieces at quiet moments, and encoding each piece
compactly for upload.

Written here rather than taken from faster-whisper's or whisperX's VAD: those cut into ~30 s
windows for their own model and need onnxruntime or torch; a piece here is up to 10 minutes for
a remote service, and only has to end where nobody speaks. So each cut is the quietest stretch
(lowest energy over 300 ms) in the last ``search_seconds`` before the limit, near the end of
that stretch: never inside a word, so pieces need no overlap and words are neither duplicated
nor lost at a cut. Offsets are counted in samples, so timestamps do not drift.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import av
import numpy as np

from .media import RATE, Int16Array

__all__ = [
    "DEFAULT_BITRATE",
    "DEFAULT_MAX_PIECE_SECONDS",
    "DEFAULT_SEARCH_SECONDS",
    "Piece",
    "cut_pieces",
    "encode_mp3",
    "quietest_cut",
]

DEFAULT_MAX_PIECE_SECONDS = 600.0
DEFAULT_SEARCH_SECONDS = 30.0
DEFAULT_BITRATE = 48_000
"""mp3 bits per second for 16 kHz mono speech (10 minutes is 3.6 MB; see docs/long-audio.md
for the word error rate measured against the original)."""
FRAME = RATE // 100  # 10 ms energy frames
SMOOTH_FRAMES = 30  # 300 ms: about a short pause between words
SILENT_PEAK = 33
"""A piece whose loudest sample stays under this (about -60 dBFS) holds no speech; it is not sent
(the service answers 422 for silent audio)."""


LEAD_MARGIN = RATE * 15 // 100  # 150 ms of quiet kept before a piece's first sound


@dataclass(frozen=True)
class Piece:
    """A stretch of the prepared audio and where it starts, in samples from the file's start."""

    index: int
    start: int
    samples: Int16Array

    @property
    def offset(self) -> float:
        """Seconds from the start of the file to the start of this piece."""
        return self.start / RATE

    @property
    def seconds(self) -> float:
        return self.samples.size / RATE

    @property
    def end(self) -> float:
        return (self.start + self.samples.size) / RATE

    @property
    def silent(self) -> bool:
        return (
            self.samples.size == 0
            or int(np.max(np.abs(self.samples.astype(np.int32)))) < SILENT_PEAK
        )

    def lead(self) -> int:
        """Samples of quiet before the first sound, less 150 ms: not worth sending, and
        recognisers date a piece's first word from its start, so it is trimmed."""
        if self.samples.size == 0:
            return 0
        threshold = max(3 * SILENT_PEAK, _peak(self.samples) // 20)
        step = RATE  # a second at a time: no copy of the whole piece
        for pos in range(0, self.samples.size, step):
            part = self.samples[pos : pos + step]
            loud = np.flatnonzero((part > threshold) | (part < -threshold))
            if loud.size:
                skip = pos + int(loud[0]) - LEAD_MARGIN
                return skip if skip >= 2 * LEAD_MARGIN else 0
        return 0
        return skip if skip >= 2 * LEAD_MARGIN else 0


def _peak(samples: Int16Array) -> int:
    """The loudest sample's magnitude (without widening a copy of the whole piece)."""
    return max(int(samples.max()), -int(samples.min()))


def quietest_cut(samples: Int16Array, lo: int, hi: int) -> int:
    """The sample index in ``[lo, hi]`` ending the quietest stretch (about 150 ms before speech)."""
    lo = max(0, lo)
    hi = min(samples.size, hi)
    frames = (hi - lo) // FRAME
    if frames <= 1:
        return hi
    x = samples[lo : lo + frames * FRAME].astype(np.float32).reshape(frames, FRAME)
    energy = np.mean(x * x, axis=1)
    width = min(SMOOTH_FRAMES, frames)
    smooth = np.convolve(energy, np.ones(width, dtype=np.float32) / width, mode="same")
    # The quiet frames: within half as loud again as the quietest. Of their runs, the longest
    # (a pause between sentences rather than between words; the later one on a tie), cut near
    # its end: the 300 ms window keeps the cut about 150 ms before speech resumes, so the next
    # piece starts almost at its first word (recognisers date a piece's first word from its
    # start).
    quiet = smooth <= smooth.min() * 1.5 + 1.0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.astype(np.int8), [0]))))
    starts, ends = edges[::2], edges[1::2]  # runs [start, end)
    lengths = ends - starts
    longest = int(np.flatnonzero(lengths == lengths.max())[-1])
    return lo + int(ends[longest] - 1) * FRAME + FRAME // 2


def cut_pieces(
    chunks: Iterable[Int16Array],
    *,
    max_piece_seconds: float = DEFAULT_MAX_PIECE_SECONDS,
    search_seconds: float = DEFAULT_SEARCH_SECONDS,
) -> Iterator[Piece]:
    """Pieces of at most ``max_piece_seconds``, each cut at the quietest moment in its last
    ``search_seconds`` (at most half the piece), from a stream of sample arrays. Holds at most
    one piece plus one chunk in memory."""
    limit = max(FRAME * 2, int(max_piece_seconds * RATE))
    search = min(int(search_seconds * RATE), limit // 2)
    held: list[Int16Array] = []
    count = 0
    start = 0
    index = 0
    for chunk in chunks:
        if not chunk.size:
            continue
        held.append(chunk)
        count += chunk.size
        while count >= limit:
            buffer = np.concatenate(held) if len(held) > 1 else held[0]
            cut = quietest_cut(buffer, limit - search, limit)
            yield Piece(index, start, buffer[:cut].copy())
            index += 1
            start += cut
            rest = buffer[cut:]
            held = [rest] if rest.size else []
            count = rest.size
    if count:
        buffer = np.concatenate(held) if len(held) > 1 else held[0]
        yield Piece(index, start, buffer)


def encode_mp3(samples: Int16Array, *, bitrate: int = DEFAULT_BITRATE) -> bytes:
    """16 kHz mono int16 samples as an mp3 file (MPEG-2 layer III, LAME's gapless header, so a
    decoder that honours it gives back the same start)."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp3") as muxer:
        stream = muxer.add_stream("libmp3lame", rate=RATE, layout="mono")
        stream.bit_rate = bitrate
        step = RATE * 10
        data = np.ascontiguousarray(samples, dtype=np.int16)
        for pos in range(0, data.size, step):
            part = data[pos : pos + step]
            frame = av.AudioFrame.from_ndarray(part.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = RATE
            frame.pts = pos
            for packet in stream.encode(frame):
                muxer.mux(packet)
        for packet in stream.encode(None):
            muxer.mux(packet)
    return out.getvalue()
