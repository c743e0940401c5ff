"""Outputs that outlive the kernel, from the Python side: every result carries venice_nb's own
mimetype (drawn by the JupyterLab / Notebook 7 extension) beside text/html and text/plain, holds
its audio once, and reads sensibly where styles and scripts are stripped. The browser side is
tests/browser/test_browser_jupyter.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

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


# -- long audio -------------------------------------------------------------------------------
def _long(**kwargs: object) -> Transcript:
    words = [Word("Hello", 0.0, 0.4), Word("again.", 0.4, 0.9), Word("Back.", 1500.0, 1500.4)]
    segments = [Segment("Hello again.", 0.0, 0.9), Segment("Back.", 1500.0, 1500.4)]
    return Transcript("Hello again. Back.", words, segments, duration=3120.0, **kwargs)  # type: ignore[arg-type]


def test_a_transcript_not_embedded_names_its_file_and_plays_it_relative_to_the_notebook() -> None:
    t = _long(audio_file="recordings/team meeting.mp4")
    bundle = t._repr_mimebundle_()
    payload = bundle[VNB_MIME]
    assert payload["audio"] is None and payload["audio_file"] == "recordings/team meeting.mp4"
    html = bundle["text/html"]
    assert "data:audio/" not in html
    # Relative and URL-quoted: the page beside the notebook (nbconvert) and JupyterLab's HTML
    # renderer resolve it against the notebook's folder.
    assert '<audio controls preload="metadata" src="recordings/team%20meeting.mp4">' in html
    assert "[00:00] Hello again." in _text_without_markup(html)


def test_a_transcript_whose_audio_cannot_play_says_what_to_do() -> None:
    note = (
        "The audio (52 min) is not embedded; put meeting.mp4 beside this notebook to play it here."
    )
    t = _long(audio_note=note)
    bundle = t._repr_mimebundle_()
    assert bundle[VNB_MIME]["audio_note"] == note
    assert "<audio" not in re.sub(r"<script.*?</script>", "", bundle["text/html"], flags=re.S)
    assert note in _text_without_markup(bundle["text/html"])


def test_gaps_show_inline_in_time_order_and_in_text_and_summary() -> None:
    t = _long(gaps=[(600.0, 1200.0, "the server kept failing (HTTP 503)")])
    line = "[10:00\u201320:00 missing: the server kept failing (HTTP 503)]"
    text = _text_without_markup(t._repr_html_())
    before, after = text.index("Hello again."), text.index("Back.")
    assert before < text.index(line) < after  # between the speech around it, never silent
    assert t._repr_mimebundle_()[VNB_MIME]["gaps"] == [
        [600.0, 1200.0, "the server kept failing (HTTP 503)"]
    ]
    assert line in str(t)
    assert "10:00 missing (10:00\u201320:00)" in t.summary()
    assert t != _long()
    # The core's TranscriptionGap (IncompleteTranscriptionError.missing) is taken as it is.
    missing = SimpleNamespace(start=600.0, end=1200.0, reason="the server kept failing (HTTP 503)")
    assert _long(gaps=[missing]) == t
    # A gap after the last words still shows, at the end.
    tail = _long(gaps=[(3000.0, 3120.0, "timed out")])
    assert (
        _text_without_markup(tail._repr_html_())
        .rstrip()
        .endswith("[50:00\u201352:00 missing: timed out]")
    )


def test_to_dataframe_gives_words_or_segments() -> None:
    pd = pytest.importorskip("pandas")
    t = _long()
    words = t.to_dataframe()
    assert list(words.columns) == ["word", "start", "end"]
    assert words["word"].tolist() == ["Hello", "again.", "Back."]
    assert words["start"].tolist() == [0.0, 0.4, 1500.0]
    segments = t.to_dataframe("segments")
    assert list(segments.columns) == ["text", "start", "end"]
    dialogue = Transcript("x", segments=[Segment("Hi.", 0.0, 1.0, "Ana")])
    assert dialogue.to_dataframe("segments")["speaker"].tolist() == ["Ana"]
    assert isinstance(words, pd.DataFrame)
    with pytest.raises(ValueError, match="kind='words' or kind='segments'"):
        t.to_dataframe("sentences")


def test_to_dataframe_without_pandas_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        _long().to_dataframe()


def test_the_live_widget_gets_the_file_by_message_never_as_a_trait(tmp_path: Path) -> None:
    """The source file's bytes reach the view as a message when it asks, so the widget state a
    notebook may save never holds them; a file that went away gets a sentence instead."""
    (tmp_path / "talk.wav").write_bytes(tone_wav(0.5))
    with pytest.MonkeyPatch.context() as m:
        m.chdir(tmp_path)
        w = _long(audio_file="talk.wav").widget()
    assert w.audio == b"" and w.audio_file == "talk.wav" and w.duration == 3120.0
    sent: list[tuple[dict[str, object], list[bytes] | None]] = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    w._on_message(w, {"type": "audio"}, [])
    assert sent[-1][0] == {"type": "audio", "mime": "audio/wav"}
    assert sent[-1][1] == [(tmp_path / "talk.wav").read_bytes()]
    (tmp_path / "talk.wav").unlink()
    w._on_message(w, {"type": "audio"}, [])
    assert "put it back" in str(sent[-1][0]["error"])
