"""MP3: MPEG audio frame header parsing, Xing/Info/VBRI tag detection and the MP3 joiner.

Written by hand on the standard library like the rest of :mod:`venice_nb.core.containers`:
the async core must not depend on numpy or FFmpeg.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._common import AudioJoinError, _id3v2_end, _segment_name, _trailing_tags_start

_MPEG_BITRATES: dict[tuple[int, int], tuple[int, ...]] = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}


@dataclass(frozen=True)
class _MpegHeader:
    version: int  # 1, 2 or 25 (MPEG 2.5)
    layer: int
    protected: bool
    sample_rate: int
    channels: int
    length: int
    samples: int


def _mpeg_header(data: bytes, pos: int) -> _MpegHeader | None:
    """Decode the 4-byte MPEG audio frame header at ``pos``; None if it is not a valid one."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
    version = {0: 25, 2: 2, 3: 1}.get((b1 >> 3) & 3)
    layer = 4 - ((b1 >> 1) & 3)
    bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 3
    if version is None or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved values, or free-format bitrate (frame length unknowable)
    if b3 & 3 == 2:
        return None  # reserved emphasis
    bitrate = _MPEG_BITRATES[(1 if version == 1 else 2, layer)][bitrate_index] * 1000
    sample_rate = _MPEG_RATES[version][rate_index]
    padding = (b2 >> 1) & 1
    if layer == 1:
        length, samples = (12 * bitrate // sample_rate + padding) * 4, 384
    elif layer == 2:
        length, samples = 144 * bitrate // sample_rate + padding, 1152
    elif version == 1:
        length, samples = 144 * bitrate // sample_rate + padding, 1152
    else:
        length, samples = 72 * bitrate // sample_rate + padding, 576
    channels = 1 if b3 >> 6 == 3 else 2
    return _MpegHeader(version, layer, not b1 & 1, sample_rate, channels, length, samples)


def _mpeg_frame_at(data: bytes, pos: int, end: int) -> _MpegHeader | None:
    """A frame header at ``pos`` confirmed by a matching header right after it (or by ``end``)."""
    head = _mpeg_header(data, pos)
    if head is None or pos + head.length > end:
        return None
    nxt = pos + head.length
    if nxt == end or nxt + 4 > end:
        return head
    follower = _mpeg_header(data, nxt)
    if follower and (follower.version, follower.layer, follower.sample_rate) == (
        head.version,
        head.layer,
        head.sample_rate,
    ):
        return head
    return None


def _mpeg_sync(data: bytes, pos: int, end: int) -> tuple[int, _MpegHeader] | None:
    while True:
        pos = data.find(b"\xff", pos, end)
        if pos < 0:
            return None
        head = _mpeg_frame_at(data, pos, end)
        if head is not None:
            return pos, head
        pos += 1


def _xing_offset(pos: int, head: _MpegHeader) -> int:
    """Where a Xing/Info tag would start in the layer III frame at ``pos``."""
    if head.version == 1:
        side_info = 17 if head.channels == 1 else 32
    else:
        side_info = 9 if head.channels == 1 else 17
    return pos + 4 + (2 if head.protected else 0) + side_info


def _has_vbr_tag(data: bytes, pos: int, head: _MpegHeader) -> bool:
    """True if the frame at ``pos`` is a Xing/Info (LAME) or VBRI (Fraunhofer) header frame."""
    if head.layer != 3:
        return False
    xing = _xing_offset(pos, head)
    return data[xing : xing + 4] in (b"Xing", b"Info") or data[pos + 36 : pos + 40] == b"VBRI"


_XING_FIELDS = ((1, 4), (2, 4), (4, 100), (8, 4))  # frames, bytes, TOC, quality: (flag, size)


def gapless_samples(data: bytes) -> int:
    """Encoder delay plus padding that the first frame's LAME tag declares (0 without one).

    Browsers and FFmpeg drop these samples when they play, so a duration should too.
    """
    return sum(lame_delay_padding(data))


def lame_delay_padding(data: bytes) -> tuple[int, int]:
    """(encoder delay, padding) in samples from the first frame's LAME tag; (0, 0) without one."""
    start = _id3v2_end(data)
    found = _mpeg_sync(data, start, len(data))
    if found is None or not _has_vbr_tag(data, *found):
        return 0, 0
    xing = _xing_offset(*found)
    if data[xing : xing + 4] not in (b"Xing", b"Info"):
        return 0, 0
    flags = int.from_bytes(data[xing + 4 : xing + 8], "big")
    lame = xing + 8 + sum(size for flag, size in _XING_FIELDS if flags & flag)
    if len(data) < lame + 24 or not data[lame : lame + 4].isalpha():
        return 0, 0
    b0, b1, b2 = data[lame + 21 : lame + 24]
    return (b0 << 4) | (b1 >> 4), ((b1 & 0x0F) << 8) | b2


@dataclass
class _Mp3Parts:
    id3: bytes
    audio: bytes
    frames: int
    samples: int
    first: _MpegHeader


def _parse_mp3(data: bytes, index: int) -> _Mp3Parts:
    name = _segment_name(index)
    start = _id3v2_end(data)
    end = _trailing_tags_start(data, start)
    found = _mpeg_sync(data, start, end)
    if found is None:
        raise AudioJoinError(
            f"{name} is not MP3 audio: no MPEG audio frame was found in its {len(data)} bytes."
        )
    pos, first = found
    spans: list[tuple[int, int]] = []
    frames = samples = 0
    if _has_vbr_tag(data, pos, first):
        pos += first.length
    while pos < end:
        head = _mpeg_header(data, pos)
        if head is None or pos + head.length > end:
            resync = _mpeg_sync(data, pos + 1, end)
            if resync is None:
                break  # trailing junk or a truncated last frame: dropped
            pos = resync[0]
            continue
        if spans and spans[-1][1] == pos:
            spans[-1] = (spans[-1][0], pos + head.length)
        else:
            spans.append((pos, pos + head.length))
        frames += 1
        samples += head.samples
        pos += head.length
    audio = b"".join(data[a:b] for a, b in spans)
    return _Mp3Parts(data[:start], audio, frames, samples, first)


class _Mp3Joiner:
    def __init__(self) -> None:
        self.first: _MpegHeader | None = None
        self.samples = 0
        self.sample_rate: int | None = None

    def feed(self, data: bytes, index: int, last: bool) -> bytes:
        parts = _parse_mp3(data, index)
        if self.first is None:
            self.first = parts.first
            self.sample_rate = parts.first.sample_rate
            head = parts.id3
        else:
            a, b = self.first, parts.first
            if (a.version, a.layer, a.sample_rate, a.channels) != (
                b.version,
                b.layer,
                b.sample_rate,
                b.channels,
            ):
                raise AudioJoinError(
                    f"segment {index} is {b.sample_rate} Hz {b.channels}-channel MPEG layer "
                    f"{b.layer} audio but segment 1 was {a.sample_rate} Hz {a.channels}-channel "
                    f"layer {a.layer}; request every segment with the same model and format."
                )
            head = b""
        self.samples += parts.samples
        return head + parts.audio

    def finish(self) -> bytes:
        return b""
