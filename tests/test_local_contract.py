"""The offline server answers like the cloud contract: catalog, status codes, error bodies,
headers, content types, all six formats, progressive streaming, transcription, concurrency."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("piper")
pytest.importorskip("faster_whisper")

import aiohttp
import av
import numpy as np

from testkit.standin import load_contract, shared_dir
from venice_nb.core import VeniceClient
from venice_nb.local import LocalConfig, LocalServer

pytestmark = pytest.mark.local

TOKEN = "contract-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RATE_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)
PARAGRAPH = (
    "The library opens at nine in the morning. Students arrive early to find a quiet table. "
    "By noon every seat is taken. The librarian closes the doors at six in the evening."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    config = LocalConfig(data_dir=tmp_path_factory.mktemp("local-contract"), token=TOKEN)
    with LocalServer(config) as srv:
        yield srv


@pytest.fixture(scope="module")
def spoken_wav(server: LocalServer) -> bytes:
    """A few sentences of real speech from the server itself, as WAV (loads piper once)."""

    async def fetch() -> bytes:
        async with aiohttp.ClientSession(headers=AUTH) as s:
            body = {"input": PARAGRAPH, "voice": "am_michael", "response_format": "wav"}
            async with s.post(f"{server.base_url}/audio/speech", json=body) as r:
                assert r.status == 200, await r.text()
                return await r.read()

    return asyncio.run(fetch())


def decode(data: bytes) -> tuple[np.ndarray, int, str]:
    """Decode audio bytes with PyAV: mono float samples, stream sample rate, codec name."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        codec = stream.codec_context.name
        frames = [
            f.to_ndarray().astype(np.float32).reshape(f.layout.nb_channels, -1)[0]
            for f in container.decode(stream)
        ]
    samples = np.concatenate(frames) if frames else np.zeros(0, np.float32)
    if samples.dtype != np.float32 or np.abs(samples).max(initial=0) > 2:
        samples = samples / 32768.0
    return samples, rate, codec


