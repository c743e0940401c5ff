"""Helpers shared by several container formats: the error type, ID3v2 and trailing-tag
skipping, and segment names for error messages."""

from __future__ import annotations

import struct


class AudioJoinError(ValueError):
    """Per-segment audio could not be parsed or joined (corrupt, wrong format, mismatched)."""


def _id3v2_end(data: bytes, pos: int = 0) -> int:
    """Offset just past any ID3v2 tags starting at ``pos`` (``pos`` itself when there is none)."""
    while (
        len(data) >= pos + 10
        and data[pos : pos + 3] == b"ID3"
        and data[pos + 3] != 0xFF
        and all(b < 0x80 for b in data[pos + 6 : pos + 10])
    ):
        size = 0
        for b in data[pos + 6 : pos + 10]:
            size = (size << 7) | b
        footer = 10 if data[pos + 5] & 0x10 else 0
        pos += 10 + size + footer
    return min(pos, len(data))


def _trailing_tags_start(data: bytes, start: int) -> int:
    """Offset where trailing ID3v1 / APEv2 tags begin (``len(data)`` when there are none)."""
    end = len(data)
    changed = True
    while changed:
        changed = False
        if end - start >= 128 and data[end - 128 : end - 125] == b"TAG":
            end -= 128
            changed = True
        if end - start >= 32 and data[end - 32 : end - 24] == b"APETAGEX":
            size, flags = struct.unpack_from("<I4xI", data, end - 32 + 12)
            total = size + (32 if flags & 0x80000000 else 0)
            if 32 <= total <= end - start:
                end -= total
                changed = True
    return end


def _segment_name(index: int) -> str:
    return f"segment {index}" if index else "the audio"
