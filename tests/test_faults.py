"""The fault suite: transient faults are survived within the retry budget, the rest are typed.

Everything runs against the strict stand-in on 127.0.0.1. Faults are planned per logical request
from a seeded generator and queued with ``StandIn.inject`` just before the request is made; the
requests of one endpoint run one after another (endpoints run side by side), so the attempts of
each logical request can be counted from ``standin.requests``. The workload and ``run_fault_suite`` live in
``testkit/faults.py``, shared with ``benchmarks/bench_faults.py``, which prints the figures.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from testkit.audio_fixtures import encode, tone
from testkit.faults import (
    BUDGET,
    LONG_FORMATS,
    LONG_SEGMENTS,
    OPS,
    OVER_BUDGET,
    SAY,
    SPEECH,
    TERMINALS,
    TRANSCRIBE,
    TRANSIENT_KINDS,
    VOICES,
    Outcome,
    SuiteReport,
    make_fault,
    path_of,
    run_fault_suite,
    single_request,
)
from testkit.standin import Fault, StandIn
from venice_nb import VeniceClient
from venice_nb.core.audio import SpeechStream
from venice_nb.core.errors import (
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    StreamInterruptedError,
    UnprocessableEntityError,
)

# --------------------------------------------------------------------------- the suite's tests


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteReport:
    """The 300-request run, once per module (the tests below read its report)."""
    return asyncio.run(run_fault_suite(tmp_path_factory.mktemp("faults")))


def _describe(o: Outcome) -> str:
    return f"{o.op}#{o.index} faults={o.faults} terminal={o.terminal} attempts={o.attempts} error={o.error!r}"


@pytest.mark.slow
def test_the_workload_is_300_requests_with_about_30_percent_faulted_attempts(
    suite: SuiteReport,
) -> None:
    assert suite.logical_requests == 300
    assert {o.op for o in suite.outcomes} == set(OPS)
    transient = sum(n for k, n in suite.faults_by_kind.items() if k != "reset after bytes")
    faulted_share = transient / suite.attempts
    assert 0.2 <= faulted_share <= 0.35, faulted_share
    # every kind of transient fault was really played, on every endpoint
    for kind in (
        "HTTP 429",
        "HTTP 503",
        "reset before body",
        "reset mid body",
        "stall past timeout",
    ):
        assert suite.faults_by_kind[kind] >= 5, suite.faults_by_kind
    assert suite.violations == []  # the client never broke the contract while retrying


@pytest.mark.slow
def test_every_retryable_request_succeeds_within_the_retry_budget(suite: SuiteReport) -> None:
    retryable = [o for o in suite.outcomes if o.terminal is None]
    failed = [_describe(o) for o in retryable if o.error is not None or not o.verified]
    assert failed == []
    for o in retryable:
        if o.op != "long_text":
            assert o.attempts == len(o.faults) + 1, _describe(o)
    assert sum(1 for o in retryable if o.faults) >= 60


@pytest.mark.slow
def test_every_non_retryable_request_raises_its_typed_error_at_once(suite: SuiteReport) -> None:
    terminal = [o for o in suite.outcomes if o.terminal is not None]
    assert len(terminal) >= 10
    assert {o.op for o in terminal} == set(TERMINALS)
    for o in terminal:
        assert o.expected_error is not None
        assert type(o.error) is o.expected_error, _describe(o)
        # Only the transient faults before it were retried; the terminal answer was not.
        assert o.attempts == len(o.faults) + 1, _describe(o)
        if o.terminal == "reset_after_bytes":
            assert 0 < o.delivered <= 300, _describe(o)


@pytest.mark.slow
def test_no_request_is_sent_more_often_than_the_budget_allows(suite: SuiteReport) -> None:
    assert max(o.attempts for o in suite.outcomes if o.op != "long_text") <= BUDGET + 1
    assert len(suite.long_segment_attempts) == len(LONG_FORMATS) * LONG_SEGMENTS
    assert min(suite.long_segment_attempts) >= 1
    assert max(suite.long_segment_attempts) <= BUDGET + 1
    long_calls = [o for o in suite.outcomes if o.op == "long_text"]
    # A long-text call's attempts are its segments plus the faults queued for it, no more.
    for o in long_calls:
        assert o.attempts == LONG_SEGMENTS + len(o.faults), _describe(o)
    total = sum(o.attempts for o in suite.outcomes)
    assert total == suite.attempts  # nothing was sent that no logical request accounts for


@pytest.mark.slow
@pytest.mark.parametrize("fmt", LONG_FORMATS)
def test_stream_long_text_under_faults_is_byte_identical_to_a_fault_free_run(
    suite: SuiteReport, fmt: str
) -> None:
    calls = [o for o in suite.outcomes if o.op == "long_text"]
    assert sum(len(o.faults) for o in calls) >= 6
    reference = suite.long_reference[fmt]
    assert len(reference) > 10_000
    assert suite.long_faulted[fmt] == reference


@pytest.mark.parametrize("kind", [*TRANSIENT_KINDS, "mixed"])
@pytest.mark.parametrize("op", OPS)
async def test_one_fault_more_than_the_budget_raises_the_last_faults_typed_error(
    standin: StandIn, tmp_path: Path, op: str, kind: str
) -> None:
    kinds = ["stall", "503", "reset_before_body", "429"] if kind == "mixed" else [kind] * 4
    async with VeniceClient(
        api_key="test-key", base_url=standin.base_url, timeout=0.3, max_retries=3, backoff=0.01
    ) as client:
        await client.models.list("tts")
        await client.models.list("asr")
        standin.inject(path_of(op), *[make_fault(k, op, stall=0.6) for k in kinds])
        with pytest.raises(APIError) as info:
            await single_request(op, client, tmp_path)
    assert type(info.value) is OVER_BUDGET[kinds[-1]]
    assert standin.count(path_of(op)) == 4  # one try and three retries, never a fifth
    assert standin.violations == []


@pytest.mark.parametrize(
    ("op", "status", "error"),
    [
        (op, status, error)
        for op in OPS
        for status, error in (
            (400, BadRequestError),
            (401, AuthenticationError),
            (404, NotFoundError),
            (413, PayloadTooLargeError),
            (422, UnprocessableEntityError),
        )
    ],
)
async def test_a_non_retryable_status_is_raised_typed_after_one_attempt(
    standin: StandIn, tmp_path: Path, op: str, status: int, error: type[APIError]
) -> None:
    async with VeniceClient(
        api_key="test-key", base_url=standin.base_url, max_retries=3, backoff=0.01
    ) as client:
        standin.inject(path_of(op), Fault.status(status))
        with pytest.raises(APIError) as info:
            await single_request(op, client, tmp_path)
    assert type(info.value) is error and info.value.status == status
    assert info.value.request_id  # the stand-in's id travels with the error
    assert standin.count(path_of(op)) == 1


async def test_a_stream_broken_after_bytes_reached_the_caller_is_not_retried(
    standin: StandIn,
) -> None:
    async with VeniceClient(
        api_key="test-key", base_url=standin.base_url, max_retries=3, backoff=0.01
    ) as client:
        standin.inject(SPEECH, Fault.status(503), Fault.reset_mid_body(after_bytes=300))
        stream = await client.audio.create_speech(**SAY, stream=True)
        assert isinstance(stream, SpeechStream)
        got = 0
        with pytest.raises(StreamInterruptedError, match="cannot be resumed"):
            async for chunk in stream:
                got += len(chunk)
    assert 0 < got <= 300
    assert standin.count(SPEECH) == 2  # the 503 was retried, the broken stream was not


async def test_zero_retries_sends_each_request_once(standin: StandIn) -> None:
    async with VeniceClient(api_key="test-key", base_url=standin.base_url, max_retries=0) as client:
        standin.inject(SPEECH, Fault.status(429, retry_after=0.01))
        with pytest.raises(RateLimitError):
            await client.audio.create_speech(**SAY)
    assert standin.count(SPEECH) == 1


# --------------------------------------------------------------------------- client fixes


async def test_a_file_object_upload_survives_a_retry_and_stays_open(
    standin: StandIn, tmp_path: Path
) -> None:
    sample = tmp_path / "sample.wav"
    sample.write_bytes(encode("wav", tone(5.5)))
    async with VeniceClient(
        api_key="test-key", base_url=standin.base_url, max_retries=2, backoff=0.01
    ) as client:
        with sample.open("rb") as fh:
            standin.inject(TRANSCRIBE, Fault.status(503), Fault.reset_before_body())
            result = await client.audio.transcribe(file=fh)
            assert not isinstance(result, str) and result.text
            assert not fh.closed  # the caller's file is the caller's to close
            standin.inject(VOICES, Fault.status(502))
            fh.seek(0)
            voice = await client.audio.create_voice(file=fh)
            assert voice.id.startswith("vv_")
    assert standin.count(TRANSCRIBE) == 3 and standin.count(VOICES) == 2
    sizes = {r.files["file"].size for r in standin.requests if r.files}
    assert sizes == {sample.stat().st_size}  # every attempt sent the whole file


async def test_backoff_option_sets_the_first_wait_and_doubles(standin: StandIn) -> None:
    async with VeniceClient(
        api_key="test-key", base_url=standin.base_url, max_retries=3, backoff=0.1
    ) as client:
        await client.models.list("tts")
        standin.inject(SPEECH, Fault.status(503), Fault.reset_before_body(), Fault.status(500))
        started = time.monotonic()
        await client.audio.create_speech(**SAY)
        waited = time.monotonic() - started
    # 0.1 + 0.2 + 0.4 s, each within +-25 % jitter; the default (0.5 s) would wait >= 2.6 s.
    assert 0.7 * 0.75 <= waited < 0.7 * 1.25 + 0.5
    assert standin.count(SPEECH) == 4


@pytest.mark.parametrize("bad", [-0.1, "1", True, float("nan")])
def test_backoff_must_be_a_non_negative_number(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="backoff"):
        VeniceClient(api_key="k", base_url="http://127.0.0.1:9/api/v1", backoff=bad)


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_no_segment_request_is_sent_after_stream_long_text_failed(
    standin: StandIn, concurrency: int
) -> None:
    async with VeniceClient(
        api_key="test-key", base_url=standin.base_url, max_retries=3, backoff=0.01
    ) as client:
        await client.models.list("tts")
        standin.latency = 0.05
        standin.inject(SPEECH, Fault.status(400))
        with pytest.raises(BadRequestError):
            async for _ in client.audio.stream_long_text(
                input=" ".join(f"Sentence number {i}." for i in range(12)),
                model="tts-kokoro",
                voice="af_heart",
                max_words_per_segment=3,
                max_concurrency=concurrency,
            ):
                pass
        await asyncio.sleep(0.3)  # anything still on its way would arrive now
    # The failing segment and those already in flight with it, but no segment started later.
    assert standin.count(SPEECH) == concurrency


async def _slow_stream_server(gap: float, pieces: int) -> tuple[Any, str]:
    """A loopback server whose speech answer trickles: ``pieces`` chunks, ``gap`` seconds apart.
    It publishes no /models (404), so the client leaves validation to it."""
    from aiohttp import web

    async def speech(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(pieces):
            await asyncio.sleep(gap)
            await response.write(b"\x00\x01" * 512)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/api/v1/audio/speech", speech)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1"


async def test_the_client_timeout_bounds_each_read_of_a_stream_not_the_whole_stream() -> None:
    runner, base_url = await _slow_stream_server(gap=0.15, pieces=6)  # 0.9 s in all
    try:
        async with VeniceClient(
            api_key="k", base_url=base_url, timeout=0.5, max_retries=0
        ) as client:
            stream = await client.audio.create_speech(**SAY, response_format="pcm", stream=True)
            assert isinstance(stream, SpeechStream)
            assert len(await stream.read()) == 6 * 1024
    finally:
        await runner.cleanup()
    runner, base_url = await _slow_stream_server(gap=0.8, pieces=2)  # a read waits past 0.5 s
    try:
        async with VeniceClient(
            api_key="k", base_url=base_url, timeout=0.5, max_retries=0
        ) as client:
            stream = await client.audio.create_speech(**SAY, response_format="pcm", stream=True)
            assert isinstance(stream, SpeechStream)
            with pytest.raises(APITimeoutError):
                await stream.read()
    finally:
        await runner.cleanup()
