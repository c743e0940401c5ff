"""Every catalog voice speaks offline: intelligibly (round trip through Whisper), audibly,
deterministically, at the requested speed, keeping gender where the engine can."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("piper")
pytest.importorskip("faster_whisper")

import aiohttp
import av
import numpy as np

from testkit.quality import wav_bytes, word_error_rate
from venice_nb.local import LocalConfig, LocalServer
from venice_nb.local.audio import estimate_f0

pytestmark = pytest.mark.local

TOKEN = "voices-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RATE = 24000
PARAGRAPH = (
    "Every morning the old fisherman walked down to the harbor, checked the weather, and "
    "decided whether his small wooden boat could safely leave before the storm arrived from the north."
)
ROUND_TRIP_VOICES = [
    ("tts-kokoro", "af_heart"),
    ("tts-kokoro", "af_bella"),
    ("tts-kokoro", "am_adam"),
    ("tts-kokoro", "am_michael"),
    ("tts-kokoro", "bf_emma"),
    ("tts-kokoro", "bm_george"),
    ("tts-elevenlabs-turbo-v2-5", "Rachel"),
    ("tts-xai-v1", "eve"),
    ("tts-chatterbox-hd", "Blade"),
    ("tts-gemini-3-1-flash", "Kore"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    config = LocalConfig(data_dir=tmp_path_factory.mktemp("local-voices"), token=TOKEN)
    with LocalServer(config) as srv:
        yield srv


@pytest.fixture(scope="module")
def catalog(server: LocalServer) -> dict[str, list[str]]:
    async def fetch() -> dict[str, list[str]]:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{server.base_url}/models?type=tts") as r:
                return {m["id"]: m["model_spec"]["voices"] for m in (await r.json())["data"]}

    return asyncio.run(fetch())


def test_word_error_rate_counts_substitutions_insertions_and_deletions() -> None:
    assert word_error_rate("The cat sat.", "the CAT sat") == 0.0
    assert word_error_rate("a b c d", "a x c d") == 0.25
    assert word_error_rate("a b c d", "a b c d e") == 0.25
    assert word_error_rate("a b c d", "a c d") == 0.25
    assert word_error_rate("a b", "") == 1.0


def test_word_error_rate_reads_numbers_and_initialisms_alike() -> None:
    """Whisper writes digits and "a.m."; the reference may spell them: neither is an error."""
    assert word_error_rate("It opened at 6:45 am.", "It opened at six forty-five a.m.") == 0.0
    assert word_error_rate("Made in the U.S. for $4,800.", "made in the US for 4800 dollars") == 0.0
    assert word_error_rate("at 6:45 am", "at 6:45 pm") == 0.2  # at six forty five [ap]m


MP3_ONLY = {
    "tts-elevenlabs-turbo-v2-5",
    "tts-qwen3-0-6b",
    "tts-qwen3-1-7b",
    "tts-minimax-speech-02-hd",
}


def decode_24k(data: bytes) -> np.ndarray:
    """Any answer decoded with PyAV to mono float32 at 24 kHz."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts = [
            f.to_ndarray().reshape(-1)
            for frame in container.decode(stream)
            for f in resampler.resample(frame)
        ]
        parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


async def speak(
    s: aiohttp.ClientSession, base: str, **body: Any
) -> tuple[np.ndarray, dict[str, str]]:
    """Ask for speech (WAV, or MP3 where the model offers no WAV) and decode it at 24 kHz."""
    body.setdefault("response_format", "mp3" if body.get("model") in MP3_ONLY else "wav")
    async with s.post(f"{base}/audio/speech", json=body) as r:
        raw = await r.read()
        assert r.status == 200, (body, raw[:300])
        headers = dict(r.headers)
    return decode_24k(raw), headers


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


@pytest.mark.slow
async def test_round_trip_speech_to_text_stays_under_ten_percent_wer(server: LocalServer) -> None:
    assert len(PARAGRAPH.split()) == 30
    async with aiohttp.ClientSession(headers=AUTH) as s:
        rates: dict[str, float] = {}
        for model, voice in ROUND_TRIP_VOICES:
            samples, headers = await speak(
                s, server.base_url, input=PARAGRAPH, model=model, voice=voice
            )
            assert "piper" in headers["x-venice-nb-local-voice"]
            data = aiohttp.FormData()
            data.add_field(
                "file", wav_bytes(samples, RATE), filename="speech.wav", content_type="audio/wav"
            )
            data.add_field("model", "openai/whisper-large-v3")
            data.add_field("response_format", "text")
            async with s.post(f"{server.base_url}/audio/transcriptions", data=data) as r:
                assert r.status == 200
                rates[f"{model}/{voice}"] = word_error_rate(PARAGRAPH, await r.text())
    assert all(rate <= 0.10 for rate in rates.values()), rates


