"""Headerless PCM (signed 16-bit little-endian mono): the PCM joiner."""

from __future__ import annotations


class _PcmJoiner:
    """Headerless signed 16-bit little-endian mono: plain concatenation of whole samples."""

    def __init__(self, sample_rate: int | None) -> None:
        self.samples = 0
        self.sample_rate = sample_rate

    def feed(self, data: bytes, index: int, last: bool) -> bytes:
        # An odd trailing byte is half a sample; passing it on would misalign every later one.
        whole = len(data) & ~1
        self.samples += whole // 2
        return data[:whole]

    def finish(self) -> bytes:
        return b""
