"""Notebook-layer pieces that need no engine: the runner, cache keys, compact embedding,
transcripts (text, subtitles, search, HTML), placeholders, option splitting and magic help."""

from __future__ import annotations

import _thread
import asyncio
import html
import io
import re
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from venice_nb.core.types import AudioResponse
from venice_nb.notebook import embed, runner, settings
from venice_nb.notebook.api import SpeechRequest
from venice_nb.notebook.cache import SpeechCache, speech_key
from venice_nb.notebook.magics import _split_line, fill_placeholders
from venice_nb.notebook.speech import Speech
from venice_nb.notebook.transcript import Segment, Transcript, Word

av = pytest.importorskip("av")


def tone_wav(seconds: float, rate: int = 24_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


WORDS = [
    Word("Hello", 0.0, 0.32),
    Word("there.", 0.32, 0.7),
    Word("This", 1.06, 1.14),
    Word("is", 1.14, 1.3),
    Word("a", 1.3, 1.36),
    Word("fine", 1.36, 1.6),
    Word("day.", 1.6, 2.0),
    Word("A", 65.0, 65.2),
    Word("fine", 65.2, 65.5),
    Word("DAY!", 65.5, 66.0),
]
SEGMENTS = [
    Segment("Hello there.", 0.0, 0.7),
    Segment("This is a fine day.", 1.06, 2.0),
    Segment("A fine DAY!", 65.0, 66.0),
]


# -- runner ---------------------------------------------------------------------------------------
def test_runner_runs_coroutines_off_the_calling_thread() -> None:
    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert runner.run(where()) == "venice-nb-runner"
    assert runner.submit(where()).result(timeout=5) == "venice-nb-runner"


def test_runner_works_while_the_caller_has_a_running_loop() -> None:
    async def cell() -> int:  # like a cell executing inside the kernel's loop
        return runner.run(asyncio.sleep(0.01, result=42))

    assert asyncio.run(cell()) == 42


def test_keyboard_interrupt_cancels_the_request_within_a_second() -> None:
    cancelled_at: list[float] = []
    started = threading.Event()

    async def slow_request() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled_at.append(time.monotonic())
            raise

    def interrupt() -> None:
        started.wait(5)
        time.sleep(0.1)
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        runner.run(slow_request())
    interrupted = time.monotonic()
    assert cancelled_at, "the coroutine was not cancelled"
    assert cancelled_at[0] - interrupted < 1.0


def test_run_timeout_cancels_and_says_so() -> None:
    with pytest.raises(TimeoutError, match=r"within 0\.2 s"):
        runner.run(asyncio.sleep(5), timeout=0.2)


# -- cache ----------------------------------------------------------------------------------------
def test_cache_key_covers_every_parameter_and_is_stable() -> None:
    base = dict(
        backend="cloud",
        url="https://x",
        model="tts-kokoro",
        voice="af_heart",
        text="Hi",
        format=None,
    )
    key = speech_key(**base)
    assert key == speech_key(**dict(reversed(list(base.items()))))
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    for change in (
        {"backend": "local"},
        {"url": "https://y"},
        {"model": "tts-xai-v1"},
        {"voice": "af_sky"},
        {"text": "Hi!"},
        {"format": "wav"},
        {"speed": 1.5},
        {"prompt": "calm"},
    ):
        assert speech_key(**{**base, **change}) != key, change


def test_cache_round_trip_info_and_clear(tmp_path: Path) -> None:
    cache = SpeechCache(tmp_path / "c")
    audio = AudioResponse(
        b"ID3fake-mp3-bytes",
        content_type="audio/mpeg",
        model="tts-kokoro",
        voice="af_heart",
        headers={"x-venice-nb-engine": "offline", "set-cookie": "secret=1"},
    )
    key = speech_key(text="hello")
    assert cache.get(key) is None
    cache.put(key, audio)
    hit = cache.get(key)
    assert hit is not None and bytes(hit) == bytes(audio)
    assert (hit.format, hit.model, hit.voice) == ("mp3", "tts-kokoro", "af_heart")
    assert hit.headers == {"x-venice-nb-engine": "offline"}  # nothing else is kept
    assert cache.info().entries == 1 and cache.info().nbytes > len(audio)
    (tmp_path / "c" / key[:2] / f"{key}.mp3").write_bytes(b"torn")
    assert cache.get(key) is None  # a damaged entry is a miss, not garbage
    assert cache.clear() == 1
    assert cache.info().entries == 0


# -- compact embedding ----------------------------------------------------------------------------
def test_wav_is_embedded_as_mp3_under_half_a_megabyte_per_minute() -> None:
    wav = tone_wav(60.0)
    assert len(wav) * 4 / 3 > 3_000_000  # a WAV embed would cost ~3.8 MB of notebook
    out = embed.compact(wav, "wav")
    assert out.mime == "audio/mpeg" and out.transcoded
    assert out.notebook_bytes <= 500_000
    assert out.duration == pytest.approx(60.0, abs=0.1)
    assert out.data_uri().startswith("data:audio/mpeg;base64,")


def test_compact_audio_within_budget_is_kept_as_it_is() -> None:
    mp3 = embed.transcode_mp3(tone_wav(5.0), "wav", bitrate=32000)
    out = embed.compact(mp3, "mp3")
    assert not out.transcoded and out.data == mp3


def test_pcm_is_wrapped_and_transcoded_with_its_sample_rate() -> None:
    pcm = tone_wav(3.0, rate=48_000)[44:]
    out = embed.compact(pcm, "pcm", sample_rate=48_000)
    assert out.duration == pytest.approx(3.0, abs=0.01)
    assert embed.duration_of(out.data, "mp3") == pytest.approx(3.0, abs=0.1)


def test_sniff_format_names_containers() -> None:
    assert embed.sniff_format(tone_wav(0.1)) == "wav"
    assert embed.sniff_format(b"fLaC\0\0\0") == "flac"
    assert embed.sniff_format(b"ID3\x04\0\0\0\0\0\0") == "mp3"
    assert embed.sniff_format(b"\0\0\0\x20ftypM4A ") == "m4a"
    assert embed.sniff_format(b"hello") is None


# -- transcript -----------------------------------------------------------------------------------
def test_transcript_find_ignores_case_and_punctuation() -> None:
    t = Transcript("Hello there. This is a fine day. A fine DAY!", WORDS, SEGMENTS, duration=66.0)
    assert t.find("fine day") == pytest.approx(1.36)
    assert t.find_all("Fine, day") == [pytest.approx(1.36), pytest.approx(65.2)]
    assert t.find("hello there") == 0.0
    assert t.find("not said") is None
    assert t.find("") is None


def test_transcript_subtitles() -> None:
    t = Transcript("Hello there. This is a fine day. A fine DAY!", WORDS, SEGMENTS, duration=66.0)
    srt = t.to_srt()
    assert srt.startswith("1\n00:00:00,000 --> 00:00:00,700\nHello there.\n")
    assert "3\n00:01:05,000 --> 00:01:06,000\nA fine DAY!" in srt
    vtt = t.to_vtt()
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:00.700\nHello there.")
    assert '"word": "fine"' in t.to_json()


def test_transcript_groups_words_by_segment_with_stamps() -> None:
    t = Transcript("x", WORDS, SEGMENTS)
    groups = t.groups()
    assert [g["start"] for g in groups] == [0.0, 1.06, 65.0]
    assert [w[0] for w in groups[1]["words"]] == ["This", "is", "a", "fine", "day."]
    page = t._repr_html_()
    assert "[00:00]" in page and "[00:01]" in page and "[01:05]" in page
    spans = re.findall(
        r'<span class="vnb-word" data-start="([\d.]+)" data-end="[\d.]+">([^<]*)</span>', page
    )
    assert [(float(s), w) for s, w in spans] == [(w.start, w.word) for w in WORDS]
    assert '<script type="module">' in page and "export function wire" in page


def test_transcript_without_segments_breaks_at_sentences() -> None:
    t = Transcript("Hello there. This is a fine day.", WORDS[:7])
    assert [g["start"] for g in t.groups()] == [0.0, 1.06]


def test_transcript_html_escapes_words() -> None:
    t = Transcript("<b>x</b>", [Word("<b>x</b>", 0.0, 1.0)])
    page = t._repr_html_()
    assert "<b>x</b>" not in page.split("<script")[0]
    assert html.escape("<b>x</b>") in page


def test_transcript_text_only_still_shows() -> None:
    t = Transcript("Just text, no timestamps.", duration=3.0)
    assert t.groups() == [{"start": 0.0, "words": [["Just text, no timestamps.", 0.0, 3.0]]}]
    assert "Just text, no timestamps." in t._repr_html_()


# -- speech display -------------------------------------------------------------------------------
def test_speech_bundle_has_plain_audio_fallback_and_summary() -> None:
    mp3 = embed.transcode_mp3(tone_wav(2.0), "wav")
    audio = AudioResponse(mp3, content_type="audio/mpeg", model="tts-kokoro", voice="af_sky")
    s = Speech(
        audio, "Hi", "tts-kokoro", "af_sky", embedded=embed.compact(mp3, "mp3"), cost_usd=0.0123
    )
    bundle = s._repr_mimebundle_()
    assert '<audio controls preload="metadata" src="data:audio/mpeg;base64,' in bundle["text/html"]
    assert re.search(r"<Speech 2\.\d s · tts-kokoro / af_sky, mp3 \d+ KB", bundle["text/plain"])
    assert "≈ $0.0123" in bundle["text/html"]
    offline = Speech(audio, "Hi", "tts-kokoro", "af_sky", embedded=None, offline=True, cost_usd=0.5)
    text = repr(offline)
    assert "offline engine" in text and "$" not in text


# -- magics plumbing ------------------------------------------------------------------------------
def test_placeholders_insert_variables_and_keep_escaped_braces() -> None:
    ns = {"name": "Ada", "n": 3}
    assert fill_placeholders("Hi {name}, {n} times {{literal}}", ns) == "Hi Ada, 3 times {literal}"
    with pytest.raises(ValueError, match=r"no variable 'missing' is defined"):
        fill_placeholders("Hi {missing}", ns)


def test_line_magic_options_are_split_from_the_text() -> None:
    assert _split_line("--voice af_sky It's a test") == ("--voice af_sky ", "It's a test")
    assert _split_line("--autoplay --speed 1.5 Go now") == ("--autoplay --speed 1.5 ", "Go now")
    assert _split_line('--prompt "be calm" Hello') == ('--prompt "be calm" ', "Hello")
    assert _split_line("--voice af_sky") == ("--voice af_sky", "")


def test_long_text_goes_through_stream_long_text() -> None:
    assert not SpeechRequest("word " * 200, "tts-kokoro", "af_heart").is_long
    assert SpeechRequest("a" * 4097, "tts-kokoro", "af_heart").is_long
    assert SpeechRequest("word " * 30, "tts-qwen3-0-6b", "Vivian").is_long


@pytest.fixture
def shell() -> InteractiveShell:
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "venice_nb")
    yield sh
    sh.config.pop("VeniceMagics", None)
    sh.run_line_magic("unload_ext", "venice_nb")