def form(file: bytes | None, **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    if file is not None:
        data.add_field("file", file, filename="sample.bin", content_type="application/octet-stream")
    for key, value in fields.items():
        data.add_field(key, value)
    return data


async def post_speech(
    server: LocalServer, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{server.base_url}/audio/speech",
            json=body,
            headers=AUTH if headers is None else headers,
        ) as r:
            return r.status, dict(r.headers), await r.read()


async def post_form(
    server: LocalServer, path: str, data: aiohttp.FormData, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{server.base_url}{path}", data=data, headers=AUTH if headers is None else headers
        ) as r:
            return r.status, dict(r.headers), await r.read()


def assert_error(
    status: int, body: bytes, expected: int, code: str | None = None
) -> dict[str, Any]:
    assert status == expected, body
    payload = json.loads(body)
    assert isinstance(payload["error"], str) and payload["error"]
    if code is not None:
        assert payload.get("code") == code, payload
    assert TOKEN not in body.decode()
    return payload


# --------------------------------------------------------------------------- catalog


async def test_models_answer_the_whole_catalog_valid_against_the_contract(
    server: LocalServer,
) -> None:
    contract = load_contract(shared_dir())
    validator = contract.validator("ModelResponse")
    shared = json.loads((shared_dir() / "venice-api" / "catalog.json").read_text("utf-8"))
    async with aiohttp.ClientSession() as s:
        for kind in ("tts", "asr", "all"):
            async with s.get(f"{server.base_url}/models", params={"type": kind}) as r:
                assert r.status == 200
                assert r.headers["x-venice-nb-engine"] == "offline"
                listing = await r.json()
            assert listing["object"] == "list" and listing["type"] == kind
            expected = [m for m in shared["data"] if kind in ("all", m["type"])]
            assert [m["id"] for m in listing["data"]] == [m["id"] for m in expected]
            for got, want in zip(listing["data"], expected, strict=True):
                assert list(validator.iter_errors(got)) == [], got["id"]
                assert got["owned_by"] == "venice.ai" and got["object"] == "model"
                assert got["model_spec"].get("voices") == want["model_spec"].get("voices")
                assert "offline" in got["model_spec"]["name"]
                assert "Offline stand-in" in got["model_spec"]["description"]
    tts = {m["id"]: m["model_spec"] for m in listing["data"] if m["type"] == "tts"}
    assert sum(len(spec["voices"]) for spec in tts.values()) == 207
    for model_id, spec in tts.items():
        assert spec["default_format"] in spec["supported_formats"], model_id
        want_formats = next(m for m in shared["data"] if m["id"] == model_id)["model_spec"].get(
            "supported_formats"
        )
        if want_formats:
            assert spec["supported_formats"] == want_formats
    assert tts["tts-kokoro"]["default_format"] == "mp3"
    assert tts["tts-chatterbox-hd"]["default_format"] == "wav"
    assert tts["tts-chatterbox-hd"]["voice_cloning"] == {
        "mode": "zero_shot",
        "accepted_formats": ["mp3", "wav", "flac", "m4a"],
        "min_sample_seconds": 5,
        "retention_days": 7,
    }
    assert tts["tts-minimax-speech-02-hd"]["voice_cloning"]["mode"] == "persistent"
    assert tts["tts-minimax-speech-02-hd"]["voice_cloning"]["accepted_formats"] == ["mp3", "wav"]
    assert tts["tts-elevenlabs-turbo-v2-5"]["supports_custom_voice_id"] is True
    assert "voice_cloning" not in tts["tts-kokoro"]


async def test_models_reject_an_unknown_type_and_default_to_text(server: LocalServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{server.base_url}/models", params={"type": "sounds"}) as r:
            payload = assert_error(r.status, await r.read(), 400, "INVALID_REQUEST")
            assert "type" in payload["details"]
        async with s.get(f"{server.base_url}/models") as r:
            assert r.status == 200
            assert (await r.json())["data"] == []  # the cloud's default type is text


async def test_every_answer_carries_rate_limit_headers_and_a_request_id(
    server: LocalServer,
) -> None:
    async with aiohttp.ClientSession() as s:
        answers = []
        async with s.get(f"{server.base_url}/models?type=tts") as r:
            answers.append(r.headers)
        async with s.post(f"{server.base_url}/audio/speech", json={"input": "Hi."}) as r:
            assert r.status == 401
            answers.append(r.headers)
        async with s.get(f"{server.base_url}/nowhere") as r:
            assert r.status == 404
            assert (await r.json())["error"]
            answers.append(r.headers)
        async with s.post(
            f"{server.base_url}/audio/speech", json={"input": "Hi."}, headers=AUTH
        ) as r:
            assert r.status == 200
            answers.append(r.headers)
    ids = set()
    for headers in answers:
        for name in RATE_HEADERS:
            assert headers[name].replace(".", "").isdigit(), name
        ids.add(headers["x-request-id"])
    assert len(ids) == len(answers)


# --------------------------------------------------------------------------- errors


async def test_a_missing_or_wrong_token_is_401_and_never_echoed(server: LocalServer) -> None:
    status, _, body = await post_speech(server, {"input": "Hi."}, headers={"X-Nothing": "1"})
    assert_error(status, body, 401, "AUTHENTICATION_FAILED")
    status, _, body = await post_speech(
        server, {"input": "Hi."}, headers={"Authorization": "Bearer nope"}
    )
    assert_error(status, body, 401, "AUTHENTICATION_FAILED")
    status, _, body = await post_form(
        server, "/audio/transcriptions", form(b"x"), headers={"Authorization": f"Basic {TOKEN}"}
    )
    assert_error(status, body, 401, "AUTHENTICATION_FAILED")
    status, _, body = await post_form(server, "/audio/voices", form(b"x"), headers={})
    assert_error(status, body, 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "input"),
        ({"input": ""}, "input"),
        ({"input": "x" * 4097}, "input"),
        ({"input": 42}, "input"),
        ({"input": "Hi.", "speed": 0.1}, "speed"),
        ({"input": "Hi.", "speed": 4.5}, "speed"),
        ({"input": "Hi.", "speed": "fast"}, "speed"),
        ({"input": "Hi.", "response_format": "ogg"}, "response_format"),
        ({"input": "Hi.", "streaming": "yes"}, "streaming"),
        ({"input": "Hi.", "temperature": 3}, "temperature"),
        ({"input": "Hi.", "top_p": -0.1}, "top_p"),
        ({"input": "Hi.", "prompt": "p" * 501}, "prompt"),
        ({"input": "Hi.", "language": "e"}, "language"),
        ({"input": "Hi.", "voice": "v" * 513}, "voice"),
        ({"input": "Hi.", "voice": "af_nobody"}, "voice"),
        ({"input": "Hi.", "voice": "AF_HEART"}, "voice"),
        ({"input": "Hi.", "model": "tts-xai-v1", "voice": "af_heart"}, "voice"),
        (
            {
                "input": "Hi.",
                "model": "tts-elevenlabs-turbo-v2-5",
                "voice": "Rachel",
                "response_format": "wav",
            },
            "response_format",
        ),
    ],
)
async def test_speech_validation_errors_are_400_with_details(
    server: LocalServer, body: dict[str, Any], field: str
) -> None:
    status, _, raw = await post_speech(server, body)
    payload = assert_error(status, raw, 400)
    assert field in payload["details"], payload
    assert payload["details"][field]["_errors"]


