"""Proves the Venice stand-in itself with plain aiohttp requests: answers, rejections, faults."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import jsonschema
import numpy as np
import pytest
import pytest_asyncio

from testkit.standin import (
    MAX_UPLOAD_BYTES,
    Fault,
    StandIn,
    load_contract,
    shared_dir,
    synthesize,
    tone_frequency,
)

AUTH = {"Authorization": "Bearer test-key"}
RATE_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


def make_audio(seconds: float, fmt: str = "wav", *, silent: bool = False) -> bytes:
    """Encode a 330 Hz (or silent) mono clip with PyAV, independently of the stand-in."""
    rate = 16_000
    t = np.arange(round(seconds * rate)) / rate
    wave = np.zeros_like(t) if silent else 0.4 * np.sin(2 * np.pi * 330 * t)
    samples = (wave * 32767).astype(np.int16).reshape(1, -1)
    codec = {"wav": "pcm_s16le", "flac": "flac", "mp3": "libmp3lame", "ogg": "libopus"}[fmt]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as container:
        stream_rate = 48_000 if fmt == "ogg" else rate
        stream = container.add_stream(codec, rate=stream_rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def probe(data: bytes) -> tuple[str, str, int, float]:
    """(container format, codec, sample rate, decoded seconds) of an encoded answer."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return container.format.name, stream.codec_context.name, stream.rate, samples / stream.rate


def form(**fields: Any) -> aiohttp.FormData:
    """Multipart body; bytes values become file parts named like the field."""
    data = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        if isinstance(value, bytes):
            data.add_field(name, io.BytesIO(value), filename=f"{name}.bin")
        else:
            data.add_field(name, value)
    return data


async def speak(
    http: aiohttp.ClientSession, server: StandIn, **body: Any
) -> tuple[int, str, bytes]:
    body.setdefault("input", "Hello from Venice.")
    async with http.post(f"{server.base_url}/audio/speech", json=body) as resp:
        return resp.status, resp.content_type, await resp.read()


# --------------------------------------------------------------------------- /models


