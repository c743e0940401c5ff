"""The offline engine's voices in each language, on sentences no tuning has seen.

Language detection picks among the requested model's languages: Parakeet v3 (the default
transcription model) knows 25 European languages and no Japanese, yet Whisper base heard the
English stand-in voices built on Japanese Kokoro packs as Japanese ("ライトアウスキーパー..." for
af_heart). Every English Kokoro voice, with no ``language``, must come back as English.

The Spanish, French, Italian, Portuguese and Mandarin voices must be understood on unseen
sentences (``testkit.sentences.UNSEEN``; issue 21 measured ff_siwis at 37.5 % there): at most
15 % word error rate (characters for Mandarin) per language, with the language detected.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from importlib import resources

import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("kokoro_onnx")

import aiohttp

from testkit.quality import word_error_rate
from testkit.roundtrip import Heard, pooled_error_rate, round_trip, speak, transcribe
from testkit.sentences import UNSEEN
from venice_nb.local import LocalConfig, LocalServer
from venice_nb.local.asr_languages import ASR_LANGUAGES, PARAKEET_V3_LANGUAGES, model_languages

pytestmark = pytest.mark.local

TOKEN = "languages-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

FRESH = [
    # Sentences no other test or notebook speaks (the detection must not be tuned to them).
    "The lighthouse keeper counted seven ships before the storm reached the harbor.",
    "Bring an umbrella, because the forecast promises heavy rain after lunch.",
    "My grandmother baked bread every Sunday for the whole street.",
    "The train to Edinburgh leaves from platform nine at a quarter past eight.",
    "Please water the tomatoes while I am away on holiday.",
    "A small red kite hovered above the meadow looking for mice.",
    "The museum closes early on Mondays, so we should go tomorrow.",
]
LATIN = re.compile(r"^[\sA-Za-z0-9'’.,;:!?\-\"$%&()]*$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    # Natural voices (the suite defaults to fast ones): these are the Kokoro voices under test.
    config = LocalConfig(
        data_dir=tmp_path_factory.mktemp("local-languages"), token=TOKEN, fast=False
    )
    with LocalServer(config) as srv:
        yield srv


def test_every_catalog_transcription_model_says_which_languages_it_knows() -> None:
    catalog = json.loads((resources.files("venice_nb.local") / "data" / "catalog.json").read_text())
    asr = {m["id"] for m in catalog["data"] if m.get("type") == "asr"}
    assert asr == set(ASR_LANGUAGES), "add the new model's languages to asr_languages.py"
    assert model_languages("nvidia/parakeet-tdt-0.6b-v3") == PARAKEET_V3_LANGUAGES
    assert len(PARAKEET_V3_LANGUAGES) == 25 and "ja" not in PARAKEET_V3_LANGUAGES
    assert model_languages("openai/whisper-large-v3") is None  # every Whisper language
    assert model_languages(None) is None and model_languages("no/such-model") is None


@pytest.mark.slow
def test_every_english_kokoro_voice_is_heard_as_english_with_no_language_given(
    server: LocalServer,
) -> None:
    async def run() -> list[tuple[str, str, str, float]]:
        out = []
        async with aiohttp.ClientSession(headers=AUTH) as s:
            async with s.get(f"{server.base_url}/models?type=tts") as r:
                models = {m["id"]: m["model_spec"]["voices"] for m in (await r.json())["data"]}
            english = [v for v in models["tts-kokoro"] if v[:2] in {"af", "am", "bf", "bm"}]
            assert len(english) >= 20
            for i, voice in enumerate(english):
                text = FRESH[i % len(FRESH)]
                heard = await transcribe(
                    s, server.base_url, (await speak(s, server.base_url, voice, text))[0]
                )
                out.append((voice, text, heard, word_error_rate(text, heard)))
        return out

    results = asyncio.run(run())
    not_english = [(v, heard) for v, _t, heard, _w in results if not LATIN.match(heard)]
    assert not not_english, not_english
    # Heard as English, not in another Latin-script language: most words come back. (Recognition
    # quality is tested elsewhere; tiny.en's own slips reach 0.46 here, "The turns to Ed and
    # Burles from Platform 9 at Core past 8", where a German or Dutch decoding is near 1.)
    garbled = [(v, heard, round(w, 2)) for v, _t, heard, w in results if w > 0.6]
    assert not garbled, garbled


OTHER_LANGUAGES = {"e": "es", "f": "fr", "i": "it", "p": "pt-br", "z": "cmn"}
"""Kokoro voice id letter -> language, for the languages with an unseen set (no Hindi set: Whisper
base writes Hindi in Urdu script; Japanese has no set)."""


@pytest.mark.slow
def test_spanish_french_italian_portuguese_and_mandarin_voices_are_understood_on_unseen_sentences(
    server: LocalServer,
) -> None:
    """Every other sentence of each language's unseen set (10 or 11; the benchmark speaks them
    all), dealt out in turn to the language's voices; the language is detected (Mandarin through
    a model that knows it: Parakeet v3, the default, knows European languages only). Through
    the Japanese packs French read 41.8 %, Italian 23.1 % and Mandarin about 27 % (characters)
    on these sets; with the voices' own packs 2-13 % (``python benchmarks/bench_languages.py``)."""

    async def run() -> list[Heard]:
        async with aiohttp.ClientSession(headers=AUTH) as s:
            async with s.get(f"{server.base_url}/models?type=tts") as r:
                models = {m["id"]: m["model_spec"]["voices"] for m in (await r.json())["data"]}
            voices = [v for v in models["tts-kokoro"] if v[0] in OTHER_LANGUAGES]
            assert len(voices) == 17, voices
            out = []
            for language in OTHER_LANGUAGES.values():
                speakers = [v for v in voices if OTHER_LANGUAGES[v[0]] == language]
                fields = {"model": "openai/whisper-large-v3"} if language == "cmn" else {}
                for i, text in enumerate(UNSEEN[language][::2]):
                    voice = speakers[i % len(speakers)]
                    code = language.split("-")[0]
                    out.append(await round_trip(s, server.base_url, voice, text, code, **fields))
        return out

    results = asyncio.run(run())
    assert all(r.plan.startswith(f"kokoro:{r.voice}") for r in results), {
        r.voice: r.plan for r in results
    }  # each speaks with its own pack (zf_xiaoni blended with two others)
    by_language = {
        language: [r for r in results if OTHER_LANGUAGES[r.voice[0]] == language]
        for language in OTHER_LANGUAGES.values()
    }
    rates = {
        language: round(pooled_error_rate(heard), 3) for language, heard in by_language.items()
    }
    worst = sorted(results, key=lambda r: r.error_rate, reverse=True)[:4]
    assert all(rate <= 0.15 for rate in rates.values()), (
        rates,
        [(r.voice, r.text, r.heard) for r in worst],
    )