async def test_unsupported_format_names_the_supported_ones(server: LocalServer) -> None:
    body = {
        "input": "Hi.",
        "model": "tts-elevenlabs-turbo-v2-5",
        "voice": "Rachel",
        "response_format": "flac",
    }
    status, _, raw = await post_speech(server, body)
    assert "mp3" in assert_error(status, raw, 400)["error"]


async def test_unknown_keys_and_non_objects_are_400(server: LocalServer) -> None:
    status, _, raw = await post_speech(server, {"input": "Hi.", "volume": 3})
    payload = assert_error(status, raw, 400)
    assert "volume" in payload["details"]["_errors"][0]
    status, _, raw = await post_speech(server, ["input"])
    assert_error(status, raw, 400)


async def test_malformed_json_is_400_not_500(server: LocalServer) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as s:
        for raw in (b"{", b"\xff\xfe", b"", b"nul"):
            async with s.post(
                f"{server.base_url}/audio/speech",
                data=raw,
                headers={"Content-Type": "application/json"},
            ) as r:
                assert_error(r.status, await r.read(), 400)


async def test_unknown_models_are_404_and_wrong_kinds_400(
    server: LocalServer, spoken_wav: bytes
) -> None:
    status, _, raw = await post_speech(server, {"input": "Hi.", "model": "tts-nonexistent"})
    assert_error(status, raw, 404, "MODEL_NOT_FOUND")
    status, _, raw = await post_speech(server, {"input": "Hi.", "model": "openai/whisper-large-v3"})
    assert_error(status, raw, 400, "INVALID_MODEL")
    status, _, raw = await post_form(
        server, "/audio/transcriptions", form(spoken_wav, model="whisper-9000")
    )
    assert_error(status, raw, 404, "MODEL_NOT_FOUND")
    status, _, raw = await post_form(
        server, "/audio/transcriptions", form(spoken_wav, model="tts-kokoro")
    )
    assert_error(status, raw, 400, "INVALID_MODEL")


