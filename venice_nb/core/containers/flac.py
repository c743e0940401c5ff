"""FLAC: STREAMINFO, frame header parsing, CRC-8/CRC-16 (with GF(2) shift tables), frame
rewriting to sample-numbered headers, the FLAC joiner and its finalizer.

Written by hand on the standard library like the rest of :mod:`venice_nb.core.containers`:
the async core must not depend on numpy or FFmpeg.
The CRCs are computed here because the standard library has neither FLAC's CRC-8 nor its
CRC-16 (``binascii.crc_hqx`` is CRC-CCITT, a different polynomial).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

from ._common import AudioJoinError, _id3v2_end, _segment_name

# ---- CRC-8 and CRC-16 -----------------------------------------------------------------------


def _crc_table(poly: int, width: int) -> list[int]:
    top = 1 << (width - 1)
    mask = (1 << width) - 1
    table = []
    for byte in range(256):
        crc = byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) if crc & top else (crc << 1)
        table.append(crc & mask)
    return table


_CRC8 = _crc_table(0x07, 8)
_CRC16 = _crc_table(0x8005, 16)


def _crc8(data: bytes) -> int:
    crc = 0
    for b in data:
        crc = _CRC8[crc ^ b]
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ b]
    return crc


def _gf2_mulmod16(a: int, b: int) -> int:
    """Product of two polynomials over GF(2) modulo the FLAC CRC-16 polynomial x^16+x^15+x^2+1."""
    result = 0
    while b:
        if b & 1:
            result ^= a
        b >>= 1
        a <<= 1
        if a & 0x10000:
            a ^= 0x18005
    return result


# x^(8 * 2^k) mod P for k = 0..39: multiplying by these advances a CRC over 2^k zero bytes.
_CRC16_ZERO_POWERS = [1 << 8]
for _ in range(39):
    _CRC16_ZERO_POWERS.append(_gf2_mulmod16(_CRC16_ZERO_POWERS[-1], _CRC16_ZERO_POWERS[-1]))


@cache
def _crc16_zero_tables(k: int) -> tuple[list[int], list[int]]:
    """Byte tables of "multiply by x^(8 * 2^k) mod P", a linear map of the 16-bit CRC."""
    basis = []
    value = _CRC16_ZERO_POWERS[k]
    for _ in range(16):
        basis.append(value)
        value <<= 1
        if value & 0x10000:
            value ^= 0x18005
    low, high = [0] * 256, [0] * 256
    for i in range(1, 256):
        bit = i & -i
        low[i] = low[i ^ bit] ^ basis[bit.bit_length() - 1]
        high[i] = high[i ^ bit] ^ basis[bit.bit_length() + 7]
    return low, high


def _crc16_shift(crc: int, nbytes: int) -> int:
    """CRC-16 of (message + ``nbytes`` zero bytes) given the message's CRC: crc * x^(8n) mod P."""
    k = 0
    while nbytes:
        if nbytes & 1:
            low, high = _crc16_zero_tables(k)
            crc = low[crc & 0xFF] ^ high[crc >> 8]
        nbytes >>= 1
        k += 1
    return crc


# ---- Metadata, frames and joining -----------------------------------------------------------

_FLAC_BLOCKSIZES = {1: 192, 2: 576, 3: 1152, 4: 2304, 5: 4608}
_FLAC_BLOCKSIZES.update({code: 256 << (code - 8) for code in range(8, 16)})
_FLAC_RATES = {1: 88200, 2: 176400, 3: 192000, 4: 8000, 5: 16000, 6: 22050, 7: 24000}
_FLAC_RATES.update({8: 32000, 9: 44100, 10: 48000, 11: 96000})
_FLAC_BITS = {1: 8, 2: 12, 4: 16, 5: 20, 6: 24, 7: 32}
_FLAC_STREAMINFO, _FLAC_PADDING, _FLAC_APPLICATION, _FLAC_SEEKTABLE = 0, 1, 2, 3
_FLAC_VORBIS_COMMENT, _FLAC_CUESHEET, _FLAC_PICTURE = 4, 5, 6
# Metadata copied from the first segment; SEEKTABLE and CUESHEET hold offsets that would be wrong.
_FLAC_KEEP = frozenset({_FLAC_STREAMINFO, _FLAC_APPLICATION, _FLAC_VORBIS_COMMENT, _FLAC_PICTURE})


@dataclass
class _StreamInfo:
    min_block: int
    max_block: int
    min_frame: int
    max_frame: int
    rate: int
    channels: int
    bits: int
    total: int
    md5: bytes

    @classmethod
    def parse(cls, body: bytes) -> _StreamInfo:
        min_block, max_block = struct.unpack_from(">HH", body)
        min_frame = int.from_bytes(body[4:7], "big")
        max_frame = int.from_bytes(body[7:10], "big")
        packed = int.from_bytes(body[10:18], "big")
        return cls(
            min_block,
            max_block,
            min_frame,
            max_frame,
            packed >> 44,
            ((packed >> 41) & 7) + 1,
            ((packed >> 36) & 31) + 1,
            packed & 0xFFFFFFFFF,
            body[18:34],
        )

    def pack(self) -> bytes:
        packed = (self.rate << 44) | ((self.channels - 1) << 41) | ((self.bits - 1) << 36)
        packed |= min(self.total, 0xFFFFFFFFF)
        return (
            struct.pack(">HH", self.min_block, self.max_block)
            + min(self.min_frame, 0xFFFFFF).to_bytes(3, "big")
            + min(self.max_frame, 0xFFFFFF).to_bytes(3, "big")
            + packed.to_bytes(8, "big")
            + self.md5
        )


