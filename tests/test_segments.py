"""Long-text splitting and per-format audio joining, proven with FFmpeg decoding real audio."""

from __future__ import annotations

import io
import itertools
import re
import struct
import wave
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testkit.audio_fixtures import (
    DURATIONS,
    RATE,
    decode,
    decode_samples,
    encode,
    encode_with,
    flac_block_types,
    flac_streaminfo,
    id3v1,
    ogg_pages,
    segments,
    tone,
)
from venice_nb.core.segments import (
    DEFAULT_MAX_WORDS,
    QWEN3_MAX_WORDS,
    AudioJoinError,
    SegmentJoiner,
    finalize,
    join_segments,
    max_words_for_model,
    sniff_format,
    split_text,
)

FORMATS = ("mp3", "wav", "pcm", "flac", "opus", "aac")


def normalised(text: str) -> str:
    return " ".join(text.split())


# ---- splitting -------------------------------------------------------------------------------


def test_qwen3_models_get_the_short_budget() -> None:
    assert max_words_for_model("tts-qwen3-0-6b") == QWEN3_MAX_WORDS == 25
    assert max_words_for_model("tts-qwen3-1-7b") == 25
    assert max_words_for_model("tts-kokoro") == DEFAULT_MAX_WORDS == 100
    assert max_words_for_model("tts-xai-v1") == 100


def test_whole_sentences_are_packed_greedily() -> None:
    text = "One two three. Four five.  Six seven eight nine.\nTen."
    assert split_text(text, max_words=5) == [
        "One two three. Four five.",
        "Six seven eight nine. Ten.",
    ]
    assert split_text(text, max_words=100) == [normalised(text)]


def test_abbreviations_and_initials_do_not_end_sentences() -> None:
    # A false break after "Dr." or "Mr." would let "It rained. Dr. Smith met Mr." fill six words.
    assert split_text("It rained. Dr. Smith met Mr. Jones.", max_words=6) == [
        "It rained.",
        "Dr. Smith met Mr. Jones.",
    ]
    assert split_text("Yes. We use e.g. apples here.", max_words=5) == [
        "Yes.",
        "We use e.g. apples here.",
    ]
    assert split_text("Go. See Fig. 3 for it.", max_words=5) == ["Go.", "See Fig. 3 for it."]
    assert split_text("Hi. J. R. R. Tolkien wrote.", max_words=5) == [
        "Hi.",
        "J. R. R. Tolkien wrote.",
    ]


def test_sentence_ends_with_quotes_questions_and_ellipses() -> None:
    text = 'He said "Stop." Then he left! Why? Well... we waited. The end…'
    assert split_text(text, max_words=3) == [
        'He said "Stop."',
        "Then he left!",
        "Why?",
        "Well... we waited.",
        "The end…",
    ]


def test_a_sentence_over_budget_is_cut_at_clauses_then_words() -> None:
    text = (
        "Before the storm, which nobody expected, the village slept; "
        "then the wind rose and rose and rose and rose and rose again. Done."
    )
    assert split_text(text, max_words=6) == [
        "Before the storm, which nobody expected,",
        "the village slept;",
        "then the wind rose and rose",
        "and rose and rose and rose",
        "again. Done.",
    ]
    assert split_text(text, max_words=100, max_chars=70) == [
        "Before the storm, which nobody expected, the village slept;",
        "then the wind rose and rose and rose and rose and rose again. Done.",
    ]


def test_two_thousand_words_with_the_qwen3_budget() -> None:
    rng = np.random.default_rng(7)
    vocabulary = (
        "the a river stone quiet bright over under Dr. e.g. city light, story; walked".split()
    )
    sentences = []
    for _ in range(160):
        n = int(rng.integers(3, 40))
        words = [str(w) for w in rng.choice(vocabulary, n)]
        sentences.append(" ".join(words).capitalize() + str(rng.choice([".", "!", "?"])))
    text = "  ".join(sentences)
    while len(text.split()) < 2000:
        text += " " + sentences[len(text) % len(sentences)]
    budget = max_words_for_model("tts-qwen3-0-6b")
    parts = split_text(text, max_words=budget)
    assert len(text.split()) >= 2000
    assert all(0 < len(p.split()) <= 25 for p in parts)
    assert " ".join(parts) == normalised(text)


