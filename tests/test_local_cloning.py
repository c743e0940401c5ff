"""Voice cloning offline: vv_ handles paired with their model, checked containers and lengths,
kept on disk across restarts, expiring after seven days, rendered at the sample's pitch."""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("piper")

import aiohttp
import av
import numpy as np

from venice_nb.local import LocalConfig, LocalServer

pytestmark = pytest.mark.local

TOKEN = "cloning-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-cloning")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[LocalServer]:
    with LocalServer(LocalConfig(data_dir=data_dir, token=TOKEN)) as srv:
        yield srv


def sung_wav(f0: float, seconds: float, rate: int = 16000) -> bytes:
    """A voiced, vowel-like test signal with a known pitch: harmonics of ``f0``, gently wobbling."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * f0 * t + 0.3 * np.sin(2 * np.pi * 3 * t)
    signal = sum((0.5 / k) * np.sin(k * phase) for k in range(1, 8))
    signal = 0.6 * signal / np.max(np.abs(signal))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((signal * 32767).astype("<i2").tobytes())
    return out.getvalue()


def transcode(wav: bytes, container: str, codec: str) -> bytes:
    with av.open(io.BytesIO(wav)) as src:
        frames = list(src.decode(audio=0))
    out = io.BytesIO()
    with av.open(out, "w", format=container) as dst:
        stream = dst.add_stream(codec, rate=48000 if codec == "libopus" else 16000, layout="mono")
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=stream.rate)
        for frame in frames:
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out.getvalue()


async def clone(
    server: LocalServer, sample: bytes, model: str | None = None
) -> tuple[int, dict[str, Any]]:
    data = aiohttp.FormData(default_to_multipart=True)
    data.add_field("file", sample, filename="voice.bin", content_type="application/octet-stream")
    if model is not None:
        data.add_field("model", model)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.post(f"{server.base_url}/audio/voices", data=data) as r:
            return r.status, await r.json()


async def speak(server: LocalServer, voice: str, model: str) -> tuple[int, dict[str, str], bytes]:
    body = {
        "input": "Testing the cloned voice.",
        "model": model,
        "voice": voice,
        "response_format": "wav",
    }
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.post(f"{server.base_url}/audio/speech", json=body) as r:
            return r.status, dict(r.headers), await r.read()


def pitch_of(label: str) -> float:
    return float(label.split("pitch=")[1].split(";")[0])


async def test_a_clone_speaks_at_the_samples_pitch(server: LocalServer) -> None:
    status, low = await clone(server, sung_wav(100.0, 3.0))
    assert status == 200, low
    assert low["model"] == "tts-chatterbox-hd" and low["id"].startswith("vv_")
    status, high = await clone(server, sung_wav(200.0, 3.0), "tts-chatterbox-hd")
    assert status == 200
    status, h_low, audio_low = await speak(server, low["id"], "tts-chatterbox-hd")
    assert status == 200 and audio_low[:4] == b"RIFF"
    status, h_high, _ = await speak(server, high["id"], "tts-chatterbox-hd")
    assert status == 200
    # the bundled piper voice sits near 93 Hz, so 100 Hz ~ x1.08 and 200 Hz ~ x2 (capped at 1.6)
    assert 0.95 < pitch_of(h_low["x-venice-nb-local-voice"]) < 1.2
    assert pitch_of(h_high["x-venice-nb-local-voice"]) == pytest.approx(1.6)


async def test_a_handle_works_only_with_its_model(server: LocalServer) -> None:
    status, voice = await clone(server, sung_wav(150.0, 2.0), "tts-minimax-speech-02-hd")
    assert status == 200 and voice["model"] == "tts-minimax-speech-02-hd"
    status, _, body = await speak(server, voice["id"], "tts-chatterbox-hd")
    assert status == 400
    assert "tts-minimax-speech-02-hd" in json.loads(body)["error"]
    status, _, body = await speak(server, "vv_doesnotexist", "tts-chatterbox-hd")
    assert status == 400 and "voice" in json.loads(body)["details"]


@pytest.mark.parametrize(
    ("model", "container", "codec", "accepted"),
    [
        ("tts-chatterbox-hd", "flac", "flac", True),
        ("tts-chatterbox-hd", "mp3", "libmp3lame", True),
        ("tts-chatterbox-hd", "ipod", "aac", True),
        ("tts-chatterbox-hd", "ogg", "libopus", False),
        ("tts-minimax-speech-02-hd", "flac", "flac", False),
        ("tts-minimax-speech-02-hd", "mp3", "libmp3lame", True),
    ],
)
async def test_containers_are_checked_per_model(
    server: LocalServer, model: str, container: str, codec: str, accepted: bool
) -> None:
    status, body = await clone(server, transcode(sung_wav(180.0, 2.0), container, codec), model)
    if accepted:
        assert status == 200, body
    else:
        assert status == 400 and body["code"] == "INVALID_AUDIO_FORMAT", body


async def test_bad_samples_and_models_are_refused(server: LocalServer) -> None:
    status, body = await clone(server, sung_wav(150.0, 0.5))
    assert status == 400 and "at least 1 s" in body["error"]
    status, body = await clone(server, sung_wav(150.0, 2.0), "tts-kokoro")
    assert status == 400 and body["code"] == "INVALID_MODEL"
    status, body = await clone(server, sung_wav(150.0, 2.0), "tts-imaginary")
    assert status == 404 and body["code"] == "MODEL_NOT_FOUND"
    status, body = await clone(server, b"")
    assert status == 422
    status, body = await clone(server, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 10)
    assert status == 422
    silent = io.BytesIO()
    with wave.open(silent, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 32000)
    status, body = await clone(server, silent.getvalue())
    assert status == 422


def test_handles_survive_a_restart_and_expire_after_seven_days(
    data_dir: Path, server: LocalServer
) -> None:
    status, keep = asyncio.run(clone(server, sung_wav(120.0, 2.0)))
    assert status == 200
    status, old = asyncio.run(clone(server, sung_wav(120.0, 2.0)))
    assert status == 200
    server.stop()
    store = data_dir / "cloned_voices.json"
    saved = json.loads(store.read_text("utf-8"))
    entry = next(v for v in saved["voices"] if v["id"] == old["id"])
    assert 6.9 * 86400 < entry["expires"] - entry["created"] < 7.1 * 86400
    entry["expires"] = time.time() - 3600  # as if created eight days ago
    store.write_text(json.dumps(saved), "utf-8")
    try:
        with LocalServer(LocalConfig(data_dir=data_dir, token=TOKEN)) as fresh:
            status, _, _ = asyncio.run(speak(fresh, keep["id"], "tts-chatterbox-hd"))
            assert status == 200
            status, _, body = asyncio.run(speak(fresh, old["id"], "tts-chatterbox-hd"))
            assert status == 400 and "expired" in json.loads(body)["error"]
    finally:
        server.start()  # other tests of the module share this server