async def test_wrong_content_types_are_415(server: LocalServer) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.post(
            f"{server.base_url}/audio/speech",
            data=b"input=hi",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as r:
            assert_error(r.status, await r.read(), 415, "INVALID_CONTENT_TYPE")
        async with s.post(f"{server.base_url}/audio/transcriptions", json={"file": "x"}) as r:
            assert_error(r.status, await r.read(), 415, "INVALID_CONTENT_TYPE")
        async with s.post(
            f"{server.base_url}/audio/voices", data=b"RIFF", headers={"Content-Type": "audio/wav"}
        ) as r:
            assert_error(r.status, await r.read(), 415, "INVALID_CONTENT_TYPE")


async def test_uploads_over_25_mb_are_413_without_being_buffered(server: LocalServer) -> None:
    big = b"\0" * (26 * 1024 * 1024)
    status, _, raw = await post_form(server, "/audio/transcriptions", form(big))
    assert_error(status, raw, 413, "PAYLOAD_TOO_LARGE")

    async def chunked() -> Any:  # no Content-Length: the cap is enforced while reading
        yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        for _ in range(27):
            yield b"\1" * (1024 * 1024)
        yield b"\r\n--B--\r\n"

    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.post(
            f"{server.base_url}/audio/transcriptions",
            data=chunked(),
            headers={"Content-Type": "multipart/form-data; boundary=B"},
        ) as r:
            assert_error(r.status, await r.read(), 413, "PAYLOAD_TOO_LARGE")


async def test_empty_silent_and_corrupt_audio_are_422(server: LocalServer) -> None:
    silence = io.BytesIO()
    with av.open(silence, "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 32000), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    samples = {
        "empty": b"",
        "silent": silence.getvalue(),
        "corrupt": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x13" * 200,
        "noise bytes": bytes(range(256)) * 40,
    }
    for name, data in samples.items():
        status, _, raw = await post_form(
            server, "/audio/transcriptions", form(data, model="openai/whisper-large-v3")
        )
        assert status == 422, (name, raw)
        assert json.loads(raw)["error"]


async def test_multipart_mistakes_are_400(server: LocalServer, spoken_wav: bytes) -> None:
    status, _, raw = await post_form(
        server, "/audio/transcriptions", form(None, model="openai/whisper-large-v3")
    )
    assert "file" in assert_error(status, raw, 400)["details"]
    status, _, raw = await post_form(
        server, "/audio/transcriptions", form(spoken_wav, colour="blue")
    )
    assert "colour" in assert_error(status, raw, 400)["details"]["_errors"][0]
    status, _, raw = await post_form(
        server, "/audio/transcriptions", form(spoken_wav, timestamps="maybe")
    )
    assert "timestamps" in assert_error(status, raw, 400)["details"]
    status, _, raw = await post_form(
        server, "/audio/transcriptions", form(spoken_wav, response_format="srt")
    )
    assert "response_format" in assert_error(status, raw, 400)["details"]
    async with aiohttp.ClientSession(headers=AUTH) as s:
        for ctype, data in (
            ("multipart/form-data; boundary=B", b"no boundary here at all"),
            ("multipart/form-data", b"--B\r\n\r\n"),
            (
                "multipart/form-data; boundary=B",
                b'--B\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
            ),
        ):
            async with s.post(
                f"{server.base_url}/audio/transcriptions",
                data=data,
                headers={"Content-Type": ctype},
            ) as r:
                assert r.status in (400, 422), await r.text()
                assert (await r.json())["error"]


# --------------------------------------------------------------------------- audio out


def opus_input_rate(data: bytes) -> int:
    """The input sample rate recorded in the Ogg OpusHead packet."""
    at = data.index(b"OpusHead")
    return int(struct.unpack_from("<I", data, at + 12)[0])


@pytest.mark.parametrize(
    ("model", "voice", "rate"),
    [("tts-kokoro", "af_heart", 24000), ("tts-gradium-v1", "Emma", 48000)],
)
async def test_every_format_decodes_at_the_model_rate(
    server: LocalServer, model: str, voice: str, rate: int
) -> None:
    types = {
        "mp3": "audio/mpeg",
        "opus": "audio/opus",
        "aac": "audio/aac",
        "flac": "audio/flac",
        "wav": "audio/wav",
        "pcm": "audio/pcm",
    }
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.get(f"{server.base_url}/models?type=tts") as r:
            spec = next(m for m in (await r.json())["data"] if m["id"] == model)["model_spec"]
    durations = {}
    for fmt in spec["supported_formats"]:
        status, headers, data = await post_speech(
            server,
            {
                "input": "One two three four five.",
                "model": model,
                "voice": voice,
                "response_format": fmt,
            },
        )
        assert status == 200, data
        assert headers["Content-Type"] == types[fmt]
        if fmt == "pcm":
            samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768
            durations[fmt] = samples.size / rate
        else:
            samples, got_rate, _ = decode(data)
            if fmt == "opus":
                assert got_rate == 48000  # Opus always decodes at 48 kHz ...
                assert opus_input_rate(data) == rate  # ... the header records the real rate
            else:
                assert got_rate == rate, fmt
            durations[fmt] = samples.size / got_rate
        assert float(np.sqrt(np.mean(samples**2))) > 0.01, fmt
    base = durations.get("wav", next(iter(durations.values())))
    for fmt, seconds in durations.items():
        assert abs(seconds - base) < 0.15, (fmt, durations)


async def test_default_format_is_the_models_default(server: LocalServer) -> None:
    status, headers, data = await post_speech(
        server, {"input": "Hello.", "model": "tts-chatterbox-hd", "voice": "Aurora"}
    )
    assert status == 200 and headers["Content-Type"] == "audio/wav" and data[:4] == b"RIFF"
    status, headers, data = await post_speech(server, {"input": "Hello."})
    assert status == 200 and headers["Content-Type"] == "audio/mpeg"
    assert "piper" in headers["x-venice-nb-local-voice"]  # af_sky, the default voice


async def test_streaming_sends_the_first_sentence_before_the_rest_is_made(
    server: LocalServer, spoken_wav: bytes
) -> None:
    text = (
        "The first sentence is a short one. The second sentence takes a little longer to say out loud. "
        "A third sentence follows the second one. And the fourth sentence brings the text to its end."
    )
    arrivals: list[tuple[float, int]] = []
    async with aiohttp.ClientSession(headers=AUTH) as s:
        start = time.perf_counter()
        body = {"input": text, "voice": "bf_emma", "streaming": True, "response_format": "mp3"}
        async with s.post(f"{server.base_url}/audio/speech", json=body) as r:
            assert r.status == 200
            assert r.headers.get("Transfer-Encoding") == "chunked"
            chunks = []
            async for chunk in r.content.iter_any():
                arrivals.append((time.perf_counter() - start, len(chunk)))
                chunks.append(chunk)
    first, last = arrivals[0][0], arrivals[-1][0]
    assert len(arrivals) >= 3, arrivals
    assert first < 0.6 * last, arrivals  # the first sentence came well before the whole answer
    samples, rate, _ = decode(b"".join(chunks))
    assert rate == 24000 and samples.size / rate > 6.0


async def test_streamed_wav_and_pcm_are_playable(server: LocalServer) -> None:
    text = "One sentence. Another sentence."
    status, _, wav = await post_speech(
        server, {"input": text, "voice": "am_adam", "streaming": True, "response_format": "wav"}
    )
    assert status == 200
    samples, rate, _ = decode(wav)
    assert rate == 24000 and samples.size > 24000
    status, _, pcm = await post_speech(
        server, {"input": text, "voice": "am_adam", "streaming": True, "response_format": "pcm"}
    )
    assert status == 200 and len(pcm) % 2 == 0
    assert abs(len(pcm) / 2 - samples.size) < 2400


# --------------------------------------------------------------------------- transcription


def words_of(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() or c == "'" else " " for c in text).split()


async def test_transcription_json_with_timestamps(server: LocalServer, spoken_wav: bytes) -> None:
    contract = load_contract(shared_dir())
    schema = contract.openapi["paths"]["/audio/transcriptions"]["post"]["responses"]["200"][
        "content"
    ]["application/json"]["schema"]
    import jsonschema

    status, headers, raw = await post_form(
        server,
        "/audio/transcriptions",
        form(spoken_wav, model="openai/whisper-large-v3", timestamps="true"),
    )
    assert status == 200, raw
    assert headers["Content-Type"].startswith("application/json")
    result = json.loads(raw)
    jsonschema.validate(result, schema)
    duration = len(decode(spoken_wav)[0]) / 24000
    assert abs(result["duration"] - duration) < 0.1
    assert words_of(result["text"])[:4] == ["the", "library", "opens", "at"]
    words = result["timestamps"]["word"]
    assert len(words) >= 25
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w["start"] <= w["end"] <= duration + 0.05 for w in words)
    assert result["timestamps"]["segment"] and result["timestamps"]["segment"][0]["text"]