def test_cjk_text_splits_at_cjk_punctuation_and_counts_characters() -> None:
    text = "今天天气很好。我们去公园散步吧！你觉得怎么样？好的，我们走吧。"
    parts = split_text(text, max_words=8)
    assert parts == ["今天天气很好。", "我们去公园散步吧！", "你觉得怎么样？", "好的，我们走吧。"]
    assert "".join(parts) == text
    # Each ideograph counts as a word; punctuation rides along with the character before it.
    assert split_text("好的，我们走吧。", max_words=3) == ["好的，", "我们走", "吧。"]


def test_text_without_spaces_or_punctuation_falls_back_to_characters() -> None:
    text = "あ" * 50
    parts = split_text(text, max_words=1000, max_chars=20)
    assert [len(p) for p in parts] == [20, 20, 10]
    long_word = "x" * 45
    assert split_text(f"go {long_word} now", max_words=100, max_chars=20) == [
        "go",
        "x" * 20,
        "x" * 20,
        "x" * 5 + " now",
    ]


def test_empty_text_and_bad_budgets() -> None:
    assert split_text(" \n\t ", max_words=5) == []
    with pytest.raises(ValueError, match="max_words"):
        split_text("hello", max_words=0)
    with pytest.raises(ValueError, match="max_chars"):
        split_text("hello", max_words=5, max_chars=0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["word", "Dr.", "end.", "why?", "no!", "a,", "b;", "—", "e.g.", "日本語。", "\n", "  "]
        ),
        max_size=80,
    ),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=4, max_value=60),
)
def test_segments_respect_budgets_and_lose_nothing(
    pieces: list[str], words: int, chars: int
) -> None:
    text = " ".join(pieces)
    parts = split_text(text, max_words=words, max_chars=chars)
    assert all(p and p == p.strip() and len(p) <= chars for p in parts)
    assert all(len(p.split()) <= words for p in parts)
    assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", text)
    if not re.search(r"[\u3040-\u9fff]", text):
        assert " ".join(parts) == normalised(text)


# ---- joining: fixtures -----------------------------------------------------------------------


@cache
def parts_of(fmt: str) -> tuple[tuple[bytes, ...], tuple[int, ...]]:
    parts, counts = segments(fmt)
    return tuple(parts), tuple(counts)


def streamed(fmt: str, parts: tuple[bytes, ...] | list[bytes], **kwargs: bool) -> bytes:
    joiner = SegmentJoiner(fmt)
    out = [
        joiner.feed(part, last=bool(kwargs.get("last")) and i == len(parts) - 1)
        for i, part in enumerate(parts)
    ]
    return b"".join(out) + joiner.finish()


def three_ways(fmt: str) -> dict[str, bytes]:
    parts, _ = parts_of(fmt)
    stream = streamed(fmt, parts)
    return {
        "streamed": stream,
        "joined": join_segments(fmt, parts),
        "finalized": finalize(fmt, stream),
    }


TRUE_TOTAL = sum(round(d * RATE) for d in DURATIONS)


# ---- lossless formats: exact ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "pcm", "flac"])
@pytest.mark.parametrize("mode", ["streamed", "joined", "finalized"])
def test_lossless_join_decodes_to_exactly_the_concatenated_samples(fmt: str, mode: str) -> None:
    data = three_ways(fmt)[mode]
    expected = np.concatenate([tone(d, freq=330.0 + 110 * i)[0] for i, d in enumerate(DURATIONS)])
    decoded = decode_samples(fmt, data)
    assert decoded.shape == (TRUE_TOTAL,)
    assert np.array_equal(decoded, expected)


