"""WAV (RIFF/RF64): chunk parsing, the streaming WAV joiner and the finalizer that writes the
RIFF and data sizes.

Written by hand on the standard library like the rest of :mod:`venice_nb.core.containers`:
the async core must not depend on numpy or FFmpeg.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ._common import AudioJoinError, _segment_name

_WAVE_PCM, _WAVE_FLOAT, _WAVE_ALAW, _WAVE_MULAW, _WAVE_EXTENSIBLE = 1, 3, 6, 7, 0xFFFE
_UNKNOWN_SIZE = 0xFFFFFFFF


@dataclass(frozen=True)
class _WavFormat:
    tag: int
    channels: int
    rate: int
    bits: int
    block_align: int

    def chunk(self) -> bytes:
        """A canonical 16-byte ``fmt `` chunk body."""
        byte_rate = self.rate * self.block_align
        return struct.pack(
            "<HHIIHH", self.tag, self.channels, self.rate, byte_rate, self.block_align, self.bits
        )


@dataclass(frozen=True)
class _WavLayout:
    fmt: _WavFormat
    data_size_offset: int  # where the data chunk's 32-bit size sits
    data_start: int
    data_end: int


def _parse_wav(data: bytes, index: int) -> _WavLayout:
    name = _segment_name(index)
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        raise AudioJoinError(
            f"{name} is not a WAV file: it does not start with a RIFF/WAVE header."
        )
    ds64_data_size: int | None = None
    fmt: _WavFormat | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"ds64" and size >= 16:
            (ds64_data_size,) = struct.unpack_from("<Q", data, body + 8)
        elif chunk_id == b"fmt ":
            fmt = _parse_wav_fmt(data[body : body + size], name)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioJoinError(
                    f"{name} is a WAV file whose data chunk comes before its fmt chunk."
                )
            if size == _UNKNOWN_SIZE and ds64_data_size is not None:
                size = ds64_data_size
            if size in (0, _UNKNOWN_SIZE) or body + size > len(data):
                end = len(data)  # streamed WAV: samples run to the end of the file
            else:
                end = body + size
            end -= (end - body) % fmt.block_align  # whole sample frames only
            return _WavLayout(fmt, pos + 4, body, end)
        pos = body + size + (size & 1)
    raise AudioJoinError(f"{name} is a WAV file without a fmt and data chunk.")


def _parse_wav_fmt(body: bytes, name: str) -> _WavFormat:
    if len(body) < 16:
        raise AudioJoinError(
            f"{name} has a WAV fmt chunk of {len(body)} bytes (at least 16 needed)."
        )
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _WAVE_EXTENSIBLE and len(body) >= 26:
        (tag,) = struct.unpack_from("<H", body, 24)  # first two bytes of the SubFormat GUID
    if tag not in (_WAVE_PCM, _WAVE_FLOAT, _WAVE_ALAW, _WAVE_MULAW):
        raise AudioJoinError(
            f"{name} is a WAV file with format tag {tag:#x}; only PCM, float, A-law and mu-law "
            f"WAV can be joined."
        )
    if channels < 1 or block_align < 1 or rate < 1:
        raise AudioJoinError(
            f"{name} has an invalid WAV fmt chunk ({channels} channels, {rate} Hz)."
        )
    return _WavFormat(tag, channels, rate, bits, block_align)


def _wav_stream_header(fmt: _WavFormat) -> bytes:
    """A canonical 44-byte header whose RIFF and data sizes say "unknown" (0xFFFFFFFF)."""
    unknown = struct.pack("<I", _UNKNOWN_SIZE)
    return b"RIFF" + unknown + b"WAVEfmt " + struct.pack("<I", 16) + fmt.chunk() + b"data" + unknown


class _WavJoiner:
    def __init__(self) -> None:
        self.fmt: _WavFormat | None = None
        self.samples = 0
        self.sample_rate: int | None = None

    def feed(self, data: bytes, index: int, last: bool) -> bytes:
        layout = _parse_wav(data, index)
        samples = data[layout.data_start : layout.data_end]
        self.samples += len(samples) // layout.fmt.block_align
        if self.fmt is None:
            self.fmt = layout.fmt
            self.sample_rate = layout.fmt.rate
            return _wav_stream_header(layout.fmt) + samples
        if layout.fmt != self.fmt:
            a, b = self.fmt, layout.fmt
            raise AudioJoinError(
                f"segment {index} is {b.rate} Hz, {b.channels} channel(s), {b.bits}-bit WAV but "
                f"segment 1 was {a.rate} Hz, {a.channels} channel(s), {a.bits}-bit; request every "
                f"segment with the same model and format."
            )
        return samples

    def finish(self) -> bytes:
        return b""


def _finalize_wav(data: bytes) -> bytes:
    if data[:4] != b"RIFF":
        return data  # RF64 keeps its sizes in the ds64 chunk; nothing to patch here
    layout = _parse_wav(data, 0)
    size = layout.data_end - layout.data_start
    (declared,) = struct.unpack_from("<I", data, layout.data_size_offset)
    out = bytearray(data[: layout.data_end])
    struct.pack_into("<I", out, layout.data_size_offset, size)
    if size & 1:
        out += b"\x00"
    if declared == size:
        out += data[len(out) :]  # a correctly sized data chunk: keep the chunks after it
    struct.pack_into("<I", out, 4, min(len(out) - 8, _UNKNOWN_SIZE))
    return bytes(out)