def test_magic_help_shows_docstring_and_arguments(shell: InteractiveShell) -> None:
    with capture_output() as out:
        shell.run_cell("%venice_speak?")
    assert "Speak the cell" in out.stdout
    for flag in (
        "--voice",
        "--model",
        "--format",
        "--speed",
        "--out",
        "--var",
        "--autoplay",
        "--top-p",
    ):
        assert flag in out.stdout, flag
    with capture_output() as out:
        shell.run_cell("%venice_transcribe?")
    assert "clickable timestamps" in out.stdout and "--format" in out.stdout


def test_config_sets_the_defaults_used_by_magics_and_helpers(shell: InteractiveShell) -> None:
    shell.run_cell('%config VeniceMagics.voice = "am_adam"')
    shell.run_cell("%config VeniceMagics.speed = 1.25")
    assert settings.current().voice == "am_adam"
    assert settings.current().speed == 1.25


def test_argument_errors_are_one_line(shell: InteractiveShell) -> None:
    with capture_output() as out:
        result = shell.run_cell("%venice_speak --format xyz Hello")
    assert "Traceback" not in out.stdout + out.stderr
    assert "invalid choice" in out.stderr
    assert result.error_in_exec is None or "UsageError" in type(result.error_in_exec).__name__


def test_empty_cell_is_one_clear_line(shell: InteractiveShell) -> None:
    with capture_output() as out:
        result = shell.run_cell("%%venice_speak --voice af_sky\n   \n")
    assert result.result is None
    lines = out.stderr.strip().splitlines()
    assert lines == [
        "venice_nb: Nothing to speak: the cell is empty; write the text to speak in the cell body."
    ]
