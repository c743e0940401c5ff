"""Long-text splitting and audio joining for ``stream_long_text``.

Long input is cut into sentence-aligned segments that each fit a model's budget; every segment is
synthesised by its own request, and the whole per-segment files are joined here into ONE valid
file of the requested format (mp3, wav, pcm, flac, opus, aac). Standard library only: this module
belongs to the async core, which must not depend on numpy or FFmpeg.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol

__all__ = [
    "DEFAULT_MAX_WORDS",
    "JOINABLE_FORMATS",
    "QWEN3_MAX_WORDS",
    "AudioJoinError",
    "SegmentJoiner",
    "finalize",
    "join_segments",
    "max_words_for_model",
    "sniff_format",
    "split_text",
]

DEFAULT_MAX_WORDS: int = 100
QWEN3_MAX_WORDS: int = 25

JOINABLE_FORMATS: tuple[str, ...] = ("aac", "flac", "mp3", "opus", "pcm", "wav")


class AudioJoinError(ValueError):
    """Per-segment audio could not be parsed or joined (corrupt, wrong format, mismatched)."""


def max_words_for_model(model: str) -> int:
    """Words per segment for ``model``: the Qwen3 voices cut off after ~25 words, others do not."""
    return QWEN3_MAX_WORDS if model.strip().lower().startswith("tts-qwen3") else DEFAULT_MAX_WORDS


# --------------------------------------------------------------------------------------------
# Text splitting
# --------------------------------------------------------------------------------------------

# Scripts written without spaces between words: kana, CJK ideographs, halfwidth katakana.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_ATOM_RE = re.compile(rf"[^\w\s]*[{_CJK}][^\w\s]*|[^{_CJK}]+")
_CLOSERS = "\"')]}»”’」』）】》"
_LATIN_ENDS = ".!?…"
_CJK_ENDS = "。！？｡"
_LATIN_CLAUSE = ",;:—–"
_CJK_CLAUSE = "，、；：､"
_DASHES = frozenset({"-", "--", "—", "–"})
# Abbreviations after which a period never ends a sentence.
_TITLES = frozenset(
    "mr mrs ms mx dr prof sr jr st rev fr gen col capt cpt lt sgt cmdr adm gov sen rep hon "
    "pres mt ft e.g i.e cf viz vs approx ca".split()
)
# Abbreviations that do not end a sentence when a number follows ("No. 5", "Fig. 3").
_NUMBERED = frozenset("no nos fig figs vol vols p pp ch chap sec art eq ref op ex".split())


@dataclass(frozen=True)
class _Atom:
    """One word (or one CJK character) and the separator that preceded it in the text."""

    text: str
    sep: str


def _atoms(text: str) -> list[_Atom]:
    atoms: list[_Atom] = []
    for token in text.split():
        for i, match in enumerate(_ATOM_RE.finditer(token)):
            atoms.append(_Atom(match.group(), "" if i else " "))
    return atoms


def _first_letter(text: str) -> str:
    for ch in text:
        if ch.isalnum():
            return ch
    return ""


def _is_sentence_end(atoms: list[_Atom], i: int) -> bool:
    atom = atoms[i]
    nxt = atoms[i + 1] if i + 1 < len(atoms) else None
    stripped = atom.text.rstrip(_CLOSERS)
    last = stripped[-1:]
    if last and last in _CJK_ENDS:
        return True
    if not last or last not in _LATIN_ENDS:
        return False
    if nxt is None:
        return True
    if nxt.sep != " ":
        return False
    if last in "!?":
        return True
    following = _first_letter(nxt.text)
    if following.islower():
        return False  # "e.g. this", "approx. ten", "wait... then"
    if last == "…" or stripped.endswith(".."):
        return True
    word = stripped[:-1].lstrip("\"'([{«“‘").lower()
    if word in _TITLES:
        return False
    if word in _NUMBERED and following.isdigit():
        return False
    return not (len(word) == 1 and word.isalpha() and stripped[-2:-1].isupper())  # initials


def _is_clause_end(atoms: list[_Atom], i: int) -> bool:
    atom = atoms[i]
    if atom.text in _DASHES:
        return True
    last = atom.text.rstrip(_CLOSERS)[-1:]
    if last and last in _CJK_CLAUSE:
        return True
    nxt_sep = atoms[i + 1].sep if i + 1 < len(atoms) else " "
    return bool(last) and last in _LATIN_CLAUSE and nxt_sep == " "


def _groups(atoms: list[_Atom], ends: list[bool]) -> list[list[_Atom]]:
    groups: list[list[_Atom]] = []
    current: list[_Atom] = []
    for atom, end in zip(atoms, ends, strict=True):
        current.append(atom)
        if end:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _chars(unit: Sequence[_Atom]) -> int:
    return sum(len(a.text) for a in unit) + sum(len(a.sep) for a in unit[1:])


def split_text(text: str, *, max_words: int, max_chars: int = 4096) -> list[str]:
    """Sentence-aligned segments, each <= max_words words and <= max_chars characters, in order, none empty.

    Whole sentences are packed greedily; a sentence over the budget is cut at clause punctuation,
    then between words, and a word longer than ``max_chars`` between characters. Whitespace is
    normalised to single spaces; CJK ideographs and kana count as one word each because those
    scripts do not put spaces between words. Segments cut at a space rejoin with one space, cuts
    inside space-less CJK text rejoin with nothing.
    """
    if max_words < 1 or max_chars < 1:
        raise ValueError(
            f"max_words ({max_words}) and max_chars ({max_chars}) must both be at least 1."
        )
    atoms = _atoms(text)
    if not atoms:
        return []

    def fits(unit: Sequence[_Atom]) -> bool:
        return len(unit) <= max_words and _chars(unit) <= max_chars

    # (atoms, starts_fresh): an over-long sentence, and an over-long clause within it, starts a
    # new segment, so cuts fall on sentence and clause boundaries wherever the budget allows.
    units: list[tuple[list[_Atom], bool]] = []
    sentence_ends = [_is_sentence_end(atoms, i) for i in range(len(atoms))]
    for sentence in _groups(atoms, sentence_ends):
        if fits(sentence):
            units.append((sentence, False))
            continue
        clause_ends = [_is_clause_end(sentence, i) for i in range(len(sentence))]
        fresh = True
        for clause in _groups(sentence, clause_ends):
            if fits(clause):
                units.append((clause, fresh))
                fresh = False
                continue
            fresh = True  # an over-long clause also starts its own segment
            for atom in clause:
                for start in range(0, max(len(atom.text), 1), max_chars):
                    piece = atom.text[start : start + max_chars]
                    units.append(([_Atom(piece, atom.sep if start == 0 else "")], fresh))
                    fresh = False

    segments: list[str] = []
    current: list[_Atom] = []
    chars = 0
    for unit, fresh in units:
        size = _chars(unit)
        if current and (
            fresh
            or len(current) + len(unit) > max_words
            or chars + len(unit[0].sep) + size > max_chars
        ):
            segments.append(_render(current))
            current, chars = [], 0
        chars += size + (len(unit[0].sep) if current else 0)
        current.extend(unit)
    if current:
        segments.append(_render(current))
    return segments


def _render(atoms: Sequence[_Atom]) -> str:
    return atoms[0].text + "".join(a.sep + a.text for a in atoms[1:])


# --------------------------------------------------------------------------------------------
# Shared helpers: tags and checksums
# --------------------------------------------------------------------------------------------


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


_BITREV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32 (poly 0x04C11DB7, not reflected, init 0) computed at C speed via zlib.

    zlib's CRC-32 is the reflected form of the same polynomial, so feeding it bit-reversed bytes
    with a zero start state gives the bit-reversed Ogg checksum.
    """
    reflected = zlib.crc32(data.translate(_BITREV), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def _segment_name(index: int) -> str:
    return f"segment {index}" if index else "the audio"


# --------------------------------------------------------------------------------------------
# MP3 (MPEG audio frames)
# --------------------------------------------------------------------------------------------

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


def _has_vbr_tag(data: bytes, pos: int, head: _MpegHeader) -> bool:
    """True if the frame at ``pos`` is a Xing/Info (LAME) or VBRI (Fraunhofer) header frame."""
    if head.layer != 3:
        return False
    if head.version == 1:
        side_info = 17 if head.channels == 1 else 32
    else:
        side_info = 9 if head.channels == 1 else 17
    xing = pos + 4 + (2 if head.protected else 0) + side_info
    return data[xing : xing + 4] in (b"Xing", b"Info") or data[pos + 36 : pos + 40] == b"VBRI"


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


# --------------------------------------------------------------------------------------------
# AAC (ADTS)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# WAV (RIFF)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# FLAC
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Ogg Opus
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# PCM
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Public joining API
# --------------------------------------------------------------------------------------------


class _FormatJoiner(Protocol):
    @property
    def samples(self) -> int: ...

    @property
    def sample_rate(self) -> int | None: ...

    def feed(self, data: bytes, index: int, last: bool) -> bytes: ...

    def finish(self) -> bytes: ...


class SegmentJoiner:
    """Join whole per-segment audio files of one format into one stream, incrementally.

    Call :meth:`feed` once per segment, in order, with the segment's whole file, and emit what it
    returns; then emit :meth:`finish`. Headers whose sizes are unknown while streaming (WAV sizes,
    FLAC total samples) are written as "unknown" and can be fixed afterwards by :func:`finalize`.
    Pass ``last=True`` with the final segment so an Ogg Opus stream ends with an EOS page carrying
    the final segment's end trimming. Without it the last page lacks EOS: FFmpeg (and so Chromium)
    still decodes every packet to the end of the data, and by RFC 7845 only the end trimming of
    the final packet (under 20 ms of encoder padding) is lost; :func:`finalize` adds the flag.
    """

    def __init__(self, response_format: str, *, sample_rate: int | None = None) -> None:
        fmt = response_format.strip().lower()
        if fmt not in JOINABLE_FORMATS:
            raise AudioJoinError(
                f"Cannot join {response_format!r} audio; use one of {', '.join(JOINABLE_FORMATS)}."
            )
        self.response_format = fmt
        self._impl: _FormatJoiner
        if fmt == "mp3":
            self._impl = _Mp3Joiner()
        elif fmt == "aac":
            self._impl = _AacJoiner()
        elif fmt == "wav":
            self._impl = _WavJoiner()
        elif fmt == "flac":
            self._impl = _FlacJoiner()
        elif fmt == "opus":
            self._impl = _OpusJoiner()
        else:
            self._impl = _PcmJoiner(sample_rate)
        self._given_rate = sample_rate
        self._segments = 0
        self._closed = False
        self._ended = False

    @property
    def segments(self) -> int:
        """Number of segments fed so far."""
        return self._segments

    @property
    def samples(self) -> int:
        """Samples per channel emitted so far (Opus: at 48 kHz; MP3/AAC: including encoder delay)."""
        return self._impl.samples

    @property
    def sample_rate(self) -> int | None:
        """Sample rate of the joined audio (from the first header; for PCM the one given)."""
        return self._impl.sample_rate or self._given_rate

    @property
    def duration(self) -> float | None:
        """Seconds of audio emitted so far, or None when the sample rate is unknown (PCM)."""
        rate = self.sample_rate
        return self.samples / rate if rate else None

    def feed(self, data: bytes, *, last: bool = False) -> bytes:
        """Take the next segment's whole file and return the bytes to emit now."""
        if self._closed or self._ended:
            raise RuntimeError("SegmentJoiner.feed() called after finish() or after last=True.")
        self._segments += 1
        if not data and self.response_format != "pcm":
            raise AudioJoinError(
                f"segment {self._segments} is empty; the server returned no audio."
            )
        self._ended = last
        return self._impl.feed(bytes(data), self._segments, last)

    def finish(self) -> bytes:
        """Trailing bytes to emit after the last segment (often empty)."""
        if self._closed:
            return b""
        self._closed = True
        return self._impl.finish()


def join_segments(
    response_format: str, parts: Sequence[bytes], *, sample_rate: int | None = None
) -> bytes:
    """Whole joined file with exact headers (sizes, sample counts): for when all parts are in memory."""
    if not parts:
        raise AudioJoinError("There are no segments to join; pass at least one audio file.")
    joiner = SegmentJoiner(response_format, sample_rate=sample_rate)
    chunks = [joiner.feed(part, last=i == len(parts) - 1) for i, part in enumerate(parts)]
    chunks.append(joiner.finish())
    return finalize(joiner.response_format, b"".join(chunks))


def finalize(response_format: str, data: bytes) -> bytes:
    """Patch "unknown length" headers of a streamed join to exact values.

    WAV gets its RIFF and data sizes, FLAC its STREAMINFO total samples and block/frame size
    bounds, Ogg Opus an EOS flag on its last page; other formats are returned unchanged.
    """
    fmt = response_format.strip().lower()
    if fmt == "wav":
        return _finalize_wav(data)
    if fmt == "flac":
        return _finalize_flac(data)
    if fmt == "opus":
        return _finalize_opus(data)
    return data


def sniff_format(data: bytes) -> str | None:
    """Audio container named by the magic bytes, or None if unknown.

    Answers 'mp3', 'wav', 'flac', 'opus' (Ogg Opus), 'ogg' (other Ogg, e.g. Vorbis), 'aac' (ADTS
    or ADIF), 'm4a' (MP4 audio brands), 'mp4' (other ISO media), 'webm' or 'mkv' (Matroska).
    Headerless PCM cannot be recognised.
    """
    start = _id3v2_end(data)
    body = data[start:]
    if body[:4] == b"fLaC":
        return "flac"
    if start == 0:
        if data[:4] in (b"RIFF", b"RF64", b"BW64") and data[8:12] == b"WAVE":
            return "wav"
        if data[:4] == b"OggS":
            return "opus" if b"OpusHead" in data[28:64] else "ogg"
        if data[4:8] == b"ftyp":
            brand = data[8:12]
            return "m4a" if brand in (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ") else "mp4"
        if data[4:8] in (b"moov", b"mdat"):
            return "mp4"
        if data[:4] == b"\x1a\x45\xdf\xa3":
            return "webm" if b"webm" in data[:64] else "mkv"
    if body[:4] == b"ADIF" or (_adts_frame(body, 0) is not None and _adts_confirmed(body)):
        return "aac"
    if _mpeg_frame_at(body, 0, len(body)) is not None:
        return "mp3"
    if start and _mpeg_sync(data, start, min(len(data), start + 4096)) is not None:
        return "mp3"  # ID3v2 followed by padding before the first frame
    return None


def _adts_confirmed(data: bytes) -> bool:
    """An ADTS header at 0 followed by another one (or by the end of a short sample)."""
    frame = _adts_frame(data, 0)
    if frame is None:
        return False
    if frame[0] + 7 > len(data):
        return True
    return _adts_frame(data, frame[0]) is not None