@pytest.mark.parametrize(
    "model", ["nvidia/parakeet-tdt-0.6b-v3", "elevenlabs/scribe-v2", "fal-ai/wizper", "stt-xai-v1"]
)
async def test_every_asr_model_answers_text_plain(
    server: LocalServer, spoken_wav: bytes, model: str
) -> None:
    status, headers, raw = await post_form(
        server, "/audio/transcriptions", form(spoken_wav, model=model, response_format="text")
    )
    assert status == 200, raw
    assert headers["Content-Type"].startswith("text/plain")
    assert "librar" in raw.decode().lower()


@pytest.mark.parametrize(
    ("container", "codec"),
    [
        ("mp3", "libmp3lame"),
        ("ogg", "libopus"),
        ("flac", "flac"),
        ("ipod", "aac"),
        ("webm", "libopus"),
    ],
)
async def test_accepted_containers_decode(
    server: LocalServer, spoken_wav: bytes, container: str, codec: str
) -> None:
    samples, rate, _ = decode(spoken_wav)
    out = io.BytesIO()
    with av.open(out, "w", format=container) as dst:
        stream = dst.add_stream(codec, rate=48000 if codec == "libopus" else rate, layout="mono")
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=stream.rate)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        for converted in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(converted):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    status, _, raw = await post_form(
        server, "/audio/transcriptions", form(out.getvalue(), response_format="text")
    )
    assert status == 200, raw
    assert "library" in raw.decode().lower()


