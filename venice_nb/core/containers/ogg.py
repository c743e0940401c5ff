"""Ogg Opus: Ogg page parsing and writing (with the Ogg CRC-32), Opus packet durations, the
Opus joiner and the finalizer that sets the EOS flag.

Written by hand on the standard library like the rest of :mod:`venice_nb.core.containers`:
the async core must not depend on numpy or FFmpeg.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ._common import AudioJoinError, _segment_name

_BITREV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32 (poly 0x04C11DB7, not reflected, init 0) computed at C speed via zlib.

    zlib's CRC-32 is the reflected form of the same polynomial, so feeding it bit-reversed bytes
    with a zero start state gives the bit-reversed Ogg checksum.
    """
    reflected = zlib.crc32(data.translate(_BITREV), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


_OGG_CONTINUED, _OGG_BOS, _OGG_EOS = 0x01, 0x02, 0x04
_OPUS_RATE = 48000


@dataclass
class _OggPage:
    flags: int
    granule: int
    serial: int
    sequence: int
    lacing: bytes
    body: bytes

    def encode(self) -> bytes:
        head = b"OggS" + struct.pack(
            "<BBqIIIB", 0, self.flags, self.granule, self.serial, self.sequence, 0, len(self.lacing)
        )
        page = bytearray(head + self.lacing + self.body)
        struct.pack_into("<I", page, 22, _ogg_crc(bytes(page)))
        return bytes(page)


def _ogg_pages(data: bytes, index: int) -> list[_OggPage]:
    name = _segment_name(index)
    pages: list[_OggPage] = []
    pos = 0
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS" or pos + 27 > len(data):
            raise AudioJoinError(f"{name} is not a valid Ogg stream: no page starts at byte {pos}.")
        version, flags, granule, serial, sequence, crc, count = struct.unpack_from(
            "<BBqIIIB", data, pos + 4
        )
        lacing = data[pos + 27 : pos + 27 + count]
        size = 27 + count + sum(lacing)
        if version != 0 or len(lacing) < count or pos + size > len(data):
            raise AudioJoinError(f"{name} ends with a truncated or unknown Ogg page at byte {pos}.")
        raw = bytearray(data[pos : pos + size])
        raw[22:26] = bytes(4)
        if _ogg_crc(bytes(raw)) != crc:
            raise AudioJoinError(
                f"{name} is corrupt: the Ogg page at byte {pos} fails its CRC check."
            )
        pages.append(
            _OggPage(flags, granule, serial, sequence, lacing, data[pos + 27 + count : pos + size])
        )
        pos += size
    if not pages:
        raise AudioJoinError(f"{name} is empty; an Ogg Opus stream was expected.")
    return pages


def _opus_packet_samples(packet_start: bytes) -> int:
    """Duration at 48 kHz of an Opus packet, from its TOC byte (and frame-count byte)."""
    if not packet_start:
        return 0
    toc = packet_start[0]
    config = toc >> 3
    if config < 12:
        frame = (480, 960, 1920, 2880)[config & 3]
    elif config < 16:
        frame = (480, 960)[config & 1]
    else:
        frame = (120, 240, 480, 960)[config & 3]
    code = toc & 3
    count = (
        1
        if code == 0
        else 2
        if code < 3
        else (packet_start[1] & 0x3F if len(packet_start) > 1 else 0)
    )
    return frame * count


@dataclass
class _OpusStream:
    head: bytes  # OpusHead packet
    header_pages: list[_OggPage]
    audio_pages: list[tuple[_OggPage, int]]  # (page, samples of the packets completed on it)
    last_granule: int  # original granule of the last page that has one (-1 if none)


def _parse_opus(data: bytes, index: int) -> _OpusStream:
    name = _segment_name(index)
    pages = _ogg_pages(data, index)
    serial = pages[0].serial
    if not pages[0].body.startswith(b"OpusHead") or len(pages[0].body) < 19:
        raise AudioJoinError(f"{name} is an Ogg stream but not Ogg Opus (no OpusHead packet).")
    header_pages: list[_OggPage] = []
    audio: list[tuple[_OggPage, int]] = []
    packets_done = 0
    packet_start = b""
    in_packet = False
    last_granule = -1
    for page in pages:
        if page.serial != serial:
            raise AudioJoinError(
                f"{name} holds more than one Ogg logical stream; one Opus stream per segment is needed."
            )
        done_before = packets_done
        samples = 0
        offset = 0
        for lace in page.lacing:
            if not in_packet:
                packet_start = page.body[offset : offset + 2]
                in_packet = True
            offset += lace
            if lace < 255:
                in_packet = False
                if packets_done >= 2:
                    samples += _opus_packet_samples(packet_start)
                packets_done += 1
        if done_before < 2:
            if packets_done > 2 or (packets_done == 2 and in_packet):
                raise AudioJoinError(
                    f"{name} puts audio on an Opus header page, which Ogg Opus forbids."
                )
            header_pages.append(page)
        else:
            audio.append((page, samples))
            if page.granule != -1:
                last_granule = page.granule
    if packets_done < 2:
        raise AudioJoinError(f"{name} is an Ogg Opus stream without its OpusTags header.")
    return _OpusStream(pages[0].body, header_pages, audio, last_granule)


class _OpusJoiner:
    def __init__(self) -> None:
        self.serial: int | None = None
        self.channels = 0
        self.mapping = 0
        self.pre_skip = 0
        self.trim = 0
        self.sequence = 0
        self.granule = 0  # 48 kHz samples of all packets emitted so far
        self.sample_rate: int | None = _OPUS_RATE

    @property
    def samples(self) -> int:
        return max(0, self.granule - self.pre_skip - self.trim)

    def feed(self, data: bytes, index: int, last: bool) -> bytes:
        stream = _parse_opus(data, index)
        channels, mapping = stream.head[9], stream.head[18]
        out = bytearray()
        if self.serial is None:
            self.serial = stream.header_pages[0].serial
            self.channels, self.mapping = channels, mapping
            (self.pre_skip,) = struct.unpack_from("<H", stream.head, 10)
            for i, page in enumerate(stream.header_pages):
                flags = (page.flags & _OGG_CONTINUED) | (_OGG_BOS if i == 0 else 0)
                out += self._page(flags, 0, page)
        elif (channels, mapping) != (self.channels, self.mapping):
            raise AudioJoinError(
                f"segment {index} is {channels}-channel Opus (mapping {mapping}) but segment 1 "
                f"was {self.channels}-channel (mapping {self.mapping}); request every segment "
                f"with the same model and format."
            )
        total = sum(samples for _, samples in stream.audio_pages)
        trim = 0
        if last and stream.audio_pages and stream.last_granule >= 0:
            trim = min(max(0, total - stream.last_granule), stream.audio_pages[-1][1])
        self.trim = trim
        for i, (page, samples) in enumerate(stream.audio_pages):
            final = last and i == len(stream.audio_pages) - 1
            granule = -1
            if samples:
                self.granule += samples
                granule = self.granule - (trim if final else 0)
            flags = (page.flags & _OGG_CONTINUED) | (_OGG_EOS if final else 0)
            out += self._page(flags, granule, page)
        return bytes(out)

    def _page(self, flags: int, granule: int, page: _OggPage) -> bytes:
        assert self.serial is not None
        encoded = _OggPage(
            flags, granule, self.serial, self.sequence, page.lacing, page.body
        ).encode()
        self.sequence += 1
        return encoded

    def finish(self) -> bytes:
        return b""


def _finalize_opus(data: bytes) -> bytes:
    pages = _ogg_pages(data, 0)
    if pages[-1].flags & _OGG_EOS:
        return data
    last = pages[-1]
    last.flags |= _OGG_EOS
    encoded = last.encode()
    return data[: len(data) - len(encoded)] + encoded