def test_streamed_wav_has_a_canonical_header_with_unknown_sizes() -> None:
    parts, _ = parts_of("wav")
    joiner = SegmentJoiner("wav")
    first = joiner.feed(parts[0])
    assert first[:4] == b"RIFF" and first[8:16] == b"WAVEfmt " and first[36:40] == b"data"
    assert struct.unpack_from("<I", first, 4)[0] == 0xFFFFFFFF
    assert struct.unpack_from("<I", first, 40)[0] == 0xFFFFFFFF
    assert len(first) == 44 + 2 * round(DURATIONS[0] * RATE)
    assert b"LIST" not in first  # the encoder's LIST/INFO chunk is not carried over
    later = joiner.feed(parts[1])
    assert len(later) == 2 * round(DURATIONS[1] * RATE)
    assert joiner.samples == round((DURATIONS[0] + DURATIONS[1]) * RATE)
    assert joiner.duration == pytest.approx(DURATIONS[0] + DURATIONS[1])


@pytest.mark.parametrize("mode", ["joined", "finalized"])
def test_wave_module_reads_the_exact_frame_count(mode: str) -> None:
    data = three_ways("wav")[mode]
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) == (RATE, 1, 2)
        assert reader.getnframes() == TRUE_TOTAL
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    assert decode("wav", data).duration == pytest.approx(TRUE_TOTAL / RATE)


def test_wav_with_a_different_format_is_refused() -> None:
    parts, _ = parts_of("wav")
    other = encode("wav", tone(0.2, rate=16000), rate=16000)
    joiner = SegmentJoiner("wav")
    joiner.feed(parts[0])
    with pytest.raises(AudioJoinError, match="segment 2 is 16000 Hz"):
        joiner.feed(other)


def test_wav_with_unknown_or_odd_sizes_is_read_to_the_end() -> None:
    body = bytes(range(256)) * 4  # 1024 bytes = 512 samples
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, 2 * RATE, 2, 16)
    listed = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\x00"  # odd chunk with its pad byte
    for size in (0, 0xFFFFFFFF):
        header = b"RIFF" + struct.pack("<I", 0) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
        data = header + listed + b"data" + struct.pack("<I", size) + body
        assert join_segments("wav", [data, data])[44:] == body + body


def test_pcm_is_concatenated_and_a_half_sample_is_dropped() -> None:
    joiner = SegmentJoiner("pcm", sample_rate=RATE)
    assert joiner.feed(b"\x01\x02\x03") == b"\x01\x02"
    assert joiner.feed(b"\x04\x05") == b"\x04\x05"
    assert joiner.samples == 2 and joiner.duration == pytest.approx(2 / RATE)


# ---- FLAC --------------------------------------------------------------------------------------


def flac_frames_plain(data: bytes) -> list[tuple[int, int, int]]:
    """(start, sample number, block size) of every frame, found the slow obvious way."""
    pos = 4
    while True:
        flags = data[pos]
        pos += 4 + int.from_bytes(data[pos + 1 : pos + 4], "big")
        if flags & 0x80:
            break
    frames, expected = [], 0
    probe = pos
    while probe < len(data) - 6:
        if data[probe] == 0xFF and data[probe + 1] == 0xF9:
            lead = data[probe + 4]
            n = 0 if lead < 0x80 else bin(lead)[2:].index("0") - 1
            number = lead & (0x7F >> (n + 1 if n else 0))
            for b in data[probe + 5 : probe + 5 + n]:
                number = (number << 6) | (b & 0x3F)
            p = probe + 5 + n
            code = data[probe + 2] >> 4
            if code == 6:
                size, p = data[p] + 1, p + 1
            elif code == 7:
                size, p = int.from_bytes(data[p : p + 2], "big") + 1, p + 2
            else:
                size = {1: 192, 2: 576, 3: 1152, 4: 2304, 5: 4608}.get(code) or 256 << (code - 8)
            crc = 0
            for byte in data[probe:p]:
                crc ^= byte
                for _ in range(8):
                    crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
            if crc == data[p] and number == expected:
                frames.append((probe, number, size))
                expected += size
                probe = p
        probe += 1
    return frames