@pytest.mark.slow
async def test_every_catalog_voice_is_audible(
    server: LocalServer, catalog: dict[str, list[str]]
) -> None:
    jobs = [(model, voice) for model, voices in catalog.items() for voice in voices]
    assert len(jobs) == 207
    limit = asyncio.Semaphore(4)
    labels: dict[str, str] = {}

    async def one(s: aiohttp.ClientSession, model: str, voice: str) -> tuple[str, float, float]:
        async with limit:
            samples, headers = await speak(
                s, server.base_url, input="Good morning, friend.", model=model, voice=voice
            )
        labels[f"{model}/{voice}"] = headers["x-venice-nb-local-voice"]
        return f"{model}/{voice}", rms(samples), samples.size / RATE

    async with aiohttp.ClientSession(headers=AUTH) as s:
        results = await asyncio.gather(*(one(s, m, v) for m, v in jobs))
    quiet = [(name, level) for name, level, _ in results if level < 0.02]
    assert quiet == []
    assert all(0.4 < seconds < 12 for _, _, seconds in results), results
    # English voices through piper, the other Kokoro languages through espeak-ng in their language.
    assert labels["tts-kokoro/af_heart"].startswith("piper:")
    assert labels["tts-kokoro/ff_siwis"].startswith("espeak:fr+f")
    assert labels["tts-kokoro/em_alex"].startswith("espeak:es+m")
    assert labels["tts-kokoro/zm_yunxi"].startswith("espeak:cmn+m")
    assert labels["tts-kokoro/pf_dora"].startswith("espeak:pt-br+f")
    assert len(set(labels.values())) > 150  # voices differ from one another


async def test_duration_grows_with_the_text(
    server: LocalServer, catalog: dict[str, list[str]]
) -> None:
    short, long = (
        "Hello there.",
        "Hello there. This second sentence makes the text much longer than before.",
    )
    sample = [(model, voices[0]) for model, voices in catalog.items()] + [
        ("tts-kokoro", voice)
        for voice in (
            "bm_lewis",
            "ef_dora",
            "hf_alpha",
            "if_sara",
            "jm_kumo",
            "pm_alex",
            "zf_xiaoyi",
        )
    ]
    async with aiohttp.ClientSession(headers=AUTH) as s:
        for model, voice in sample:
            a, _ = await speak(s, server.base_url, input=short, model=model, voice=voice)
            b, _ = await speak(s, server.base_url, input=long, model=model, voice=voice)
            assert b.size > 2 * a.size, (model, voice, a.size, b.size)


async def test_rendering_is_deterministic(server: LocalServer) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as s:
        for voice in ("af_nicole", "zf_xiaoni"):
            a, h1 = await speak(s, server.base_url, input="Same words, same sound.", voice=voice)
            b, h2 = await speak(s, server.base_url, input="Same words, same sound.", voice=voice)
            assert (
                np.array_equal(a, b)
                and h1["x-venice-nb-local-voice"] == h2["x-venice-nb-local-voice"]
            )


async def test_speed_is_honoured(server: LocalServer) -> None:
    text = "Speed changes how long this sentence takes to say."
    async with aiohttp.ClientSession(headers=AUTH) as s:
        for voice in ("am_echo", "if_sara"):
            normal, _ = await speak(s, server.base_url, input=text, voice=voice)
            fast, _ = await speak(s, server.base_url, input=text, voice=voice, speed=2.0)
            slow, _ = await speak(s, server.base_url, input=text, voice=voice, speed=0.5)
            assert 0.35 < fast.size / normal.size < 0.65, voice
            assert 1.6 < slow.size / normal.size < 2.4, voice
        quickest, _ = await speak(s, server.base_url, input=text, voice="ff_siwis", speed=4.0)
        slowest, _ = await speak(s, server.base_url, input=text, voice="ff_siwis", speed=0.25)
        assert slowest.size > 8 * quickest.size


async def test_female_voices_are_higher_pitched_than_male_ones(server: LocalServer) -> None:
    text = "This sentence is long enough to measure the pitch of the voice reliably."
    pitches: dict[str, float] = {}
    async with aiohttp.ClientSession(headers=AUTH) as s:
        for model, voice in [
            ("tts-kokoro", "af_sarah"),
            ("tts-kokoro", "bf_lily"),
            ("tts-orpheus", "tara"),
            ("tts-kokoro", "am_liam"),
            ("tts-kokoro", "bm_daniel"),
            ("tts-orpheus", "dan"),
        ]:
            samples, _ = await speak(s, server.base_url, input=text, model=model, voice=voice)
            f0 = estimate_f0(samples, RATE)
            assert f0 is not None
            pitches[voice] = f0
    female = [pitches[v] for v in ("af_sarah", "bf_lily", "tara")]
    male = [pitches[v] for v in ("am_liam", "bm_daniel", "dan")]
    assert min(female) > 1.2 * max(male), pitches


async def test_elevenlabs_accepts_a_raw_provider_voice_id(server: LocalServer) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as s:
        samples, headers = await speak(
            s,
            server.base_url,
            input="Custom voice.",
            model="tts-elevenlabs-turbo-v2-5",
            voice="21m00Tcm4TlvDq8ikWAM",
        )
    assert headers["Content-Type"] == "audio/mpeg" and rms(samples) > 0.02
