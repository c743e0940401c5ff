"""Widget models through their traits: VoicePicker, VoiceExplorer, the transcript and player views."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ipywidgets
import pytest
import traitlets

from venice_nb.core.audio import voice_details
from venice_nb.notebook import settings
from venice_nb.notebook.display import VNB_MIME, WIDGET_MIME
from venice_nb.notebook.embed import EmbeddedAudio
from venice_nb.notebook.transcript import Segment, Transcript, TranscriptWidget, Word
from venice_nb.notebook.voices import Catalog, VoiceExplorer, VoicePicker, sample_text

MODELS = [("tts-kokoro", "Kokoro"), ("tts-xai-v1", "xAI TTS v1")]
VOICES = [
    voice_details(v, "tts-kokoro")
    for v in ("af_heart", "af_sky", "am_adam", "bf_emma", "bm_george", "ff_siwis", "jf_alpha")
] + [voice_details(v, "tts-xai-v1") for v in ("ara", "eve", "rex")]
CATALOG = Catalog(MODELS, VOICES)


@pytest.fixture
def always_widgets() -> Iterator[None]:
    conf = settings.Settings(widgets="always")
    settings.use(conf)
    yield
    settings.use(None)


def test_picker_lists_the_models_voices_with_labels() -> None:
    picker = VoicePicker(catalog=CATALOG)
    assert (picker.model, picker.voice) == ("tts-kokoro", "af_heart")
    labels = [label for label, _ in picker._voice_dd.options]
    assert "af_heart: American English, female" in labels
    assert "bm_george: British English, male" in labels
    assert len(labels) == 7


def test_picker_model_change_offers_that_models_voices() -> None:
    picker = VoicePicker(catalog=CATALOG)
    seen: list[str] = []
    picker.observe(lambda ch: seen.append(ch["new"]), "voice")
    picker._model_dd.value = "tts-xai-v1"  # as a user would pick it
    assert picker.model == "tts-xai-v1"
    assert [v for _, v in picker._voice_dd.options] == ["ara", "eve", "rex"]
    assert picker.voice == "ara" and seen[-1] == "ara"


def test_picker_filters_by_gender_and_language() -> None:
    picker = VoicePicker(catalog=CATALOG)
    picker.gender = "male"
    assert [v.id for v in picker.options()] == ["am_adam", "bm_george"]
    assert picker.voice == "am_adam"  # af_heart no longer passes the filter
    picker.gender = ""
    picker.language = "French"
    assert [v for _, v in picker._voice_dd.options] == ["ff_siwis"]
    assert picker.languages() == ["English", "French", "Japanese"]


def test_picker_voice_is_linkable() -> None:
    picker = VoicePicker(catalog=CATALOG)
    kokoro = [v.id for v in CATALOG.voices_of("tts-kokoro")]
    other = ipywidgets.Dropdown(options=kokoro, value="af_sky")
    traitlets.link((other, "value"), (picker, "voice"))
    shown = ipywidgets.Label()
    traitlets.dlink((picker, "voice"), (shown, "value"))
    assert picker.voice == "af_sky" and picker._voice_dd.value == "af_sky"
    other.value = "bm_george"
    assert picker.voice == "bm_george" and shown.value == "bm_george"
    picker.gender = "female"  # bm_george no longer passes: the first female voice is picked
    assert picker.voice == "af_heart" and other.value == "af_heart" and shown.value == "af_heart"


def test_picker_setting_a_filtered_out_voice_clears_the_filters() -> None:
    picker = VoicePicker(catalog=CATALOG, gender="female")
    picker.voice = "am_adam"
    assert (picker.voice, picker.gender) == ("am_adam", "")


def test_picker_refuses_a_voice_of_another_model() -> None:
    picker = VoicePicker(catalog=CATALOG)
    with pytest.raises(traitlets.TraitError, match="'rex' is not a voice of tts-kokoro"):
        picker.voice = "rex"
    assert VoicePicker(voice="rex", catalog=CATALOG).model == "tts-xai-v1"
    assert "--model tts-xai-v1 --voice rex" in VoicePicker(voice="rex", catalog=CATALOG).magic_line


def test_explorer_filters_like_its_view() -> None:
    explorer = VoiceExplorer(catalog=CATALOG)
    assert len(explorer.visible()) == 10
    explorer.model_filter = "tts-kokoro"
    explorer.gender_filter = "female"
    assert [v["id"] for v in explorer.visible()] == [
        "af_heart",
        "af_sky",
        "bf_emma",
        "ff_siwis",
        "jf_alpha",
    ]
    explorer.accent_filter = "British"
    assert [v["id"] for v in explorer.visible()] == ["bf_emma"]
    explorer.accent_filter = ""
    explorer.query = "japanese"
    assert [v["id"] for v in explorer.visible()] == ["jf_alpha"]
    assert VoiceExplorer(region="a", catalog=CATALOG).visible()[0]["accent"] == "American"


def test_explorer_rows_are_plain_json() -> None:
    row = VoiceExplorer(catalog=CATALOG).voices[0]
    assert row == {
        "id": "af_heart",
        "model": "tts-kokoro",
        "gender": "female",
        "language": "English",
        "accent": "American",
        "region": "a",
        "label": "af_heart: American English, female",
    }


def test_sample_text_speaks_the_voice_language() -> None:
    assert sample_text("ff_siwis", "French").startswith("Bonjour")
    assert "rex" in sample_text("rex", None)


def test_transcript_widget_traits(always_widgets: None) -> None:
    words = [Word("Hello", 0.0, 0.4), Word("again.", 0.4, 0.9), Word("Bye.", 2.0, 2.4)]
    t = Transcript(
        "Hello again. Bye.",
        words,
        [Segment("Hello again.", 0.0, 0.9), Segment("Bye.", 2.0, 2.4)],
        duration=2.5,
        audio=EmbeddedAudio(b"ID3fake", "audio/mpeg", 2.5),
        offline=True,
    )
    w = t.widget()
    assert isinstance(w, TranscriptWidget) and t.widget() is w
    assert w.audio == b"ID3fake" and w.mime == "audio/mpeg"
    assert w.groups == [
        {"start": 0.0, "words": [["Hello", 0.0, 0.4], ["again.", 0.4, 0.9]]},
        {"start": 2.0, "words": [["Bye.", 2.0, 2.4]]},
    ]
    assert w.badges == [["offline engine", "offline"]]
    assert "export default { render }" in w._esm and ".vnb-word.vnb-active" in w._css
    # A result is data, not a live widget, even where widgets render: it must outlive the kernel.
    data = t._repr_mimebundle_()
    assert WIDGET_MIME not in data
    assert {"text/html", "text/plain", VNB_MIME} <= set(data)


def test_controls_carry_the_widget_view_only_inside_a_kernel_by_default() -> None:
    explorer = VoiceExplorer(catalog=CATALOG)
    data = explorer._repr_mimebundle_()
    assert WIDGET_MIME not in data  # no kernel here: static view, HTML and text only
    assert data[VNB_MIME]["kind"] == "voices"


@pytest.mark.local
def test_picker_and_explorer_load_the_engine_catalog(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("piper")
    monkeypatch.delenv("VENICE_API_KEY", raising=False)
    monkeypatch.delenv("VENICE_BASE_URL", raising=False)
    monkeypatch.setenv("VENICE_NB_CACHE_DIR", str(tmp_path))
    from venice_nb import session

    if session._backend is not None and not session.get_backend().is_local:
        session.reset_backend()
    explorer = VoiceExplorer()
    assert len(explorer.voices) >= 200 and len(explorer.models) >= 10
    picker = VoicePicker(model="tts-xai-v1")
    assert picker.voice in [v["id"] for v in explorer.voices if v["model"] == "tts-xai-v1"]

    first = explorer.preview("tts-kokoro", "bf_emma").result(timeout=60)
    assert first.mime == "audio/mpeg" and first.duration and first.duration > 1.0
    assert explorer.status.startswith("tts-kokoro / bf_emma:") and "cached" not in explorer.status
    again = explorer.preview("tts-kokoro", "bf_emma").result(timeout=60)
    assert again.data == first.data and explorer.status.endswith("(cached)")

    explorer._on_message(explorer, {"type": "preview", "model": "tts-kokoro", "voice": "nope"}, [])
    with pytest.raises(Exception, match="not a voice of tts-kokoro"):
        explorer.preview("tts-kokoro", "nope").result(timeout=60)
    assert "not a voice of tts-kokoro" in explorer.status