@dataclass(frozen=True)
class _FlacFrameHeader:
    length: int  # header bytes including the CRC-8
    number_length: int  # bytes of the coded frame/sample number
    blocksize: int
    number: int
    variable: bool


def _flac_utf8(value: int) -> bytes:
    """FLAC's UTF-8-like coding of a frame or sample number (up to 36 bits, 7 bytes)."""
    if value < 0x80:
        return bytes([value])
    for extra, limit in ((1, 11), (2, 16), (3, 21), (4, 26), (5, 31), (6, 36)):
        if value < 1 << limit:
            out = [0x80 | ((value >> (6 * i)) & 0x3F) for i in range(extra)]
            lead_bits = (0xFF00 >> (extra + 1)) & 0xFF
            return bytes([lead_bits | (value >> (6 * extra)), *out[::-1]])
    raise AudioJoinError(f"FLAC sample number {value} does not fit in 36 bits.")


def _flac_frame_header(data: bytes, pos: int, info: _StreamInfo) -> _FlacFrameHeader | None:
    """Parse and CRC-check the frame header at ``pos``; None unless it is valid for ``info``."""
    if pos + 6 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xFE != 0xF8:
        return None
    b2, b3 = data[pos + 2], data[pos + 3]
    block_code, rate_code = b2 >> 4, b2 & 15
    channel_code, bits_code = b3 >> 4, (b3 >> 1) & 7
    if block_code == 0 or rate_code == 15 or channel_code > 10 or bits_code == 3 or b3 & 1:
        return None
    variable = bool(data[pos + 1] & 1)
    p = pos + 4
    lead = data[p]
    ones = 0
    while ones < 8 and lead & (0x80 >> ones):
        ones += 1
    if ones == 1 or ones == 8 or ones > (7 if variable else 6):
        return None  # a continuation byte as lead, or too long for a frame/sample number
    extra = max(0, ones - 1)
    number = lead & (0x7F >> ones)
    if p + 1 + extra > len(data):
        return None
    for b in data[p + 1 : p + 1 + extra]:
        if b & 0xC0 != 0x80:
            return None
        number = (number << 6) | (b & 0x3F)
    p += 1 + extra
    if block_code == 6:
        blocksize = data[p] + 1 if p < len(data) else 0
        p += 1
    elif block_code == 7:
        blocksize = int.from_bytes(data[p : p + 2], "big") + 1
        p += 2
    else:
        blocksize = _FLAC_BLOCKSIZES[block_code]
    if rate_code == 12:
        rate = data[p] * 1000 if p < len(data) else 0
        p += 1
    elif rate_code in (13, 14):
        rate = int.from_bytes(data[p : p + 2], "big") * (1 if rate_code == 13 else 10)
        p += 2
    else:
        rate = _FLAC_RATES.get(rate_code, info.rate)
    if p >= len(data) or _crc8(data[pos:p]) != data[p]:
        return None
    channels = channel_code + 1 if channel_code < 8 else 2
    bits = _FLAC_BITS.get(bits_code, info.bits)
    if rate != info.rate or channels != info.channels or bits != info.bits:
        return None
    return _FlacFrameHeader(p + 1 - pos, extra + 1, blocksize, number, variable)


@dataclass
class _FlacParts:
    info: _StreamInfo
    metadata: list[tuple[int, bytes]]  # (block type, body) in file order
    frames: list[tuple[int, int, _FlacFrameHeader]]  # (start, end, header)


