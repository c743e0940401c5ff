"""Outputs that outlive the kernel, from the Python side: every result carries venice_nb's own
mimetype (drawn by the JupyterLab / Notebook 7 extension) beside text/html and text/plain, holds
its audio once, and reads sensibly where styles and scripts are stripped. The browser side is
tests/browser/test_browser_jupyter.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from testkit.audio_fixtures import wav_bytes as tone_wav
from venice_nb.core.audio import voice_details
from venice_nb.core.audioinfo import probe
from venice_nb.core.types import AudioResponse
from venice_nb.notebook import UserError, embed, play, settings
from venice_nb.notebook.display import VNB_MIME, WIDGET_MIME
from venice_nb.notebook.magics import notebook_message
from venice_nb.notebook.speech import Speech
from venice_nb.notebook.transcript import Segment, Transcript, Word
from venice_nb.notebook.voices import UNKNOWN_LANGUAGE, Catalog, VoiceExplorer, VoicePicker

CATALOG = Catalog(
    [("tts-kokoro", "Kokoro"), ("tts-elevenlabs-turbo-v2-5", "ElevenLabs Turbo v2.5")],
    [voice_details(v, "tts-kokoro") for v in ("af_heart", "bf_emma", "jf_alpha")]
    + [voice_details(v, "tts-elevenlabs-turbo-v2-5") for v in ("Rachel", "Adam")],
)
DATA_URI = re.compile(r"data:audio/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]+")


@pytest.fixture
def always_widgets() -> Iterator[None]:
    settings.use(settings.Settings(widgets="always"))
    yield
    settings.use(None)


def _speech(seconds: float = 2.0, **kwargs: object) -> Speech:
    mp3 = embed.transcode_mp3(tone_wav(seconds), "wav")
    audio = AudioResponse(mp3, content_type="audio/mpeg", model="tts-kokoro", voice="af_sky")
    return Speech(audio, "Hi", "tts-kokoro", "af_sky", embedded=embed.compact(mp3, "mp3"), **kwargs)  # type: ignore[arg-type]


def _text_without_markup(html: str) -> str:
    """What a sanitizer that strips <style> and <script> (and a reader of tags) leaves."""
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", "", html)


def test_speech_bundle_is_data_with_the_audio_stored_once(always_widgets: None) -> None:
    bundle = _speech(offline=True)._repr_mimebundle_()
    assert WIDGET_MIME not in bundle
    payload = bundle[VNB_MIME]
    assert payload["kind"] == "speech"
    assert payload["audio"] == {"mime": "audio/mpeg", "ref": "text/html"}
    assert len(DATA_URI.findall(bundle["text/html"])) == 1
    assert not DATA_URI.search(json.dumps(payload))
    assert payload["badges"] == [["offline engine", "offline"]]
    assert payload["duration"] == pytest.approx(2.0, abs=0.03)
    assert "autoplay" not in payload and "created" not in payload
    json.dumps(bundle)  # every entry is plain JSON, as nbformat stores it


def test_autoplay_is_stamped_so_a_reopened_notebook_stays_quiet() -> None:
    payload = _speech(autoplay=True)._repr_mimebundle_()[VNB_MIME]
    assert payload["autoplay"] is True and payload["created"] > 1_700_000_000_000


def test_speech_label_gives_the_duration_browsers_play() -> None:
    """A LAME-tagged mp3 holds encoder delay and padding that players drop: the label must not
    count them (it said 7.7 s for 7.59 s of audio)."""
    for seconds in (1.0, 7.59, 12.3):
        mp3 = embed.transcode_mp3(tone_wav(seconds), "wav")
        assert probe(mp3, "mp3").duration == pytest.approx(seconds, abs=0.011)
        s = _speech(seconds)
        assert s.summary().startswith(f"{seconds:.1f} s")


def test_untrusted_html_keeps_the_summary_apart() -> None:
    text = _text_without_markup(_speech(offline=True)._repr_html_())
    assert re.search(r"\d\.\d s · tts-kokoro / af_sky · offline engine", text), text


def test_transcript_bundle_carries_words_and_reads_without_javascript() -> None:
    words = [Word("Hello", 0.0, 0.4), Word("again.", 0.4, 0.9), Word("Bye.", 62.0, 62.4)]
    t = Transcript(
        "Hello again. Bye.",
        words,
        [Segment("Hello again.", 0.0, 0.9), Segment("Bye.", 62.0, 62.4)],
        duration=63.0,
        audio=embed.compact(embed.transcode_mp3(tone_wav(1.0), "wav"), "mp3"),
        offline=True,
    )
    bundle = t._repr_mimebundle_()
    payload = bundle[VNB_MIME]
    assert payload["kind"] == "transcript"
    assert payload["groups"] == t.groups()
    assert payload["audio"]["ref"] == "text/html"
    assert len(DATA_URI.findall(bundle["text/html"])) == 1
    text = _text_without_markup(bundle["text/html"])
    assert "[00:00] Hello again." in text and "[01:02] Bye." in text
    assert "63.0 s · 3 words · offline engine" in text


def test_explorer_static_view_lists_every_voice_with_a_language(always_widgets: None) -> None:
    explorer = VoiceExplorer(catalog=CATALOG)
    bundle = explorer._repr_mimebundle_()
    assert WIDGET_MIME in bundle  # live control where widgets render...
    payload = bundle[VNB_MIME]  # ...and a static view for when they cannot
    assert payload["kind"] == "voices"
    assert len(payload["voices"]) == len(CATALOG.voices)
    assert all(v["language"] for v in payload["voices"])
    unknown = [v["id"] for v in payload["voices"] if v["language"] == UNKNOWN_LANGUAGE]
    assert unknown == ["Rachel", "Adam"]
    assert "run the cell" in payload["offline_note"]


def test_explorer_language_filter_keeps_voices_the_catalog_gives_no_language() -> None:
    explorer = VoiceExplorer(catalog=CATALOG, language=UNKNOWN_LANGUAGE)
    assert [v["id"] for v in explorer.visible()] == ["Rachel", "Adam"]


def test_picker_static_view_names_the_choice_and_its_magic_line(always_widgets: None) -> None:
    picker = VoicePicker(voice="bf_emma", catalog=CATALOG)
    bundle = picker._repr_mimebundle_()
    assert WIDGET_MIME in bundle
    payload = bundle[VNB_MIME]
    line = "%%venice_speak --model tts-kokoro --voice bf_emma"
    assert payload["selected"] == "bf_emma" and payload["model_filter"] == "tts-kokoro"
    assert line in payload["status"] and line in bundle["text/html"]
    assert {v["id"] for v in payload["voices"]} == {"af_heart", "bf_emma", "jf_alpha"}


def test_picker_offers_voices_without_a_language_and_shows_model_ids_whole() -> None:
    picker = VoicePicker(model="tts-elevenlabs-turbo-v2-5", catalog=CATALOG)
    assert picker.languages() == [UNKNOWN_LANGUAGE]
    assert picker._model_dd.layout.width == "max-content"
    labels = [label for label, _ in picker._model_dd.options]
    assert "ElevenLabs Turbo v2.5 (tts-elevenlabs-turbo-v2-5)" in labels


def test_unknown_voice_points_to_the_magic_in_a_notebook() -> None:
    core = (
        "Voice 'af_hart' is not a voice of tts-kokoro. Did you mean af_heart? Call "
        "client.audio.get_voices(model_id='tts-kokoro') to list its 54 voices."
    )
    message = notebook_message(core)
    assert "Run %venice_voices --model tts-kokoro to list its 54 voices." in message
    assert "client.audio" not in message


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "venice_nb")
    yield sh
    sh.run_line_magic("unload_ext", "venice_nb")


@pytest.mark.parametrize("magic", ["venice_speak", "venice_transcribe", "venice_voices"])
def test_magic_help_is_plain_text(shell: InteractiveShell, magic: str) -> None:
    with capture_output() as out:
        shell.run_cell(f"%{magic}?")
    assert "``" not in out.stdout and not re.search(r"::\s*$", out.stdout, re.M), out.stdout


def test_play_shows_any_audio_as_the_durable_player(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp3"
    path.write_bytes(embed.transcode_mp3(tone_wav(1.5), "wav"))
    shown = play(path)
    assert shown.summary().startswith("1.5 s · clip.mp3")
    assert shown._repr_mimebundle_()[VNB_MIME]["kind"] == "speech"
    assert play(path.read_bytes()).duration == pytest.approx(1.5, abs=0.03)
    with pytest.raises(UserError, match="not audio venice_nb can play"):
        play(b"<html>captive portal</html>")