async def test_models_lists_completed_tts_catalog_matching_schema(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{standin.base_url}/models", params={"type": "tts"}) as resp:
        assert resp.status == 200
        listing = await resp.json()
    assert listing["object"] == "list" and listing["type"] == "tts"
    document = load_contract(shared_dir()).openapi
    schema = document["paths"]["/models"]["get"]["responses"]["200"]["content"]["application/json"]
    jsonschema.Draft4Validator({**schema["schema"], "components": document["components"]}).validate(
        listing
    )
    specs = {m["id"]: m["model_spec"] for m in listing["data"]}
    assert len(specs) == 11
    assert all(m["object"] == "model" and m["owned_by"] == "venice.ai" for m in listing["data"])
    assert all(s["default_format"] in s["supported_formats"] for s in specs.values())
    assert specs["tts-kokoro"]["default_format"] == "mp3"
    assert specs["tts-gradium-v1"]["default_format"] == "wav"
    assert specs["tts-orpheus"]["supported_formats"] == ["mp3", "wav"]
    assert specs["tts-chatterbox-hd"]["supported_formats"] == ["wav", "mp3", "flac"]
    assert specs["tts-chatterbox-hd"]["default_format"] == "wav"
    assert specs["tts-chatterbox-hd"]["voice_cloning"] == {
        "mode": "zero_shot",
        "accepted_formats": ["mp3", "wav", "flac", "m4a"],
        "min_sample_seconds": 5,
        "retention_days": 7,
    }
    assert specs["tts-minimax-speech-02-hd"]["voice_cloning"]["mode"] == "persistent"
    assert specs["tts-minimax-speech-02-hd"]["voice_cloning"]["accepted_formats"] == ["mp3", "wav"]
    assert "voice_cloning" not in specs["tts-kokoro"]
    assert specs["tts-elevenlabs-turbo-v2-5"]["supports_custom_voice_id"] is True
    assert "af_heart" in specs["tts-kokoro"]["voices"]


async def test_models_filters_by_type_and_rejects_unknown_type(standin: StandIn) -> None:
    async with aiohttp.ClientSession() as anonymous:  # /models needs no key
        counts = {}
        for kind in ("asr", "all", "text"):
            async with anonymous.get(f"{standin.base_url}/models?type={kind}") as resp:
                assert resp.status == 200
                body = await resp.json()
                assert body["type"] == kind
                counts[kind] = len(body["data"])
        async with anonymous.get(f"{standin.base_url}/models?type=speech") as resp:
            assert resp.status == 400
    assert counts == {"asr": 5, "all": 16, "text": 0}
    assert standin.violations and "speech" in standin.violations[0]


async def test_models_with_a_wrong_key_is_401(standin: StandIn) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer nope"}) as wrong:
        async with wrong.get(f"{standin.base_url}/models?type=tts") as resp:
            assert resp.status == 401
            assert (await resp.json())["code"] == "AUTHENTICATION_FAILED"


# --------------------------------------------------------------------------- speech


@pytest.mark.parametrize(
    ("fmt", "content_type", "container", "codec"),
    [
        ("mp3", "audio/mpeg", "mp3", "mp3float"),
        ("opus", "audio/opus", "ogg", "opus"),
        ("aac", "audio/aac", "aac", "aac"),
        ("flac", "audio/flac", "flac", "flac"),
        ("wav", "audio/wav", "wav", "pcm_s16le"),
    ],
)
async def test_speech_returns_real_audio_in_the_requested_format(
    standin: StandIn,
    http: aiohttp.ClientSession,
    fmt: str,
    content_type: str,
    container: str,
    codec: str,
) -> None:
    text = "Twenty characters!!!"  # 20 characters -> 1.2 s
    status, ctype, body = await speak(
        http, standin, input=text, model="tts-kokoro", voice="af_heart", response_format=fmt
    )
    assert (status, ctype) == (200, content_type)
    name, decoded_codec, _rate, seconds = probe(body)
    assert container in name.split(",")
    assert decoded_codec == codec
    # AAC in ADTS carries no gapless info: the encoder's priming and padding stay audible.
    assert seconds == pytest.approx(1.2, abs=0.11 if fmt == "aac" else 0.01)
    assert standin.violations == []


async def test_speech_pcm_is_headerless_s16le_at_the_model_rate(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    for model, voice, rate in (
        ("tts-kokoro", "af_heart", 24_000),
        ("tts-gradium-v1", "Emma", 48_000),
    ):
        status, ctype, body = await speak(
            http, standin, input="x" * 10, model=model, voice=voice, response_format="pcm"
        )
        assert (status, ctype) == (200, "audio/pcm")
        assert len(body) == 2 * round(0.6 * rate)
        samples = np.frombuffer(body, dtype="<i2").astype(np.float64)
        spectrum = np.abs(np.fft.rfft(samples))
        peak_hz = np.argmax(spectrum) * rate / len(samples)
        assert peak_hz == pytest.approx(tone_frequency(voice), abs=3)
    assert tone_frequency("af_heart") != tone_frequency("Emma")


async def test_speech_omitted_format_uses_the_model_default(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    assert (await speak(http, standin, model="tts-kokoro", voice="af_sky"))[1] == "audio/mpeg"
    assert (await speak(http, standin, model="tts-chatterbox-hd", voice="Aurora"))[1] == "audio/wav"
    status, ctype, _ = await speak(http, standin, voice="af_sky")  # model defaults to kokoro
    assert (status, ctype) == (200, "audio/mpeg")


async def test_speech_duration_follows_length_speed_minimum_and_qwen_cap(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    async def seconds(**body: Any) -> float:
        status, _, data = await speak(http, standin, **body)
        assert status == 200
        return probe(data)[3]

    assert await seconds(input="Hi", voice="af_sky") == pytest.approx(0.3)
    assert await seconds(input="y" * 20, voice="af_sky", speed=2.0) == pytest.approx(0.6)
    assert await seconds(input="z" * 400, model="tts-xai-v1", voice="eve") == pytest.approx(24.0)
    capped = await seconds(input="z" * 400, model="tts-qwen3-0-6b", voice="Vivian")  # mp3 only
    assert capped == pytest.approx(15.9)


async def test_mp3_answer_carries_id3v2_and_a_xing_or_info_frame(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    _, _, body = await speak(http, standin, input="a" * 30, voice="af_sky", response_format="mp3")
    assert body[:3] == b"ID3"
    tag_size = (body[6] << 21) | (body[7] << 14) | (body[8] << 7) | body[9]
    frame = body[10 + tag_size :]
    assert frame[0] == 0xFF and frame[1] & 0xE0 == 0xE0, "an MPEG frame follows the tag"
    assert b"Xing" in frame[:200] or b"Info" in frame[:200]


async def test_streaming_sends_progressive_chunks_that_join_to_valid_audio(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    body = {"input": "s" * 40, "voice": "af_sky", "response_format": "pcm", "streaming": True}
    async with http.post(f"{standin.base_url}/audio/speech", json=body) as resp:
        assert resp.status == 200 and resp.headers.get("Transfer-Encoding") == "chunked"
        pieces = [chunk async for chunk, _ in resp.content.iter_chunks()]
    joined = b"".join(pieces)
    assert len([p for p in pieces if p]) >= 3
    assert len(joined) == 2 * round(2.4 * 24_000)
    wav = {"input": "s" * 40, "model": "tts-chatterbox-hd", "voice": "Blade", "streaming": True}
    async with http.post(f"{standin.base_url}/audio/speech", json=wav) as resp:
        assert probe(await resp.read())[3] == pytest.approx(2.4)


async def test_speech_answers_are_cached_per_format_length_and_voice(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    before = synthesize.cache_info()
    first = await speak(http, standin, input="cache me!", voice="af_nova", response_format="flac")
    second = await speak(http, standin, input="cache me?", voice="af_nova", response_format="flac")
    after = synthesize.cache_info()
    assert first == second
    assert after.hits >= before.hits + 1


# --------------------------------------------------------------------------- transcription, voices


async def test_transcription_reports_the_real_duration_with_word_and_segment_timestamps(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    clip = make_audio(5.0, "flac")
    data = form(file=clip, model="openai/whisper-large-v3", timestamps="true", language="en")
    async with http.post(f"{standin.base_url}/audio/transcriptions", data=data) as resp:
        assert resp.status == 200
        answer = await resp.json()
    assert answer["duration"] == pytest.approx(5.0, abs=0.01)
    words = answer["timestamps"]["word"]
    assert len(words) == 12 and answer["text"]
    assert all(0 <= w["start"] < w["end"] <= 5.0 for w in words)
    assert [s["text"] for s in answer["timestamps"]["segment"]] == [
        " ".join(w["word"] for w in words[:10]),
        " ".join(w["word"] for w in words[10:]),
    ]
    assert standin.requests[-1].files["file"].size == len(clip)
    assert standin.requests[-1].form["timestamps"] == "true"


async def test_transcription_text_format_and_no_timestamps_by_default(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    clip = make_audio(1.0, "mp3")
    async with http.post(f"{standin.base_url}/audio/transcriptions", data=form(file=clip)) as r:
        plain_json = await r.json()
    assert "timestamps" not in plain_json and plain_json["duration"] == pytest.approx(1.0, abs=0.05)
    data = form(file=clip, response_format="text")
    async with http.post(f"{standin.base_url}/audio/transcriptions", data=data) as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        assert await resp.text() == plain_json["text"]


async def test_cloned_voice_works_only_with_its_own_model(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    data = form(file=make_audio(1.0, "wav"), model="tts-minimax-speech-02-hd")
    async with http.post(f"{standin.base_url}/audio/voices", data=data) as resp:
        assert resp.status == 200
        cloned = await resp.json()
    assert cloned["id"].startswith("vv_") and cloned["model"] == "tts-minimax-speech-02-hd"
    ok = await speak(http, standin, model="tts-minimax-speech-02-hd", voice=cloned["id"])
    assert ok[0] == 200
    assert (await speak(http, standin, model="tts-chatterbox-hd", voice=cloned["id"]))[0] == 400
    assert (await speak(http, standin, model="tts-chatterbox-hd", voice="vv_forged"))[0] == 400
    custom = await speak(http, standin, model="tts-elevenlabs-turbo-v2-5", voice="21m00Tcm4TlvDq8")
    assert custom[0] == 200
    assert len(standin.violations) == 2


async def test_clone_defaults_to_chatterbox_and_checks_container_per_model(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    flac = make_audio(1.0, "flac")
    async with http.post(f"{standin.base_url}/audio/voices", data=form(file=flac)) as resp:
        assert resp.status == 200
        assert (await resp.json())["model"] == "tts-chatterbox-hd"
    for sample, model in (
        (flac, "tts-minimax-speech-02-hd"),
        (make_audio(1.0, "ogg"), "tts-chatterbox-hd"),
        (b"", "tts-chatterbox-hd"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "tts-chatterbox-hd"),
    ):
        data = form(file=sample, model=model)
        async with http.post(f"{standin.base_url}/audio/voices", data=data) as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == "INVALID_AUDIO_FORMAT"
    data = form(file=flac, model="tts-kokoro")
    async with http.post(f"{standin.base_url}/audio/voices", data=data) as resp:
        assert resp.status == 400 and "cannot clone" in (await resp.json())["error"]


# --------------------------------------------------------------------------- rejections


async def test_extra_json_field_is_400_with_details(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    body = {"input": "hi", "voice": "af_sky", "format": "mp3"}
    async with http.post(f"{standin.base_url}/audio/speech", json=body) as resp:
        assert resp.status == 400
        error = await resp.json()
    assert error["code"] == "INVALID_REQUEST" and "'format'" in error["error"]
    assert error["details"]["_errors"] == ["Unrecognized key(s) in object: 'format'"]
    assert standin.violations == [f"POST /api/v1/audio/speech: 400 {error['error']}"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"voice": "af_sky"}, "input"),
        ({"input": "", "voice": "af_sky"}, "input"),
        ({"input": "x" * 4097, "voice": "af_sky"}, "input"),
        ({"input": "hi", "voice": "af_sky", "speed": 4.5}, "speed"),
        ({"input": "hi", "voice": "af_sky", "response_format": "ogg"}, "response_format"),
        ({"input": "hi", "voice": "af_sky", "streaming": "yes"}, "streaming"),
    ],
)
async def test_schema_violations_in_speech_are_400_naming_the_field(
    standin: StandIn, http: aiohttp.ClientSession, body: dict[str, Any], field: str
) -> None:
    async with http.post(f"{standin.base_url}/audio/speech", json=body) as resp:
        assert resp.status == 400
        assert field in (await resp.json())["details"]
    assert len(standin.violations) == 1


async def test_wrong_content_type_is_415(standin: StandIn, http: aiohttp.ClientSession) -> None:
    speech = f"{standin.base_url}/audio/speech"
    async with http.post(speech, data=form(input="hi", voice="af_sky")) as resp:
        assert resp.status == 415
        assert (await resp.json())["code"] == "INVALID_CONTENT_TYPE"
    async with http.post(speech, data='{"input": "hi"}') as resp:  # text/plain
        assert resp.status == 415
    transcribe = f"{standin.base_url}/audio/transcriptions"
    async with http.post(transcribe, json={"model": "openai/whisper-large-v3"}) as resp:
        assert resp.status == 415
    async with http.post(transcribe, data={"model": "openai/whisper-large-v3"}) as resp:
        assert resp.status == 415  # urlencoded, not multipart
    assert len(standin.violations) == 4


async def test_missing_or_wrong_key_is_401_without_echoing_the_key(standin: StandIn) -> None:
    url = f"{standin.base_url}/audio/speech"
    for headers in ({}, {"Authorization": "Bearer sk-wrong-secret"}, {"Authorization": "test-key"}):
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.post(url, json={"input": "hi", "voice": "af_sky"}) as resp:
                assert resp.status == 401
                text = await resp.text()
        assert "sk-wrong-secret" not in text and "test-key" not in text
    assert len(standin.violations) == 3
    assert standin.requests[1].headers["Authorization"] == "Bearer ***"


async def test_unknown_model_is_404_model_not_found(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    status, _, body = await speak(http, standin, model="tts-kokoro-9000", voice="af_sky")
    assert status == 404 and b"MODEL_NOT_FOUND" in body
    data = form(file=make_audio(0.5), model="whisper-1")
    async with http.post(f"{standin.base_url}/audio/transcriptions", data=data) as resp:
        assert resp.status == 404
    wrong_kind = form(file=make_audio(0.5), model="tts-kokoro")
    async with http.post(f"{standin.base_url}/audio/transcriptions", data=wrong_kind) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == "INVALID_MODEL"


async def test_voice_from_another_model_is_400(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    status, _, body = await speak(http, standin, model="tts-orpheus", voice="af_heart")
    assert status == 400 and b"voice" in body
    assert (await speak(http, standin, model="tts-kokoro", voice="AF_HEART"))[0] == 400
    assert (await speak(http, standin, model="tts-orpheus"))[0] == 400  # default voice af_sky


async def test_unsupported_format_is_400_naming_supported_formats(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    status, _, body = await speak(
        http, standin, model="tts-gradium-v1", voice="Emma", response_format="mp3"
    )
    assert status == 400
    assert "wav, pcm, opus" in (body.decode())


async def test_upload_over_25_mb_is_413(standin: StandIn, http: aiohttp.ClientSession) -> None:
    big = b"RIFF" + bytes(26 * 1024 * 1024)
    assert len(big) > MAX_UPLOAD_BYTES
    async with http.post(f"{standin.base_url}/audio/transcriptions", data=form(file=big)) as resp:
        assert resp.status == 413
        assert (await resp.json()) == {
            "error": "File exceeds the maximum allowed size of 25 MB.",
            "code": "PAYLOAD_TOO_LARGE",
        }
    assert standin.requests[-1].files["file"].size == len(big)


@pytest.mark.parametrize(
    "upload",
    [b"", b"this is not audio at all, just text" * 10, make_audio(1.0, silent=True)],
    ids=["empty", "text", "silent"],
)
async def test_unusable_upload_is_422(
    standin: StandIn, http: aiohttp.ClientSession, upload: bytes
) -> None:
    async with http.post(f"{standin.base_url}/audio/transcriptions", data=form(file=upload)) as r:
        assert r.status == 422
        assert (await r.json())["code"] == "ASR_UPSTREAM_VALIDATION_FAILED"


@pytest.mark.parametrize(
    ("fields", "culprit"),
    [
        ({"model": "openai/whisper-large-v3"}, "file"),
        ({"file": b"x", "prompt": "hi"}, "prompt"),
        ({"file": "plain text instead of a file part"}, "file"),
        ({"file": b"x", "timestamps": "yes"}, "timestamps"),
        ({"file": b"x", "response_format": "srt"}, "response_format"),
        ({"file": b"x", "language": "English"}, "language"),
    ],
)
async def test_multipart_fields_are_checked(
    standin: StandIn, http: aiohttp.ClientSession, fields: dict[str, Any], culprit: str
) -> None:
    data = form(**fields)
    async with http.post(f"{standin.base_url}/audio/transcriptions", data=data) as resp:
        assert resp.status == 400
        assert culprit in (await resp.text())
    assert len(standin.violations) == 1


async def test_unknown_route_is_a_json_404_and_a_violation(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{standin.base_url}/audio/speeches", json={}) as resp:
        assert resp.status == 404 and "error" in await resp.json()
        assert all(h in resp.headers for h in RATE_HEADERS)
    assert standin.violations == [
        "POST /api/v1/audio/speeches: 404 No such endpoint: POST /api/v1/audio/speeches."
    ]


# --------------------------------------------------------------------------- faults


async def test_injected_429_carries_retry_after_then_service_recovers(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.inject(
        "/audio/speech",
        Fault.status(429, retry_after=2),
        Fault.status(429, reset_requests_at=1_900_000_000.5),
        Fault.status(503),
    )
    url = f"{standin.base_url}/audio/speech"
    body = {"input": "hi", "voice": "af_sky"}
    async with http.post(url, json=body) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "2"
        assert resp.headers["x-ratelimit-remaining-requests"] == "0"
        reopens = float(resp.headers["x-ratelimit-reset-requests"])
        assert reopens == pytest.approx(time.time() + 2, abs=1)
        assert (await resp.json())["code"] == "RATE_LIMIT_EXCEEDED"
    async with http.post(url, json=body) as resp:
        assert resp.status == 429 and "Retry-After" not in resp.headers
        assert resp.headers["x-ratelimit-reset-requests"] == "1900000000.5"
    async with http.post(url, json=body) as resp:
        assert resp.status == 503 and (await resp.json())["code"] == "MODEL_OFFLINE"
    async with http.post(url, json=body) as resp:
        assert resp.status == 200
    assert [str(r.fault) for r in standin.requests] == [
        "status(429)",
        "status(429)",
        "status(503)",
        "None",
    ]
    assert [r.status for r in standin.requests] == [429, 429, 503, 200]
    assert standin.violations == []


async def test_status_fault_body_can_be_overridden(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.inject("/models", Fault.status(500, body={"error": "boom", "code": "UNKNOWN_ERROR"}))
    async with http.get(f"{standin.base_url}/models?type=tts") as resp:
        assert resp.status == 500 and await resp.json() == {
            "error": "boom",
            "code": "UNKNOWN_ERROR",
        }


async def test_invalid_request_does_not_consume_a_queued_fault(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.inject("audio/speech", Fault.status(503))
    assert (await speak(http, standin, voice="nobody"))[0] == 400
    assert (await speak(http, standin, voice="af_sky"))[0] == 503


async def test_reset_before_body_disconnects_without_an_answer(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.inject("/audio/speech", Fault.reset_before_body())
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        await speak(http, standin, voice="af_sky")
    assert standin.requests[-1].status is None
    assert (await speak(http, standin, voice="af_sky"))[0] == 200


async def test_reset_mid_body_breaks_the_payload_after_some_bytes(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.inject("/audio/speech", Fault.reset_mid_body(after_bytes=2000))
    received = bytearray()
    body = {"input": "m" * 50, "voice": "af_sky", "response_format": "wav"}
    async with http.post(f"{standin.base_url}/audio/speech", json=body) as resp:
        assert resp.status == 200 and resp.content_type == "audio/wav"
        assert resp.content_length is not None and resp.content_length > 2 * round(3.0 * 24_000)
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in resp.content.iter_any():
                received += chunk
    assert len(received) == 2000


async def test_reset_mid_body_also_breaks_a_streamed_answer(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.inject("/audio/speech", Fault.reset_mid_body(after_bytes=1500))
    received = bytearray()
    body = {"input": "m" * 50, "voice": "af_sky", "response_format": "pcm", "streaming": True}
    async with http.post(f"{standin.base_url}/audio/speech", json=body) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in resp.content.iter_any():
                received += chunk
    assert len(received) == 1500
    assert str(standin.requests[-1].fault) == "reset_mid_body(1500)"


async def test_stall_trips_a_short_client_timeout(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.inject("/audio/speech", Fault.stall(5.0))
    timeout = aiohttp.ClientTimeout(total=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(
            f"{standin.base_url}/audio/speech",
            json={"input": "hi", "voice": "af_sky"},
            timeout=timeout,
        ) as resp:
            await resp.read()
    assert loop.time() - started < 2.0
    assert str(standin.requests[-1].fault) == "stall(5)"


async def test_latency_is_applied_and_adjustable_after_start(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    loop = asyncio.get_running_loop()
    standin.latency = 0.25
    started = loop.time()
    assert (await speak(http, standin, voice="af_sky"))[0] == 200
    assert loop.time() - started >= 0.25
    started = loop.time()
    async with http.get(f"{standin.base_url}/models?type=tts") as resp:
        assert resp.status == 200
    assert loop.time() - started < 0.2, "listing models is not an inference call"


async def test_fault_rate_is_reproducible_with_a_seed(http: aiohttp.ClientSession) -> None:
    async def statuses(seed: int) -> list[int]:
        kinds = [Fault.status(503), Fault.status(429, retry_after=0)]
        async with StandIn(fault_rate=0.4, fault_kinds=kinds, seed=seed) as server:
            return [(await speak(http, server, input="r", voice="af_sky"))[0] for _ in range(25)]

    first, again, other = await statuses(7), await statuses(7), await statuses(8)
    assert first == again
    assert first != other
    assert set(first) == {200, 429, 503}
    assert 3 <= sum(s != 200 for s in first) <= 18


# --------------------------------------------------------------------------- headers, records


async def test_every_answer_carries_rate_limit_headers_and_a_unique_request_id(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    ids = []
    standin.inject("/audio/speech", Fault.status(429, retry_after=1))
    for body in ({"input": "hi", "voice": "af_sky"}, {"input": "hi", "voice": "af_sky"}, {}):
        async with http.post(f"{standin.base_url}/audio/speech", json=body) as resp:
            assert all(h in resp.headers for h in RATE_HEADERS), resp.headers
            assert resp.headers["x-request-id"].startswith("req_")
            ids.append(resp.headers["x-request-id"])
    assert len(set(ids)) == 3
    assert [r.request_id for r in standin.requests] == ids
    assert int(resp.headers["x-ratelimit-remaining-requests"]) < int(
        resp.headers["x-ratelimit-limit-requests"]
    )


async def test_requests_are_recorded_and_counted(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    await speak(http, standin, input="record me", voice="af_sky")
    await speak(http, standin, input="and me", voice="af_sky")
    async with http.get(f"{standin.base_url}/models?type=asr"):
        pass
    assert standin.count("/audio/speech") == 2
    assert standin.count("/api/v1/models") == 1
    assert standin.count("/audio/voices") == 0
    first = standin.requests[0]
    assert (first.method, first.path, first.json) == (
        "POST",
        "/audio/speech",
        {"input": "record me", "voice": "af_sky"},
    )
    assert first.headers["Authorization"] == "Bearer ***" and first.status == 200
    async with aiohttp.ClientSession(headers={"authorization": "Bearer test-key"}) as lower:
        assert (await speak(lower, standin, voice="af_sky"))[0] == 200
    assert standin.requests[-1].headers["authorization"] == "Bearer ***"
    standin.redact_authorization = False
    await speak(http, standin, voice="af_sky")
    assert standin.requests[-1].headers["Authorization"] == "Bearer test-key"


def test_shared_dir_override_must_point_at_the_contract(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert (shared_dir() / "venice-api" / "openapi-audio.yaml").is_file()
    monkeypatch.setenv("VENICE_SHARED_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="VENICE_SHARED_DIR"):
        shared_dir()
