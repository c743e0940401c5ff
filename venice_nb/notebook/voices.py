"""Voice widgets: :class:`VoicePicker` (model, then voice) and :class:`VoiceExplorer` (every
catalog voice, filterable, with a spoken preview and a copyable magic line).

Saved notebooks: both also carry a static view in venice_nb's mimetype (the voices they list and
the copyable ``%%venice_speak`` line), which the JupyterLab / Notebook 7 extension shows whenever
the live widget cannot render (kernel gone or restarted, untrusted notebook).

Both read the catalog once through the background loop (``client.audio.get_voices()`` and
``client.models.list("tts")``, cached by the client). The explorer renders client-side from one
JSON trait, so filtering 200+ voices never waits for the kernel; a preview asks Python with a
custom message, is spoken on the background loop (cached on disk) and comes back as a binary
message, so the kernel stays free while it is made.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets
import traitlets

from venice_nb.core.audio import REGION_LANGUAGE_MAPPING
from venice_nb.core.types import VoiceDetails

from . import runner
from .display import VNB_MIME, escape, widget_bundle, widgets_enabled
from .embed import EmbeddedAudio

__all__ = ["Catalog", "VoiceExplorer", "VoicePicker", "load_catalog", "sample_text"]

_HERE = Path(__file__).resolve().parent
ANY = ""
UNKNOWN_LANGUAGE = "multilingual / unknown"
"""The language shown (and filtered on) for voices whose catalog entry gives none."""

SAMPLES = {
    "English": "Hello! I am {voice}. This is how I sound when I read your notebook aloud.",
    "French": "Bonjour ! Je suis {voice}. Voici comment je lis votre carnet à voix haute.",
    "Spanish": "¡Hola! Soy {voice}. Así es como leo tu cuaderno en voz alta.",
    "Italian": "Ciao! Sono {voice}. Ecco come leggo ad alta voce il tuo notebook.",
    "Portuguese": "Olá! Eu sou {voice}. É assim que leio o seu caderno em voz alta.",
    "German": "Hallo! Ich bin {voice}. So klinge ich, wenn ich dein Notebook vorlese.",
    "Hindi": "नमस्ते! मैं {voice} हूँ। मैं आपकी नोटबुक ऐसे पढ़ती हूँ।",
    "Japanese": "こんにちは！{voice}です。ノートブックをこんなふうに読み上げます。",
    "Chinese": "你好！我是{voice}。我会这样朗读你的笔记本。",
    "Korean": "안녕하세요! 저는 {voice}입니다. 이렇게 노트북을 읽어 드려요.",
    "Russian": "Привет! Я {voice}. Вот так я читаю ваш блокнот вслух.",
}


def sample_text(voice: str, language: str | None) -> str:
    """A short preview sentence in the voice's language (English when unknown)."""
    return SAMPLES.get(language or "English", SAMPLES["English"]).format(voice=voice)


@dataclass(frozen=True)
class Catalog:
    """The TTS models (id, display name) and every voice with what is known about it."""

    models: list[tuple[str, str]]
    voices: list[VoiceDetails]

    def voices_of(self, model: str) -> list[VoiceDetails]:
        return [v for v in self.voices if v.model_id == model]

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per voice, as the explorer's JSON trait."""
        return [
            {
                "id": v.id,
                "model": v.model_id,
                "gender": v.gender,
                "language": v.language or UNKNOWN_LANGUAGE,
                "accent": v.accent or "",
                "region": v.region_code or "",
                "label": v.label,
            }
            for v in self.voices
        ]


async def _catalog_async() -> Catalog:
    client = await runner.get_client()
    models = await client.models.list("tts")
    voices = await client.audio.get_voices()
    return Catalog([(m.id, m.name) for m in models], list(voices))


def load_catalog() -> Catalog:
    """The backend's TTS models and voices (one request, cached by the client)."""
    return runner.run(_catalog_async())