def crc16_bitwise(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


@pytest.mark.parametrize("mode", ["streamed", "joined"])
def test_flac_frames_are_renumbered_with_valid_crcs(mode: str) -> None:
    data = three_ways("flac")[mode]
    frames = flac_frames_plain(data)
    block = flac_streaminfo(parts_of("flac")[0][0])["max_block"]
    assert sum(size for _, _, size in frames) == TRUE_TOTAL
    assert len(frames) == sum(-(-round(d * RATE) // block) for d in DURATIONS)
    bounds = [start for start, _, _ in frames] + [len(data)]
    for a, b in itertools.pairwise(bounds):
        assert crc16_bitwise(data[a : b - 2]) == int.from_bytes(data[b - 2 : b], "big")


def test_flac_headers_unknown_while_streaming_and_exact_after_finalize() -> None:
    ways = three_ways("flac")
    block = flac_streaminfo(parts_of("flac")[0][0])["max_block"]
    info = flac_streaminfo(ways["streamed"])
    assert (info["total"], info["min_frame"], info["max_frame"], info["rate"]) == (0, 0, 0, RATE)
    assert ways["streamed"][26:42] == bytes(16)  # MD5 unknown
    for mode in ("joined", "finalized"):
        info = flac_streaminfo(ways[mode])
        assert info["total"] == TRUE_TOTAL
        # The short last block of every segment but the final one now sits mid-stream.
        assert info["min_block"] == min(round(d * RATE) % block for d in DURATIONS[:-1])
        assert info["max_block"] == block
        assert 0 < info["min_frame"] <= info["max_frame"]
        decoded = decode("flac", ways[mode])
        assert decoded.duration == pytest.approx(TRUE_TOTAL / RATE)
    assert ways["joined"] == ways["finalized"]
    parts, _ = parts_of("flac")
    assert 1 in flac_block_types(parts[0])  # the encoder's padding ...
    assert flac_block_types(ways["joined"]) == [0, 4]  # ... is dropped; STREAMINFO, comment kept


def test_flac_seektable_is_dropped() -> None:
    parts, _ = parts_of("flac")
    first = parts[0]
    seekpoint = struct.pack(">QQH", 0, 0, 2304)
    seektable = bytes([3]) + len(seekpoint).to_bytes(3, "big") + seekpoint
    with_table = first[:42] + seektable + first[42:]
    joined = join_segments("flac", [with_table, parts[1]])
    assert 3 not in flac_block_types(joined)
    assert decode("flac", joined).samples == round((DURATIONS[0] + DURATIONS[1]) * RATE)


# ---- MP3 ---------------------------------------------------------------------------------------


def info_frame_count(part: bytes) -> int:
    at = max(part.find(b"Info"), part.find(b"Xing"))
    flags, frames = struct.unpack_from(">II", part, at + 4)
    assert flags & 1
    return frames


def test_encoder_output_has_id3v2_and_an_info_frame() -> None:
    parts, _ = parts_of("mp3")
    for part in parts:
        assert part[:3] == b"ID3"
        assert b"Info" in part[:200] or b"Xing" in part[:200]


@pytest.mark.parametrize("mode", ["streamed", "joined", "finalized"])
def test_mp3_join_keeps_one_id3_and_no_vbr_header(mode: str) -> None:
    parts, counts = parts_of("mp3")
    data = three_ways("mp3")[mode]
    assert data.count(b"ID3") == 1 and data.startswith(b"ID3")
    assert b"Xing" not in data and b"Info" not in data and b"VBRI" not in data
    decoded = decode("mp3", data)
    # Without the Info frames nothing trims the encoder delay and padding: every audio frame
    # of every part is decoded, 576 samples each (MPEG-2 layer III).
    assert decoded.samples == 576 * sum(info_frame_count(p) for p in parts)
    assert 0 <= decoded.samples - sum(counts) <= 3 * 576 * len(parts)
    assert (decoded.rate, decoded.channels) == (RATE, 1)


def test_mp3_drops_id3v1_and_vbri_tags_of_every_segment() -> None:
    parts, _ = parts_of("mp3")
    tagged = [part + id3v1(f"part {i}") for i, part in enumerate(parts)]
    # Turn the second part's Info frame into a Fraunhofer VBRI frame (tag at byte 36 of the frame).
    start = tagged[1].find(b"Info") - 13
    vbri = bytearray(tagged[1])
    vbri[start + 13 : start + 17] = bytes(4)
    vbri[start + 36 : start + 40] = b"VBRI"
    tagged[1] = bytes(vbri)
    data = join_segments("mp3", tagged)
    assert b"TAG" not in data and b"VBRI" not in data
    assert data == join_segments("mp3", parts)


def test_mp3_mpeg1_stereo_info_frame_is_found_at_its_offset() -> None:
    samples = tone(0.5, rate=44100, channels=2)
    part = encode("mp3", samples, rate=44100)
    frame = part.find(b"\xff\xfb")
    assert part[frame + 36 : frame + 40] in (b"Info", b"Xing")  # 4 + 32 bytes of side info
    data = join_segments("mp3", [part, part])
    assert b"Info" not in data and b"Xing" not in data
    decoded = decode("mp3", data)
    assert decoded.samples == 2 * 1152 * info_frame_count(part) and decoded.channels == 2


def test_mp3_truncated_last_frame_is_dropped_so_the_next_segment_stays_intact() -> None:
    parts, _ = parts_of("mp3")
    data = join_segments("mp3", [parts[0][:-50], parts[1]])  # frames are 96 bytes
    frames = info_frame_count(parts[0]) - 1 + info_frame_count(parts[1])
    assert decode("mp3", data).samples == 576 * frames


def test_mp3_of_another_rate_is_refused() -> None:
    parts, _ = parts_of("mp3")
    other = encode("mp3", tone(0.3, rate=16000), rate=16000)
    with pytest.raises(AudioJoinError, match="segment 2 is 16000 Hz"):
        join_segments("mp3", [parts[0], other])


# ---- AAC ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["streamed", "joined", "finalized"])
def test_adts_frames_concatenate(mode: str) -> None:
    parts, counts = parts_of("aac")
    data = three_ways("aac")[mode]
    assert data == b"".join(parts)  # the encoder writes no ID3 tag; frames pass through
    decoded = decode("aac", data)
    assert decoded.samples == sum(decode("aac", p).samples for p in parts)
    assert 0 <= decoded.samples - sum(counts) <= 2 * 1024 * len(parts)


def test_adts_id3_tags_are_stripped() -> None:
    parts, _ = parts_of("aac")
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x05" + b"TIT2\x00"
    data = join_segments("aac", [id3 + parts[0], parts[1] + id3v1()])
    assert data == parts[0] + parts[1]


def test_mp4_aac_is_refused_with_a_clear_message() -> None:
    m4a = mp4_audio()
    with pytest.raises(AudioJoinError, match=r"MP4/M4A.*needs raw ADTS"):
        join_segments("aac", [m4a])


@cache
def mp4_audio() -> bytes:
    return encode_with("ipod", "aac", tone(0.3))


# ---- Opus --------------------------------------------------------------------------------------


def opus_pre_skip(part: bytes) -> int:
    return int(struct.unpack_from("<H", ogg_pages(part)[0].body, 10)[0])


@pytest.mark.parametrize("mode", ["streamed", "joined", "finalized"])
def test_ogg_opus_join_is_one_logical_stream(mode: str) -> None:
    parts, _ = parts_of("opus")
    data = three_ways("opus")[mode]
    pages = ogg_pages(data)
    assert len({p.serial for p in pages}) == 1
    assert pages[0].serial == ogg_pages(parts[0])[0].serial
    assert [p.sequence for p in pages] == list(range(len(pages)))
    assert all(p.crc_ok for p in pages)
    assert [bool(p.flags & 2) for p in pages] == [True] + [False] * (len(pages) - 1)
    eos = [bool(p.flags & 4) for p in pages]
    assert eos[:-1] == [False] * (len(pages) - 1)
    assert eos[-1] == (mode != "streamed")
    assert sum(p.body.startswith(b"OpusHead") for p in pages) == 1
    assert sum(p.body.startswith(b"OpusTags") for p in pages) == 1
    granules = [p.granule for p in pages if p.granule != -1]
    assert granules == sorted(granules)


@pytest.mark.parametrize("mode", ["streamed", "joined"])
def test_ogg_opus_decodes_to_about_the_sum_of_the_parts(mode: str) -> None:
    parts, _ = parts_of("opus")
    data = three_ways("opus")[mode]
    decoded = decode("opus", data)
    separately = sum(decode("opus", p).samples for p in parts)
    # Each later part brings its encoder pre-skip (not skippable mid-stream) and each earlier
    # part its untrimmed final packet: at most pre-skip + one 20 ms frame per joint.
    joint = max(opus_pre_skip(p) for p in parts) + 960
    assert 0 <= decoded.samples - separately <= joint * (len(parts) - 1)
    last_granule = ogg_pages(data)[-1].granule
    assert decoded.samples == last_granule - opus_pre_skip(parts[0])
    assert decoded.duration == pytest.approx(last_granule / 48000, abs=0.001)


def test_feeding_the_last_segment_with_last_true_ends_the_ogg_stream() -> None:
    parts, _ = parts_of("opus")
    data = streamed("opus", parts, last=True)
    assert data == join_segments("opus", parts)
    joiner = SegmentJoiner("opus")
    joiner.feed(parts[0], last=True)
    with pytest.raises(RuntimeError):
        joiner.feed(parts[1])


def test_corrupt_ogg_page_is_refused() -> None:
    parts, _ = parts_of("opus")
    broken = bytearray(parts[1])
    broken[-5] ^= 0xFF
    with pytest.raises(AudioJoinError, match="segment 2 is corrupt"):
        join_segments("opus", [parts[0], bytes(broken)])


# ---- errors and sniffing -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["mp3", "wav", "flac", "opus", "aac"])
def test_junk_is_refused_with_a_value_error(fmt: str) -> None:
    junk = b"<html>Bad gateway</html>" * 20
    with pytest.raises(AudioJoinError) as caught:
        SegmentJoiner(fmt).feed(junk)
    assert isinstance(caught.value, ValueError)
    assert "segment 1" in str(caught.value)
    with pytest.raises(AudioJoinError, match="empty"):
        SegmentJoiner(fmt).feed(b"")


@pytest.mark.parametrize("fmt", FORMATS)
def test_finalize_is_idempotent_on_a_whole_join(fmt: str) -> None:
    joined = three_ways(fmt)["joined"]
    assert finalize(fmt, joined) == joined


def test_unknown_format_is_refused() -> None:
    with pytest.raises(AudioJoinError, match="Cannot join 'ogg'"):
        SegmentJoiner("ogg")
    with pytest.raises(AudioJoinError, match="no segments"):
        join_segments("mp3", [])


@pytest.mark.parametrize("fmt", ["mp3", "wav", "flac", "opus", "aac"])
def test_sniff_recognises_each_container(fmt: str) -> None:
    parts, _ = parts_of(fmt)
    assert sniff_format(parts[0]) == fmt
    assert sniff_format(join_segments(fmt, parts)) == fmt


def test_sniff_other_containers_and_junk() -> None:
    assert sniff_format(mp4_audio()) == "m4a"
    assert sniff_format(encode_with("mp4", "aac", tone(0.2))) == "mp4"
    assert sniff_format(encode_with("webm", "libopus", tone(0.2, rate=48000), rate=48000)) == "webm"
    assert (
        sniff_format(encode_with("matroska", "libopus", tone(0.2, rate=48000), rate=48000)) == "mkv"
    )
    vorbis_page = b"OggS\x00\x02" + bytes(20) + b"\x01\x1e" + b"\x01vorbis" + bytes(23)
    assert sniff_format(vorbis_page) == "ogg"
    assert sniff_format(b"ID3\x04\x00\x00\x00\x00\x00\x00" + parts_of("flac")[0][0]) == "flac"
    assert sniff_format(parts_of("pcm")[0][0]) is None
    assert sniff_format(b"") is None
    assert sniff_format(b"\xff\xff\xff\xff junk") is None
    assert sniff_format(b'{"error": "nope"}') is None
    assert sniff_format(bytes(1000)) is None
