"""The client's transport: auth, timeouts, retries, typed errors and secret hygiene."""

from __future__ import annotations

import logging
import pickle
import time

import pytest

from testkit.standin import Fault, StandIn
from venice_nb import VeniceClient
from venice_nb.core.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidRequestError,
    RateLimitError,
    StreamInterruptedError,
)

SPEECH = "/audio/speech"
SAY = {"input": "Hello there.", "model": "tts-kokoro", "voice": "af_heart"}


async def test_api_key_and_base_url_fall_back_to_the_environment(
    monkeypatch: pytest.MonkeyPatch, standin: StandIn
) -> None:
    monkeypatch.setenv("VENICE_API_KEY", "test-key")
    monkeypatch.setenv("VENICE_BASE_URL", standin.base_url)
    async with VeniceClient() as client:
        assert client.base_url == standin.base_url
        audio = await client.audio.create_speech(**SAY)
    assert audio.format == "mp3"
    assert standin.requests[-1].headers["Authorization"].startswith("Bearer ")
    assert standin.violations == []


def test_the_cloud_without_a_key_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VENICE_API_KEY", raising=False)
    monkeypatch.delenv("VENICE_BASE_URL", raising=False)
    with pytest.raises(InvalidRequestError, match="VENICE_API_KEY"):
        VeniceClient()


def test_bad_client_options_are_typed_errors() -> None:
    with pytest.raises(InvalidRequestError, match="max_retries"):
        VeniceClient(api_key="k", max_retries=-1)
    with pytest.raises(InvalidRequestError, match="timeout"):
        VeniceClient(api_key="k", timeout=-3)
    with pytest.raises(InvalidRequestError, match="base_url"):
        VeniceClient(api_key="k", base_url="ftp://example")


async def test_wrong_key_is_an_authentication_error(standin: StandIn) -> None:
    async with VeniceClient(api_key="wrong-key-123456", base_url=standin.base_url) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.audio.create_speech(**SAY)
    assert info.value.status == 401
    assert "wrong-key-123456" not in str(info.value) + repr(info.value)
    assert standin.count(SPEECH) == 1  # 401 is never retried


async def test_429_is_retried_after_retry_after(client: VeniceClient, standin: StandIn) -> None:
    standin.inject(SPEECH, Fault.status(429, retry_after=0.4))
    started = time.monotonic()
    audio = await client.audio.create_speech(**SAY)
    assert len(audio) > 0
    assert standin.count(SPEECH) == 2
    assert time.monotonic() - started >= 0.35


async def test_ratelimit_reset_header_is_honoured(client: VeniceClient, standin: StandIn) -> None:
    standin.inject(SPEECH, Fault.status(429, reset_requests_at=time.time() + 0.5))
    started = time.monotonic()
    await client.audio.create_speech(**SAY)
    assert standin.count(SPEECH) == 2
    assert time.monotonic() - started >= 0.3


async def test_5xx_exhausts_the_retry_budget_then_raises(
    client: VeniceClient, standin: StandIn
) -> None:
    standin.inject(SPEECH, *[Fault.status(503)] * 3)
    with pytest.raises(InternalServerError) as info:
        await client.audio.create_speech(**SAY)
    assert info.value.status == 503
    assert standin.count(SPEECH) == 3  # one try plus max_retries=2


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_other_retryable_statuses_recover(
    client: VeniceClient, standin: StandIn, status: int
) -> None:
    standin.inject(SPEECH, Fault.status(status))
    await client.audio.create_speech(**SAY)
    assert standin.count(SPEECH) == 2


async def test_4xx_other_than_429_is_not_retried(client: VeniceClient, standin: StandIn) -> None:
    standin.inject(
        SPEECH,
        Fault.status(
            400, body={"error": "bad things", "details": {"input": {"_errors": ["too odd"]}}}
        ),
    )
    with pytest.raises(BadRequestError) as info:
        await client.audio.create_speech(**SAY)
    assert standin.count(SPEECH) == 1
    err = info.value
    assert err.status == 400 and "too odd" in str(err) and err.request_id
    assert err.body["error"] == "bad things"


async def test_connection_reset_before_the_body_is_retried(
    client: VeniceClient, standin: StandIn
) -> None:
    standin.inject(SPEECH, Fault.reset_before_body())
    audio = await client.audio.create_speech(**SAY)
    assert len(audio) > 0 and standin.count(SPEECH) == 2