async def test_a_foreign_container_is_400(server: LocalServer) -> None:
    aiff = b"FORM\x00\x00\x10\x00AIFFCOMM" + b"\x00" * 64
    status, _, raw = await post_form(server, "/audio/transcriptions", form(aiff))
    assert_error(status, raw, 400, "INVALID_AUDIO_FORMAT")


# --------------------------------------------------------------------------- load


async def test_fifty_concurrent_speech_requests_are_answered_or_refused_at_once(
    server: LocalServer,
) -> None:
    voices = ["af_heart", "am_adam", "bf_emma", "bm_george", "ff_siwis"]

    def body(i: int) -> dict[str, str]:
        return {
            "input": f"Request number {i} is here.",
            "voice": voices[i % len(voices)],
            "response_format": "wav",
        }

    async def one(s: aiohttp.ClientSession, i: int) -> tuple[int, int, str | None]:
        async with s.post(f"{server.base_url}/audio/speech", json=body(i)) as r:
            return r.status, len(await r.read()), r.headers.get("Retry-After")

    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(headers=AUTH, connector=connector) as s:
        results = await asyncio.gather(*(one(s, i) for i in range(50)))
    # Past its bounded line the server refuses at once, saying when to come back.
    assert all(status in (200, 429) for status, _, _ in results), results
    assert all(size > 10_000 for status, size, _ in results if status == 200)
    assert all(1 <= int(after or 0) <= 60 for status, _, after in results if status == 429)
    assert sum(status == 200 for status, _, _ in results) >= server.service.admission.active_limit

    # A client that honours Retry-After gets every one of them.
    async with VeniceClient(api_key=TOKEN, base_url=server.base_url, max_retries=20) as client:
        answers = await asyncio.gather(
            *(client.audio.create_speech(model="tts-kokoro", **body(i)) for i in range(50))
        )
    assert all(len(a.content) > 10_000 for a in answers)


def test_server_binds_loopback_only_without_a_token(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="token"):
        LocalServer(LocalConfig(data_dir=tmp_path), host="0.0.0.0")
    srv = LocalServer(LocalConfig(data_dir=tmp_path), host="0.0.0.0", token="t0k3n")
    assert srv.config.token == "t0k3n"
