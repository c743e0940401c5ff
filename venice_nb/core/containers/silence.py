"""Digital silence in any joinable format, shaped like a given file so the joiner accepts it.

A dialogue is joined from whole per-line files with short pauses between them. The pauses are
built here, on the standard library, as standalone files of the same format and stream
parameters (sample rate, channels, bit depth) as a reference file: WAV and PCM hold zero samples,
FLAC CONSTANT subframes, MP3 frames whose side information is all zero (no spectral data), ADTS
AAC frames whose channel elements carry no bands, and Ogg Opus the three-byte CELT packet with
the silence flag set. Lengths are whole frames of the codec (MP3 576 or 1152 samples, AAC 1024,
Opus 20 ms); WAV, PCM and FLAC are exact to the sample.
"""

from __future__ import annotations

import math
import struct

from ._common import AudioJoinError, _id3v2_end
from .flac import _FLAC_STREAMINFO, _crc8, _crc16, _flac_metadata, _flac_utf8, _parse_flac
from .mp3 import _mpeg_sync
from .ogg import _OGG_BOS, _OGG_EOS, _OggPage, _parse_opus
from .wav import _WAVE_ALAW, _WAVE_MULAW, _WAVE_PCM, _parse_wav

__all__ = ["silence"]

_OPUS_SILENCE = b"\xff\xfe"  # after the TOC byte: CELT with the silence flag (RFC 6716 4.3)
_OPUS_FRAME = 960  # 20 ms at 48 kHz: the TOC 0xF8 (CELT fullband, 20 ms, one frame)
_FLAC_BLOCK = 4096


