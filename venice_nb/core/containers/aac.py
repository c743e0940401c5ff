"""AAC in ADTS framing: frame header parsing, ADTS detection and the AAC joiner.

Written by hand on the standard library like the rest of :mod:`venice_nb.core.containers`:
the async core must not depend on numpy or FFmpeg.
"""

from __future__ import annotations

from ._common import AudioJoinError, _id3v2_end, _trailing_tags_start

_ADTS_RATES = (
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
)


def _adts_frame(data: bytes, pos: int) -> tuple[int, int, int, int] | None:
    """(frame length, sample rate, channel config, samples) of the ADTS frame at ``pos``."""
    if pos + 7 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xF6 != 0xF0:
        return None
    rate_index = (data[pos + 2] >> 2) & 0xF
    if rate_index >= len(_ADTS_RATES):
        return None
    channels = ((data[pos + 2] & 1) << 2) | (data[pos + 3] >> 6)
    length = ((data[pos + 3] & 3) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
    header = 7 if data[pos + 1] & 1 else 9
    if length < header:
        return None
    blocks = (data[pos + 6] & 3) + 1
    return length, _ADTS_RATES[rate_index], channels, 1024 * blocks


def _looks_like_mp4(data: bytes) -> bool:
    return data[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


class _AacJoiner:
    def __init__(self) -> None:
        self.config: tuple[int, int] | None = None
        self.samples = 0
        self.sample_rate: int | None = None

    def feed(self, data: bytes, index: int, last: bool) -> bytes:
        start = _id3v2_end(data)
        end = _trailing_tags_start(data, start)
        first = _adts_frame(data, start)
        if first is None:
            kind = "an MP4/M4A file" if _looks_like_mp4(data[start:]) else "not ADTS"
            if data[start : start + 4] == b"ADIF":
                kind = "ADIF AAC"
            raise AudioJoinError(
                f"segment {index} is {kind}; the joiner needs raw ADTS AAC frames, so ask the "
                f"server for response_format='aac' (ADTS) or join another format."
            )
        config = (first[1], first[2])
        if self.config is None:
            self.config = config
            self.sample_rate = first[1]
        elif config != self.config:
            raise AudioJoinError(
                f"segment {index} is {config[0]} Hz with channel configuration {config[1]} but "
                f"segment 1 was {self.config[0]} Hz with {self.config[1]}; request every segment "
                f"with the same model and format."
            )
        pos = start
        while pos < end:
            frame = _adts_frame(data, pos)
            if frame is None or pos + frame[0] > end:
                break  # a truncated last frame or trailing junk is dropped
            self.samples += frame[3]
            pos += frame[0]
        if pos == start:
            raise AudioJoinError(f"segment {index} holds no complete ADTS AAC frame.")
        return data[start:pos]

    def finish(self) -> bytes:
        return b""


def _adts_confirmed(data: bytes) -> bool:
    """An ADTS header at 0 followed by another one (or by the end of a short sample)."""
    frame = _adts_frame(data, 0)
    if frame is None:
        return False
    if frame[0] + 7 > len(data):
        return True
    return _adts_frame(data, frame[0]) is not None