def _kernel_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _control_bundle(control: Any, widget: Any) -> dict[str, Any]:
    """A control's output: its static view (venice_nb's mimetype, HTML, text), plus the live
    widget view (``widget``: the widget's own ``_repr_mimebundle_`` owner) where widgets render."""
    data: dict[str, Any] = {
        "text/plain": repr(control),
        "text/html": control._repr_html_(),
        VNB_MIME: control._payload(),
    }
    if widgets_enabled():
        data.update(widget_bundle(widget))
    return data


# -- VoicePicker ----------------------------------------------------------------------------------
class VoicePicker(ipywidgets.VBox):
    """Pick a model, then one of its voices (labels like "af_heart: American English, female"),
    optionally filtered by gender and language. ``.model`` and ``.voice`` are traits: observe
    them or ``traitlets.link`` them to other widgets."""

    model = traitlets.Unicode("")
    voice = traitlets.Unicode("")
    gender = traitlets.Unicode(ANY)
    language = traitlets.Unicode(ANY)

    def __init__(
        self,
        model: str | None = None,
        voice: str | None = None,
        *,
        gender: str = ANY,
        language: str = ANY,
        catalog: Catalog | None = None,
        **kwargs: Any,
    ) -> None:
        from .settings import current

        self.catalog = catalog or load_catalog()
        conf = current()
        self._busy = False
        self._model_dd = ipywidgets.Dropdown(
            options=[
                (f"{name} ({mid})" if name != mid else mid, mid)
                for mid, name in self.catalog.models
            ],
            description="Model",
        )
        self._gender_dd = ipywidgets.Dropdown(
            options=[("any", ANY), ("female", "female"), ("male", "male"), ("unknown", "unknown")],
            description="Gender",
        )
        self._language_dd = ipywidgets.Dropdown(options=[("any", ANY)], description="Language")
        self._voice_dd = ipywidgets.Dropdown(options=[], description="Voice")
        style = {"description_width": "70px"}
        for dd in (self._model_dd, self._gender_dd, self._language_dd, self._voice_dd):
            dd.style = style
            # As wide as the longest entry ("ElevenLabs Turbo v2.5 (tts-elevenlabs-turbo-v2-5)").
            dd.layout = ipywidgets.Layout(width="max-content", min_width="420px")
        super().__init__(
            children=[
                self._model_dd,
                ipywidgets.HBox([self._gender_dd, self._language_dd]),
                self._voice_dd,
            ],
            **kwargs,
        )
        for dd in (self._gender_dd, self._language_dd):
            dd.layout = ipywidgets.Layout(width="max-content", min_width="210px")
        self._model_dd.observe(lambda ch: self._set("model", ch["new"]), "value")
        self._gender_dd.observe(lambda ch: self._set("gender", ch["new"]), "value")
        self._language_dd.observe(lambda ch: self._set("language", ch["new"]), "value")
        self._voice_dd.observe(lambda ch: self._set("voice", ch["new"] or ""), "value")

        wanted_model = model or conf.model
        if voice and not model:
            owners = [v.model_id for v in self.catalog.voices if v.id == voice]
            if owners and wanted_model not in owners:
                wanted_model = owners[0]
        known = [m for m, _ in self.catalog.models]
        if wanted_model not in known:
            raise ValueError(f"Unknown TTS model {wanted_model!r}; pick one of {', '.join(known)}.")
        self.gender, self.language = gender, language
        self.model = wanted_model
        self.voice = voice or (conf.voice if conf.model == wanted_model else self.voice)

    def _set(self, name: str, value: str) -> None:
        if not self._busy:
            setattr(self, name, value)

    # -- what the voice dropdown offers -----------------------------------------------------------
    def languages(self) -> list[str]:
        """Languages among the current model's voices."""
        return sorted({v.language or UNKNOWN_LANGUAGE for v in self.catalog.voices_of(self.model)})

    def options(self) -> list[VoiceDetails]:
        """The current model's voices that pass the gender and language filters."""
        return [
            v
            for v in self.catalog.voices_of(self.model)
            if (not self.gender or v.gender == self.gender)
            and (not self.language or (v.language or UNKNOWN_LANGUAGE) == self.language)
        ]

    def _refresh(self) -> None:
        if not self.model:
            return
        self._busy = True
        try:
            self._model_dd.value = self.model
            langs = self.languages()
            self._language_dd.options = [("any", ANY)] + [(lang, lang) for lang in langs]
            if self.language and self.language not in langs:
                self.language = ANY
            self._language_dd.value = self.language
            self._gender_dd.value = self.gender
            choices = self.options()
            self._voice_dd.options = [(v.label, v.id) for v in choices]
            ids = [v.id for v in choices]
            if self.voice not in ids:
                self.voice = ids[0] if ids else ""
            self._voice_dd.value = self.voice or None
        finally:
            self._busy = False

    @traitlets.validate("voice")
    def _valid_voice(self, proposal: Any) -> str:
        value = proposal["value"]
        if not value or self._busy or not self.model:
            return str(value)
        ids = [v.id for v in self.catalog.voices_of(self.model)]
        if value not in ids:
            raise traitlets.TraitError(
                f"{value!r} is not a voice of {self.model}; pick one of {', '.join(ids[:12])}"
                f"{', ...' if len(ids) > 12 else ''}."
            )
        return str(value)

    @traitlets.observe("model", "gender", "language")
    def _on_filter(self, change: Any) -> None:
        if not self._busy:
            self._refresh()

    @traitlets.observe("voice")
    def _on_voice(self, change: Any) -> None:
        if self._busy:
            return
        if change["new"] and change["new"] not in [v.id for v in self.options()]:
            self._busy = True
            try:
                self.gender, self.language = ANY, ANY
            finally:
                self._busy = False
        self._refresh()

    @property
    def magic_line(self) -> str:
        """The ``%%venice_speak`` line for the current choice."""
        return f"%%venice_speak --model {self.model} --voice {self.voice}"

    # -- outputs that outlive the kernel ------------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        return {
            "kind": "voices",
            "voices": [r for r in self.catalog.rows() if r["model"] == self.model],
            "models": [[m, name] for m, name in self.catalog.models],
            "model_filter": self.model,
            "selected": self.voice,
            "status": f"Picked: {self.magic_line} (run the cell to pick again)",
            "offline_note": "Run the cell to pick a voice with the live picker.",
        }

    def _repr_html_(self) -> str:
        return (
            f"<div>Picked voice: <code>{escape(self.magic_line)}</code> "
            "(run the cell to pick again)</div>"
        )

    def __repr__(self) -> str:
        return f"<VoicePicker: {self.magic_line}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        return _control_bundle(self, super())


