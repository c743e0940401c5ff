"""The languages each catalog transcription model recognises, for language detection.

With no ``language`` in the request, the offline engine detects one with Whisper, which knows
about a hundred languages. A model that knows fewer cannot answer in the others: Parakeet v3, the
default, knows 25 European languages and no Japanese, yet Whisper base hears some of the English
stand-in voices (built on Japanese Kokoro packs) as Japanese (``ja`` 0.58 against ``en`` 0.34 for
``af_heart``). So detection picks the likeliest language *among the requested model's*, and the
answer is what that model could have given.

Where each list comes from (the catalog itself lists no languages):

- ``nvidia/parakeet-tdt-0.6b-v3``: its model card on Hugging Face ("25 European languages": bg,
  hr, cs, da, nl, en, et, fi, fr, de, el, hu, it, lv, lt, mt, pl, pt, ro, sk, sl, es, sv, ru, uk).
- ``openai/whisper-large-v3`` and ``fal-ai/wizper`` (Whisper v3): every language Whisper has a
  token for, i.e. no restriction.
- ``elevenlabs/scribe-v2`` and ``stt-xai-v1``: no list is published in the material this project
  works from, so no restriction (every language Whisper knows); say so rather than guess.
"""

from __future__ import annotations

__all__ = ["ASR_LANGUAGES", "PARAKEET_V3_LANGUAGES", "model_languages"]

PARAKEET_V3_LANGUAGES = frozenset(
    "bg hr cs da nl en et fi fr de el hu it lv lt mt pl pt ro sk sl es sv ru uk".split()
)
"""The 25 languages of ``nvidia/parakeet-tdt-0.6b-v3`` (its model card)."""

ASR_LANGUAGES: dict[str, frozenset[str] | None] = {
    "nvidia/parakeet-tdt-0.6b-v3": PARAKEET_V3_LANGUAGES,
    "openai/whisper-large-v3": None,
    "fal-ai/wizper": None,
    "elevenlabs/scribe-v2": None,
    "stt-xai-v1": None,
}
"""Catalog ASR model -> the ISO 639-1 codes it recognises; None: every language Whisper knows."""


def model_languages(model: str | None) -> frozenset[str] | None:
    """The languages detection may choose from for ``model`` (None: no restriction; an unknown
    model is not restricted either)."""
    if model is None:
        return None
    return ASR_LANGUAGES.get(model)
