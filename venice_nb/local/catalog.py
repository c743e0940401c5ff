"""The model catalog the local server answers: the cloud snapshot shipped in ``data/catalog.json``."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

Gender = Literal["female", "male", "neutral"]

KOKORO = "tts-kokoro"
DEFAULT_TTS_MODEL = KOKORO
DEFAULT_ASR_MODEL = "nvidia/parakeet-tdt-0.6b-v3"
DEFAULT_CLONE_MODEL = "tts-chatterbox-hd"
DEFAULT_KOKORO_VOICE = "af_sky"

# Kokoro voice ids start with a language letter and a gender letter: af_heart, bm_george, ff_siwis.
KOKORO_LANGUAGES: dict[str, str] = {
    "a": "en-us",
    "b": "en-gb",
    "e": "es",
    "f": "fr",
    "h": "hi",
    "i": "it",
    "j": "ja",
    "p": "pt-br",
    "z": "cmn",
}

PCM_RATES: dict[str, int] = {"tts-gradium-v1": 48000}
"""Output sample rate per model; every other model answers 24 kHz."""

STREAMING_MODELS = frozenset({"tts-kokoro", "tts-xai-v1"})
"""Models whose streamed answers arrive progressively; the cloud buffers the others."""


def output_rate(model_id: str) -> int:
    """Sample rate of every format the model answers (pcm, and what the encoders are fed)."""
    return PCM_RATES.get(model_id, 24000)


@dataclass(frozen=True)
class VoiceInfo:
    """What the catalog implies about a voice: its gender and spoken language."""

    model: str
    voice: str
    gender: Gender
    language: str


class Catalog:
    """Read-only view of ``data/catalog.json`` with look-ups by model and voice."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw
        self._models: dict[str, dict[str, Any]] = {m["id"]: m for m in raw["data"]}
        self._genders: dict[str, dict[str, Gender]] = raw.get("voice_genders", {})

    @property
    def models(self) -> list[dict[str, Any]]:
        """Every model entry, in catalog order."""
        return list(self._raw["data"])

    def model(self, model_id: str) -> dict[str, Any] | None:
        """The model entry with this id, or None."""
        return self._models.get(model_id)

    def ids(self, kind: str) -> list[str]:
        """Ids of the models of one type (``tts`` or ``asr``)."""
        return [m["id"] for m in self._raw["data"] if m["type"] == kind]

    def voices(self, model_id: str) -> list[str]:
        """The catalog voices of a TTS model."""
        model = self._models.get(model_id)
        return list(model["model_spec"].get("voices", [])) if model else []

    def spec(self, model_id: str) -> dict[str, Any]:
        """The model_spec of a known model."""
        return dict(self._models[model_id]["model_spec"])

    def default_voice(self, model_id: str) -> str:
        """The voice used when a request names none: af_sky for Kokoro, else the first listed."""
        if model_id == KOKORO:
            return DEFAULT_KOKORO_VOICE
        return self.voices(model_id)[0]

    def voice_info(self, model_id: str, voice: str) -> VoiceInfo:
        """Gender and language of a catalog voice (Kokoro's from its id, others' from the table)."""
        if model_id == KOKORO and len(voice) > 2 and voice[2] == "_":
            gender: Gender = "female" if voice[1] == "f" else "male"
            return VoiceInfo(model_id, voice, gender, KOKORO_LANGUAGES.get(voice[0], "en-us"))
        gender = self._genders.get(model_id, {}).get(voice, "neutral")
        return VoiceInfo(model_id, voice, gender, "en-us")

    def listing(self, kind: str, labels: dict[str, str]) -> dict[str, Any]:
        """The ``GET /models`` answer for ``kind`` (tts, asr, all, or any other type: empty).

        ``labels`` maps ``tts`` and ``asr`` to a description of the local engine serving them; it
        is appended to each model's name and description so nobody mistakes this for the cloud.
        """
        data: list[dict[str, Any]] = []
        for model in self._raw["data"]:
            if kind not in ("all", model["type"]):
                continue
            entry = copy.deepcopy(model)
            spec = entry["model_spec"]
            label = labels.get(model["type"], "")
            original = spec.get("name", model["id"])
            spec["name"] = f"{original} (offline: {label})"
            spec["description"] = (
                f"Offline stand-in for {original}, served by venice-nb's local engine: {label}. "
                "Same API, locally synthesised voices, not the provider's model."
            )
            spec["offline"] = False
            spec["local_engine"] = label
            entry.setdefault("object", "model")
            entry["owned_by"] = "venice.ai"
            data.append(entry)
        return {"object": "list", "type": kind, "data": data}


@cache
def load_catalog() -> Catalog:
    """The catalog shipped inside the package (works from a wheel, no ``shared/`` needed)."""
    text = resources.files("venice_nb.local").joinpath("data/catalog.json").read_text("utf-8")
    return Catalog(json.loads(text))