# -- VoiceExplorer --------------------------------------------------------------------------------
class VoiceExplorer(anywidget.AnyWidget):
    """Every catalog voice in one view, filtered client-side by model, gender, language, accent
    and a search box; a preview button per voice speaks a sample (cached) and plays it; a copy
    button puts ``%%venice_speak --model M --voice V`` on the clipboard."""

    _esm = _HERE / "voice_explorer.js"
    _css = _HERE / "voice_explorer.css"

    voices = traitlets.List(traitlets.Dict()).tag(sync=True)
    models = traitlets.List(traitlets.List(traitlets.Unicode())).tag(sync=True)
    model_filter = traitlets.Unicode(ANY).tag(sync=True)
    gender_filter = traitlets.Unicode(ANY).tag(sync=True)
    language_filter = traitlets.Unicode(ANY).tag(sync=True)
    accent_filter = traitlets.Unicode(ANY).tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)
    sample_text = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        *,
        model: str = ANY,
        gender: str = ANY,
        region: str | None = None,
        language: str = ANY,
        accent: str = ANY,
        catalog: Catalog | None = None,
        **kwargs: Any,
    ) -> None:
        catalog = catalog or load_catalog()
        if region:
            if region not in REGION_LANGUAGE_MAPPING:
                raise ValueError(
                    f"Unknown region code {region!r}; use one of {', '.join(REGION_LANGUAGE_MAPPING)}."
                )
            language = language or REGION_LANGUAGE_MAPPING[region]["language"]
            accent = accent or REGION_LANGUAGE_MAPPING[region]["accent"]
        known = [m for m, _ in catalog.models]
        if model and model not in known:
            raise ValueError(f"Unknown TTS model {model!r}; pick one of {', '.join(known)}.")
        super().__init__(
            voices=catalog.rows(),
            models=[[m, name] for m, name in catalog.models],
            model_filter=model,
            gender_filter=gender,
            language_filter=language,
            accent_filter=accent,
            **kwargs,
        )
        self.catalog = catalog
        self._kernel_loop: asyncio.AbstractEventLoop | None = None
        self.on_msg(self._on_message)

    def visible(self) -> list[dict[str, Any]]:
        """The voices the current filters let through (the same rule the view applies)."""
        q = self.query.strip().lower()
        return [
            v
            for v in self.voices
            if (not self.model_filter or v["model"] == self.model_filter)
            and (not self.gender_filter or v["gender"] == self.gender_filter)
            and (not self.language_filter or v["language"] == self.language_filter)
            and (not self.accent_filter or v["accent"] == self.accent_filter)
            and (not q or q in v["label"].lower() or q in v["model"].lower())
        ]

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "preview":
            self._kernel_loop = _kernel_loop()
            self.preview(str(content.get("model", "")), str(content.get("voice", "")))

    def _deliver(self, fn: Any) -> None:
        loop = self._kernel_loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn)
        else:
            fn()

    def preview(self, model: str, voice: str) -> concurrent.futures.Future[EmbeddedAudio]:
        """Speak the sample for ``voice`` on the background loop (cached) and send it to the
        view; returns at once with a future of the compact audio."""
        row = next((v for v in self.voices if v["model"] == model and v["id"] == voice), None)
        language = row["language"] if row else None
        text = self.sample_text.strip() or sample_text(voice, language)
        self.status = f"speaking a sample with {model} / {voice}…"
        return runner.submit(self._preview(model, voice, text))

    async def _preview(self, model: str, voice: str, text: str) -> EmbeddedAudio:
        from .api import SpeechRequest, embed_speech, speech_async

        try:
            outcome = await speech_async(SpeechRequest(text=text, model=model, voice=voice))
            embedded, note = await asyncio.to_thread(embed_speech, outcome.audio, None)
            if embedded is None:
                raise ValueError(note)
        except Exception as exc:
            message = str(exc)
            self._deliver(lambda: self._send_error(model, voice, message))
            raise
        done = f"{model} / {voice}: {embedded.duration or 0:.1f} s" + (
            " (cached)" if outcome.cached else ""
        )

        def send() -> None:
            self.status = done
            self.send(
                {
                    "type": "audio",
                    "model": model,
                    "voice": voice,
                    "mime": embedded.mime,
                    "cached": outcome.cached,
                },
                [embedded.data],
            )

        self._deliver(send)
        return embedded

    def _send_error(self, model: str, voice: str, message: str) -> None:
        self.status = f"{model} / {voice}: {message}"
        self.send({"type": "error", "model": model, "voice": voice, "message": message})

    # -- fallback outputs --------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{escape(v['id'])}</code></td><td>{escape(v['model'])}</td>"
            f"<td>{escape(v['gender'])}</td><td>{escape(v['language'])}</td>"
            f"<td>{escape(v['accent'])}</td></tr>"
            for v in self.visible()
        )
        return (
            f"<details><summary>{len(self.visible())} voices (run the notebook for previews)"
            "</summary><table><thead><tr><th>voice</th><th>model</th><th>gender</th>"
            f"<th>language</th><th>accent</th></tr></thead><tbody>{rows}</tbody></table></details>"
        )

    def __repr__(self) -> str:
        return f"<VoiceExplorer: {len(self.visible())} of {len(self.voices)} voices>"

    def _payload(self) -> dict[str, Any]:
        return {
            "kind": "voices",
            "voices": self.voices,
            "models": self.models,
            "model_filter": self.model_filter,
            "gender_filter": self.gender_filter,
            "language_filter": self.language_filter,
            "accent_filter": self.accent_filter,
            "query": self.query,
            "status": "",
            "offline_note": "Previews are spoken by the kernel: run the cell to hear them.",
        }

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return _control_bundle(self, super())