def _parse_flac(data: bytes, index: int) -> _FlacParts:
    name = _segment_name(index)
    start = _id3v2_end(data)
    if data[start : start + 4] != b"fLaC":
        raise AudioJoinError(f"{name} is not a FLAC file: it does not start with 'fLaC'.")
    pos = start + 4
    metadata: list[tuple[int, bytes]] = []
    while True:
        if pos + 4 > len(data):
            raise AudioJoinError(f"{name} is a truncated FLAC file (metadata runs past the end).")
        flags = data[pos]
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        metadata.append((flags & 0x7F, data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
        if flags & 0x80:
            break
    if metadata[0][0] != _FLAC_STREAMINFO or len(metadata[0][1]) < 34:
        raise AudioJoinError(f"{name} is a FLAC file whose first metadata block is not STREAMINFO.")
    info = _StreamInfo.parse(metadata[0][1])
    end = len(data)
    frames: list[tuple[int, int, _FlacFrameHeader]] = []
    head = _flac_frame_header(data, pos, info)
    if head is None:
        if pos >= end:
            return _FlacParts(info, metadata, frames)
        raise AudioJoinError(f"{name} is a FLAC file with no valid audio frame after its metadata.")
    sync = b"\xff\xf9" if head.variable else b"\xff\xf8"
    while True:
        # The next frame is the next sync code whose header passes its CRC-8 and carries the
        # frame/sample number that must follow this frame: a false sync inside audio data
        # cannot meet all three.
        expected = head.number + (head.blocksize if head.variable else 1)
        probe = pos + head.length + 3
        nxt: _FlacFrameHeader | None = None
        while nxt is None:
            probe = data.find(sync, probe)
            if probe < 0:
                break
            nxt = _flac_frame_header(data, probe, info)
            if nxt is None or nxt.number != expected:
                nxt = None
                probe += 1
        if nxt is None:
            frames.append((pos, _flac_last_frame_end(data, pos, head), head))
            return _FlacParts(info, metadata, frames)
        frames.append((pos, probe, head))
        pos, head = probe, nxt


def _flac_last_frame_end(data: bytes, pos: int, head: _FlacFrameHeader) -> int:
    """End of the final frame: end of data, minus a trailing ID3v1 tag if the CRC-16 agrees."""
    end = len(data)
    if end - 128 > pos + head.length and data[end - 128 : end - 125] == b"TAG":
        if _crc16(data[pos : end - 130]) == int.from_bytes(data[end - 130 : end - 128], "big"):
            return end - 128
    return end


def _flac_rewrite_frame(
    data: bytes, start: int, end: int, head: _FlacFrameHeader, sample: int
) -> bytes:
    """The frame with a variable-blocksize header coding ``sample``, CRC-8 and CRC-16 updated."""
    old_header = data[start : start + head.length]
    fixed = bytes([0xFF, 0xF9, old_header[2], old_header[3]])
    tail = old_header[4 + head.number_length : -1]
    new_header = fixed + _flac_utf8(sample) + tail
    new_header += bytes([_crc8(new_header)])
    if new_header == old_header:
        return data[start:end]
    body_len = end - 2 - (start + head.length)
    old_crc = int.from_bytes(data[end - 2 : end], "big")
    new_crc = old_crc ^ _crc16_shift(_crc16(old_header) ^ _crc16(new_header), body_len)
    return new_header + data[start + head.length : end - 2] + new_crc.to_bytes(2, "big")


def _flac_metadata(blocks: list[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for i, (kind, body) in enumerate(blocks):
        last = 0x80 if i == len(blocks) - 1 else 0
        out += bytes([last | kind]) + len(body).to_bytes(3, "big") + body
    return bytes(out)


class _FlacJoiner:
    def __init__(self) -> None:
        self.info: _StreamInfo | None = None
        self.samples = 0
        self.sample_rate: int | None = None

    def feed(self, data: bytes, index: int, last: bool) -> bytes:
        parts = _parse_flac(data, index)
        out = bytearray()
        if self.info is None:
            self.info = parts.info
            self.sample_rate = parts.info.rate
            # Sizes of frames still to come are unknown: the widest legal block-size range
            # keeps every decoder's "blocksize > max" check happy until finalize() tightens it.
            streamed = _StreamInfo(
                16,
                65535,
                0,
                0,
                parts.info.rate,
                parts.info.channels,
                parts.info.bits,
                0,
                bytes(16),
            )
            blocks = [(_FLAC_STREAMINFO, streamed.pack())]
            blocks += [(k, b) for k, b in parts.metadata[1:] if k in _FLAC_KEEP]
            out += b"fLaC" + _flac_metadata(blocks)
        else:
            a, b = self.info, parts.info
            if (a.rate, a.channels, a.bits) != (b.rate, b.channels, b.bits):
                raise AudioJoinError(
                    f"segment {index} is {b.rate} Hz, {b.channels} channel(s), {b.bits}-bit FLAC "
                    f"but segment 1 was {a.rate} Hz, {a.channels} channel(s), {a.bits}-bit; "
                    f"request every segment with the same model and format."
                )
        for start, end, head in parts.frames:
            out += _flac_rewrite_frame(data, start, end, head, self.samples)
            self.samples += head.blocksize
        return bytes(out)

    def finish(self) -> bytes:
        return b""


def _finalize_flac(data: bytes) -> bytes:
    parts = _parse_flac(data, 0)
    info = parts.info
    sizes = [head.blocksize for _, _, head in parts.frames]
    lengths = [end - start for start, end, _ in parts.frames]
    info.total = sum(sizes)
    if sizes:
        body_sizes = sizes[:-1] or sizes
        info.min_block = max(16, min(body_sizes))
        info.max_block = max(info.min_block, max(sizes))
        info.min_frame, info.max_frame = min(lengths), max(lengths)
    audio_start = parts.frames[0][0] if parts.frames else len(data)
    start = _id3v2_end(data)
    blocks = [(_FLAC_STREAMINFO, info.pack()), *parts.metadata[1:]]
    return data[:start] + b"fLaC" + _flac_metadata(blocks) + data[audio_start:]