class _Bits:
    """A big-endian bit writer."""

    def __init__(self) -> None:
        self.value = 0
        self.count = 0

    def put(self, value: int, bits: int) -> None:
        self.value = (self.value << bits) | (value & ((1 << bits) - 1))
        self.count += bits

    def bytes(self) -> bytes:
        pad = -self.count % 8
        return (self.value << pad).to_bytes((self.count + pad) // 8, "big")


def silence(
    response_format: str, seconds: float, *, like: bytes, sample_rate: int | None = None
) -> bytes:
    """A standalone file of ``response_format`` holding about ``seconds`` of silence, with the
    stream parameters of ``like`` (a file of that format), so ``SegmentJoiner`` joins it after it.

    ``sample_rate`` is needed only for headerless ``pcm``. Raises :class:`AudioJoinError` when
    ``like`` cannot be read or its layout has no silent form here (MP3 layers I/II, AAC with more
    than two channels, multichannel Opus).
    """
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError(f"seconds must be a positive number, got {seconds!r}.")
    fmt = response_format.strip().lower()
    builder = _BUILDERS.get(fmt)
    if builder is None:
        raise AudioJoinError(
            f"Cannot make {response_format!r} silence; use one of {', '.join(sorted(_BUILDERS))}."
        )
    return builder(bytes(like), seconds, sample_rate)


def _pcm(like: bytes, seconds: float, sample_rate: int | None) -> bytes:
    rate = sample_rate or 24_000
    return bytes(2 * max(1, round(seconds * rate)))


def _wav(like: bytes, seconds: float, sample_rate: int | None) -> bytes:
    fmt = _parse_wav(like, 0).fmt
    frames = max(1, round(seconds * fmt.rate))
    if fmt.tag == _WAVE_ALAW:
        zero = b"\xd5"
    elif fmt.tag == _WAVE_MULAW:
        zero = b"\xff"
    elif fmt.tag == _WAVE_PCM and fmt.bits <= 8:
        zero = b"\x80"  # 8-bit WAV is unsigned
    else:
        zero = b"\x00"
    data = zero * (fmt.block_align * frames)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt.chunk()
    body += b"data" + struct.pack("<I", len(data)) + data
    if len(data) & 1:
        body += b"\x00"
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _flac(like: bytes, seconds: float, sample_rate: int | None) -> bytes:
    info = _parse_flac(like, 0).info
    total = max(1, round(seconds * info.rate))
    frames = bytearray()
    number = 0
    left = total
    while left:
        block = min(_FLAC_BLOCK, left)
        # Fixed block size; sample rate and depth "from STREAMINFO"; independent channels.
        header = bytes([0xFF, 0xF8, 0x70, (info.channels - 1) << 4]) + _flac_utf8(number)
        header += (block - 1).to_bytes(2, "big")
        header += bytes([_crc8(header)])
        bits = _Bits()
        for _ in range(info.channels):
            bits.put(0, 8)  # zero padding bit, CONSTANT subframe, no wasted bits
            bits.put(0, info.bits)  # the constant: 0
        frame = header + bits.bytes()
        frames += frame + _crc16(frame).to_bytes(2, "big")
        number += 1
        left -= block
    streaminfo = bytearray(
        struct.pack(">HH", min(_FLAC_BLOCK, total), min(_FLAC_BLOCK, total)) + bytes(6)
    )
    packed = (info.rate << 44) | ((info.channels - 1) << 41) | ((info.bits - 1) << 36) | total
    streaminfo += packed.to_bytes(8, "big") + bytes(16)
    return b"fLaC" + _flac_metadata([(_FLAC_STREAMINFO, bytes(streaminfo))]) + bytes(frames)


def _mp3(like: bytes, seconds: float, sample_rate: int | None) -> bytes:
    found = _mpeg_sync(like, _id3v2_end(like), len(like))
    if found is None:
        raise AudioJoinError("The reference audio is not MP3: no MPEG audio frame was found.")
    pos, head = found
    if head.layer != 3:
        raise AudioJoinError(
            f"Cannot make silence for MPEG layer {head.layer} audio (layer 3 only)."
        )
    b1, b2, b3 = like[pos + 1], like[pos + 2], like[pos + 3]
    side_info = (
        (17 if head.channels == 1 else 32)
        if head.version == 1
        else (9 if head.channels == 1 else 17)
    )
    coef = 144 if head.version == 1 else 72
    rates = (
        (32, 40, 48, 56, 64, 80, 96, 112, 128)
        if head.version == 1
        else (8, 16, 24, 32, 40, 48, 56, 64, 80)
    )
    index, length = next(
        (i, coef * kbps * 1000 // head.sample_rate)
        for i, kbps in enumerate(rates, start=1)
        if coef * kbps * 1000 // head.sample_rate >= 4 + side_info
    )
    header = bytes([0xFF, b1 | 0x01, (index << 4) | (b2 & 0x0C), b3 & 0xC0])  # no CRC, no padding
    frame = header + bytes(length - 4)  # all-zero side info: no scale factors, no spectral data
    count = max(1, round(seconds * head.sample_rate / head.samples))
    return frame * count


def _aac(like: bytes, seconds: float, sample_rate: int | None) -> bytes:
    from .aac import _adts_frame

    start = _id3v2_end(like)
    first = _adts_frame(like, start)
    if first is None:
        raise AudioJoinError("The reference audio is not ADTS AAC: no ADTS frame was found.")
    rate, channels = first[1], first[2]
    bits = _Bits()
    elements = {1: [(0, False)], 2: [(1, True)]}.get(channels)
    if elements is None:
        raise AudioJoinError(
            f"Cannot make silence for {channels}-channel AAC (mono or stereo only)."
        )
    for element, pair in elements:
        bits.put(element, 3)  # ID_SCE or ID_CPE
        bits.put(0, 4)  # element_instance_tag
        if pair:
            bits.put(0, 1)  # common_window = 0: each channel has its own ics_info
        for _ in range(2 if pair else 1):
            bits.put(100, 8)  # global_gain (unused: no bands are coded)
            bits.put(0, 1 + 2 + 1 + 6 + 1)  # ics_info: long window, max_sfb 0, no prediction
            bits.put(0, 3)  # no pulse, TNS or gain-control data
    bits.put(7, 3)  # ID_END
    payload = bits.bytes()
    length = 7 + len(payload)
    header = bytes(
        [
            0xFF,
            (like[start + 1] & 0xF6) | 0x01,  # keep MPEG id; protection absent: no CRC
            like[start + 2],  # profile, sampling index, channel configuration (high bit)
            ((channels & 3) << 6) | (length >> 11),
            (length >> 3) & 0xFF,
            ((length & 7) << 5) | 0x1F,  # buffer fullness 0x7FF (variable rate)
            0xFC,  # ... and one raw data block
        ]
    )
    count = max(1, round(seconds * rate / 1024))
    return (header + payload) * count


def _opus(like: bytes, seconds: float, sample_rate: int | None) -> bytes:
    stream = _parse_opus(like, 0)
    channels, mapping = stream.head[9], stream.head[18]
    if mapping != 0 or channels > 2:
        raise AudioJoinError(
            f"Cannot make silence for {channels}-channel Opus (mapping {mapping}); mono or stereo only."
        )
    serial = (stream.header_pages[0].serial + 1) & 0xFFFFFFFF
    packet = bytes([0xF8 | (0x04 if channels == 2 else 0)]) + _OPUS_SILENCE
    vendor = b"venice_nb"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    pages = [
        _OggPage(_OGG_BOS, 0, serial, 0, bytes([len(stream.head)]), stream.head),
        _OggPage(0, 0, serial, 1, bytes([len(tags)]), tags),
    ]
    (pre_skip,) = struct.unpack_from("<H", stream.head, 10)
    count = max(1, round(seconds * 48_000 / _OPUS_FRAME))
    granule = pre_skip
    while count:
        n = min(count, 50)
        count -= n
        granule += n * _OPUS_FRAME
        flags = 0 if count else _OGG_EOS
        pages.append(
            _OggPage(flags, granule, serial, len(pages), bytes([len(packet)]) * n, packet * n)
        )
    return b"".join(page.encode() for page in pages)


_BUILDERS = {"aac": _aac, "flac": _flac, "mp3": _mp3, "opus": _opus, "pcm": _pcm, "wav": _wav}