async def test_reset_mid_body_of_a_whole_answer_is_retried(
    client: VeniceClient, standin: StandIn
) -> None:
    standin.inject(SPEECH, Fault.reset_mid_body(after_bytes=200))
    audio = await client.audio.create_speech(**SAY, response_format="wav")
    assert audio.duration and audio.duration > 0.2
    assert standin.count(SPEECH) == 2


async def test_a_stall_past_the_timeout_is_a_timeout_error(standin: StandIn) -> None:
    standin.inject(SPEECH, Fault.stall(3), Fault.stall(3))
    async with VeniceClient(api_key="test-key", base_url=standin.base_url, max_retries=1) as client:
        with pytest.raises(APITimeoutError):
            await client.audio.create_speech(**SAY, timeout=0.3)
    assert standin.count(SPEECH) == 2


async def test_per_call_timeout_overrides_the_client_timeout(standin: StandIn) -> None:
    standin.inject(SPEECH, Fault.stall(0.6))
    async with VeniceClient(
        api_key="test-key", base_url=standin.base_url, timeout=0.2, max_retries=0
    ) as client:
        audio = await client.audio.create_speech(**SAY, timeout=5)
    assert len(audio) > 0


async def test_unreachable_server_is_a_connection_error() -> None:
    async with VeniceClient(
        api_key="k", base_url="http://127.0.0.1:9/api/v1", max_retries=1
    ) as client:
        with pytest.raises(APIConnectionError, match="Could not reach"):
            await client.models.list("tts")


async def test_streamed_speech_yields_chunks_and_sends_streaming_true(
    client: VeniceClient, standin: StandIn
) -> None:
    stream = await client.audio.create_speech(
        **{**SAY, "input": "One. Two. Three. Four."}, stream=True
    )
    chunks = [c async for c in stream]
    assert len(chunks) >= 2
    assert standin.requests[-1].json["streaming"] is True
    assert stream.format == "mp3"
    assert standin.violations == []


async def test_stream_broken_after_first_byte_is_not_retried(
    client: VeniceClient, standin: StandIn
) -> None:
    standin.inject(SPEECH, Fault.reset_mid_body(after_bytes=300))
    stream = await client.audio.create_speech(
        **{**SAY, "input": "One. Two. Three. Four."}, stream=True
    )
    got = 0
    with pytest.raises(StreamInterruptedError):
        async for chunk in stream:
            got += len(chunk)
    assert got > 0
    assert standin.count(SPEECH) == 1


async def test_stream_failing_before_any_byte_is_retried(
    client: VeniceClient, standin: StandIn
) -> None:
    standin.inject(SPEECH, Fault.status(503), Fault.reset_before_body())
    stream = await client.audio.create_speech(**SAY, stream=True)
    data = b"".join([c async for c in stream])
    assert data and standin.count(SPEECH) == 3


async def test_the_key_never_appears_in_errors_reprs_or_logs(
    standin: StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    canary = "canary-key-9f8e7d6c5b4a"
    caplog.set_level(logging.DEBUG)
    standin.inject(
        SPEECH, Fault.status(503), Fault.status(401, body={"error": f"key Bearer {canary} refused"})
    )
    async with VeniceClient(api_key=canary, base_url=standin.base_url) as client:
        assert canary not in repr(client)
        with pytest.raises(APIError) as info:
            await client.audio.create_speech(**SAY)
    err = info.value
    text = (
        str(err) + repr(err) + repr(err.body) + caplog.text + repr(pickle.loads(pickle.dumps(err)))
    )
    assert canary not in text


async def test_errors_are_rate_limit_typed_with_codes(
    client: VeniceClient, standin: StandIn
) -> None:
    standin.inject(
        SPEECH,
        *[
            Fault.status(
                429, retry_after=0.01, body={"error": "slow", "code": "RATE_LIMIT_EXCEEDED"}
            )
        ]
        * 3,
    )
    with pytest.raises(RateLimitError) as info:
        await client.audio.create_speech(**SAY)
    assert info.value.code == "RATE_LIMIT_EXCEEDED" and info.value.status == 429


async def test_model_list_is_cached(client: VeniceClient, standin: StandIn) -> None:
    first = await client.models.list("tts")
    again = await client.models.list("tts")
    assert first is again and standin.count("/models") == 1
    refreshed = await client.models.list("tts", refresh=True)
    assert standin.count("/models") == 2 and len(refreshed) == len(first)
    kokoro = first.get("tts-kokoro")
    assert kokoro is not None and "af_heart" in kokoro.voices
