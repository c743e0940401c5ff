"""The fault suite: transient faults are survived within the retry budget, the rest are typed.

Everything runs against the strict stand-in on 127.0.0.1. Faults are planned per logical request
from a seeded generator and queued with ``StandIn.inject`` just before the request is made; the
requests of one endpoint run one after another (endpoints run side by side), so the attempts of
each logical request can be counted from ``standin.requests``. ``run_fault_suite`` is shared with
``benchmarks/bench_faults.py``, which prints the figures.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from audio_fixtures import encode, tone
from standin import Fault, StandIn, speech_seconds, synthesize, tone_frequency

from venice_nb import VeniceClient
from venice_nb.core.audio import SpeechStream
from venice_nb.core.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    StreamInterruptedError,
    UnprocessableEntityError,
)
from venice_nb.core.segments import split_text
from venice_nb.core.types import AudioResponse, AudioTranscriptionResponse

SPEECH = "/audio/speech"
TRANSCRIBE = "/audio/transcriptions"
VOICES = "/audio/voices"

BUDGET = 3
"""max_retries of the suite's client: each logical request may be sent at most BUDGET + 1 times."""
FAULT_RATE = 0.30
"""Chance that an attempt meets a transient fault (drawn per attempt, at most BUDGET in a row)."""
TERMINAL_RATE = 0.08
"""Chance that a single request (not a long-text segment) ends in a non-retryable fault."""
TIMEOUT = 0.6
"""Client timeout; a stall fault waits STALL seconds, past it."""
STALL = 1.2
BACKOFF = 0.02
LONG_FORMATS = ("mp3", "wav", "flac", "opus", "aac", "pcm")
LONG_SEGMENTS = 10
TRANSIENT_KINDS = ("429", "503", "reset_before_body", "reset_mid_body", "stall")
OPS = ("speech", "speech_stream", "transcribe", "clone", "long_text")
WORKLOAD = {"speech": 80, "speech_stream": 60, "transcribe": 60, "clone": 40}
"""Logical requests per operation; long text adds len(LONG_FORMATS) x LONG_SEGMENTS = 60."""

SPEECH_COMBOS = (
    ("tts-kokoro", "af_heart", "mp3"),
    ("tts-kokoro", "bm_george", "wav"),
    ("tts-kokoro", "af_sky", "opus"),
    ("tts-kokoro", "am_adam", "flac"),
    ("tts-kokoro", "af_bella", "aac"),
    ("tts-kokoro", "af_heart", "pcm"),
    ("tts-xai-v1", "ara", "mp3"),
    ("tts-gemini-3-1-flash", "Achernar", "wav"),
)
STREAM_COMBOS = (
    ("tts-kokoro", "af_heart", "mp3"),
    ("tts-kokoro", "bf_emma", "wav"),
    ("tts-xai-v1", "altair", "pcm"),
    ("tts-gemini-3-1-flash", "Achird", "mp3"),  # buffers the whole answer before the first byte
)

# What each non-retryable fault must raise, per operation.
TERMINALS: dict[str, tuple[tuple[str, type[APIError]], ...]] = {
    "speech": (("400", BadRequestError), ("401", AuthenticationError), ("404", NotFoundError)),
    "speech_stream": (
        ("reset_after_bytes", StreamInterruptedError),
        ("400", BadRequestError),
        ("401", AuthenticationError),
    ),
    "transcribe": (
        ("413", PayloadTooLargeError),
        ("422", UnprocessableEntityError),
        ("400", BadRequestError),
    ),
    "clone": (
        ("400", BadRequestError),
        ("422", UnprocessableEntityError),
        ("401", AuthenticationError),
    ),
}
# What a request that meets more transient faults than its budget must raise.
OVER_BUDGET: dict[str, type[APIError]] = {
    "429": RateLimitError,
    "503": InternalServerError,
    "reset_before_body": APIConnectionError,
    "reset_mid_body": APIConnectionError,
    "stall": APITimeoutError,
}


def make_fault(kind: str, op: str, *, stall: float = STALL) -> Fault:
    """The stand-in fault for ``kind`` as ``op`` meets it (a streamed reset keeps 0 bytes back)."""
    if kind == "429":
        return Fault.status(429, retry_after=0.05)
    if kind.isdigit():
        return Fault.status(int(kind))
    if kind == "reset_before_body":
        return Fault.reset_before_body()
    if kind == "reset_mid_body":
        # A whole answer breaks part-way; a streamed one before any byte reached the caller.
        return Fault.reset_mid_body(
            0 if op == "speech_stream" else 8 if op in ("transcribe", "clone") else 200
        )
    if kind == "reset_after_bytes":
        return Fault.reset_mid_body(after_bytes=300)
    if kind == "stall":
        return Fault.stall(stall)
    raise ValueError(f"unknown fault kind {kind!r}")


# --------------------------------------------------------------------------- the workload


@dataclass
class Item:
    """One logical request (or, for long text, one whole stream_long_text call) and its plan."""

    op: str
    index: int
    faults: list[str]
    terminal: str | None = None
    expected_error: type[APIError] | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """How one logical request went."""

    op: str
    index: int
    faults: list[str]
    terminal: str | None
    expected_error: type[APIError] | None
    attempts: int
    error: BaseException | None = None
    verified: bool = False
    delivered: int = 0
    """Bytes that reached the caller (streamed speech)."""


@dataclass
class SuiteReport:
    """Everything the fault suite measured."""

    outcomes: list[Outcome]
    faults_by_kind: Counter[str]
    attempts_by_path: Counter[str]
    long_reference: dict[str, bytes]
    long_faulted: dict[str, bytes]
    long_segment_attempts: list[int]
    violations: list[str]
    wall_seconds: float
    budget: int = BUDGET

    @property
    def logical_requests(self) -> int:
        singles = sum(1 for o in self.outcomes if o.op != "long_text")
        return singles + len(self.long_segment_attempts)

    @property
    def attempts(self) -> int:
        return sum(self.attempts_by_path.values())

    @property
    def faults(self) -> int:
        return sum(self.faults_by_kind.values())


def build_workload(seed: int = 2024) -> list[Item]:
    """The seeded plan: 240 single requests and 6 long-text calls of 10 segments (300 in all)."""
    rng = random.Random(seed)

    def transient(op: str) -> list[str]:
        kinds: list[str] = []
        while len(kinds) < BUDGET and rng.random() < FAULT_RATE:
            kinds.append(rng.choice(TRANSIENT_KINDS))
        return kinds

    items: list[Item] = []
    for op, count in WORKLOAD.items():
        for index in range(count):
            item = Item(op, index, transient(op))
            if rng.random() < TERMINAL_RATE:
                item.terminal, item.expected_error = rng.choice(TERMINALS[op])
            items.append(item)
    for index, fmt in enumerate(LONG_FORMATS):
        # Segments run 4 at a time, so their faults are queued per call: a call's queue never
        # holds more than the budget, hence no segment can meet more than the budget either.
        drawn = sum(len(transient("long_text")) for _ in range(LONG_SEGMENTS))
        kinds = [rng.choice(TRANSIENT_KINDS) for _ in range(min(BUDGET, drawn))]
        items.append(Item("long_text", index, kinds, params={"format": fmt}))
    rng.shuffle(items)
    return items


def long_text(call: int) -> str:
    """Ten distinct sentences (one segment each at 20 words), distinct across calls."""
    return " ".join(
        f"Segment {j} of call {call} talks about the quiet harbour at dawn while boats drift "
        "past old stone bridges."
        for j in range(LONG_SEGMENTS)
    )


def expected_speech(model: str, voice: str, fmt: str, text: str) -> bytes:
    """The stand-in's deterministic answer for a speech request."""
    centis = round(speech_seconds(model, text, 1.0) * 100)
    return synthesize(fmt, 24_000, centis, tone_frequency(voice))


def write_samples(folder: Path) -> list[Path]:
    """Real, non-silent audio files to upload (wav, mp3, flac), 5.5 to 6.5 s long."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, fmt in enumerate(("wav", "mp3", "flac", "wav", "mp3", "flac")):
        path = folder / f"sample{i}.{fmt}"
        path.write_bytes(encode(fmt, tone(5.5 + i * 0.2, freq=220.0 + 40 * i)))
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- running it


class _Runner:
    def __init__(self, standin: StandIn, client: VeniceClient, samples: list[Path]) -> None:
        self.standin = standin
        self.client = client
        self.samples = samples

    async def run(self, item: Item) -> Outcome:
        path = {"speech": SPEECH, "speech_stream": SPEECH, "long_text": SPEECH}.get(
            item.op, TRANSCRIBE if item.op == "transcribe" else VOICES
        )
        plan = [make_fault(k, item.op) for k in item.faults]
        if item.terminal is not None:
            plan.append(make_fault(item.terminal, item.op))
        before = self.standin.count(path)
        self.standin.inject(path, *plan)
        outcome = Outcome(
            item.op, item.index, item.faults, item.terminal, item.expected_error, attempts=0
        )
        action: Callable[[Item, Outcome], Awaitable[None]] = getattr(self, f"_{item.op}")
        try:
            await action(item, outcome)
        except Exception as exc:  # recorded and judged by the tests, never swallowed
            outcome.error = exc
            outcome.verified = False
        outcome.attempts = self.standin.count(path) - before
        return outcome

    async def _speech(self, item: Item, out: Outcome) -> None:
        model, voice, fmt = SPEECH_COMBOS[item.index % len(SPEECH_COMBOS)]
        text = f"Whole request {item.index} greets the harbour."
        audio = await self.client.audio.create_speech(
            input=text, model=model, voice=voice, response_format=fmt
        )
        assert isinstance(audio, AudioResponse)
        out.verified = bytes(audio) == expected_speech(model, voice, fmt, text)

    async def _speech_stream(self, item: Item, out: Outcome) -> None:
        model, voice, fmt = STREAM_COMBOS[item.index % len(STREAM_COMBOS)]
        text = f"Streamed request {item.index} greets the harbour. Then it says more."
        stream = await self.client.audio.create_speech(
            input=text, model=model, voice=voice, response_format=fmt, stream=True
        )
        assert isinstance(stream, SpeechStream)
        got = bytearray()
        try:
            async for chunk in stream:
                got += chunk
        finally:
            out.delivered = len(got)
        out.verified = bytes(got) == expected_speech(model, voice, fmt, text)

    async def _transcribe(self, item: Item, out: Outcome) -> None:
        sample = self.samples[item.index % len(self.samples)]
        how = item.index % 3
        as_text = item.index % 4 == 1
        kwargs: dict[str, Any] = {"response_format": "text"} if as_text else {"timestamps": True}
        if how == 0:
            result = await self.client.audio.transcribe(file=sample, **kwargs)
        elif how == 1:
            result = await self.client.audio.transcribe(file=sample.read_bytes(), **kwargs)
        else:
            with sample.open("rb") as fh:
                result = await self.client.audio.transcribe(file=fh, **kwargs)
        if as_text:
            out.verified = isinstance(result, str) and bool(result.strip())
        else:
            out.verified = (
                isinstance(result, AudioTranscriptionResponse)
                and bool(result.text)
                and bool(result.words)
            )

    async def _clone(self, item: Item, out: Outcome) -> None:
        model = ("tts-chatterbox-hd", "tts-minimax-speech-02-hd")[item.index % 2]
        usable = [p for p in self.samples if p.suffix != ".flac" or model == "tts-chatterbox-hd"]
        sample = usable[item.index % len(usable)]
        voice = await self.client.audio.create_voice(file=sample, model=model)
        out.verified = voice.id.startswith("vv_") and voice.model == model

    async def _long_text(self, item: Item, out: Outcome) -> None:
        data = await self.long(item.index, item.params["format"])
        item.params["output"] = data
        out.verified = bool(data)

    async def long(self, call: int, fmt: str) -> bytes:
        chunks = [
            c
            async for c in self.client.audio.stream_long_text(
                input=long_text(call),
                model="tts-kokoro",
                voice="af_heart",
                response_format=fmt,
                max_words_per_segment=20,
                max_concurrency=4,
            )
        ]
        return b"".join(chunks)


async def run_fault_suite(folder: Path, *, seed: int = 2024) -> SuiteReport:
    """Run the 300-request workload (plus its fault-free long-text reference) and measure it."""
    samples = write_samples(folder)
    items = build_workload(seed)
    async with StandIn(api_key="test-key") as standin:
        async with VeniceClient(
            api_key="test-key",
            base_url=standin.base_url,
            timeout=TIMEOUT,
            max_retries=BUDGET,
            backoff=BACKOFF,
        ) as client:
            runner = _Runner(standin, client, samples)
            await client.models.list("tts")
            await client.models.list("asr")
            # The stand-in caches its encodings but may encode one twice when segments race, and
            # Ogg picks a random stream serial: encode each segment once up front so a format's
            # answers are the same bytes in both runs, as a real service's deterministic answer.
            for i, fmt in enumerate(LONG_FORMATS):
                for text in split_text(long_text(i), max_words=20):
                    expected_speech("tts-kokoro", "af_heart", fmt, text)
            reference = {
                fmt: await runner.long(i, fmt) for i, fmt in enumerate(LONG_FORMATS)
            }  # fault-free
            first = len(standin.requests)
            lanes: dict[str, list[Item]] = {SPEECH: [], TRANSCRIBE: [], VOICES: []}
            for item in items:
                lane = {"transcribe": TRANSCRIBE, "clone": VOICES}.get(item.op, SPEECH)
                lanes[lane].append(item)

            async def run_lane(queue: list[Item]) -> list[Outcome]:
                return [await runner.run(item) for item in queue]

            started = time.perf_counter()
            results = await asyncio.gather(*(run_lane(q) for q in lanes.values()))
            wall = time.perf_counter() - started
        faulted = standin.requests[first:]
        segment_inputs = {
            s for i in range(len(LONG_FORMATS)) for s in split_text(long_text(i), max_words=20)
        }
        segment_attempts = Counter(
            r.json["input"]
            for r in faulted
            if r.path == SPEECH and isinstance(r.json, dict) and r.json["input"] in segment_inputs
        )
        outcomes = [o for lane_outcomes in results for o in lane_outcomes]
        long_faulted = {
            item.params["format"]: item.params.get("output", b"")
            for item in items
            if item.op == "long_text"
        }
        faults: Counter[str] = Counter()
        for r in faulted:
            if r.fault is not None:
                faults[_kind_name(r.fault)] += 1
        return SuiteReport(
            outcomes=outcomes,
            faults_by_kind=faults,
            attempts_by_path=Counter(r.path for r in faulted if r.path != "/models"),
            long_reference=reference,
            long_faulted=long_faulted,
            long_segment_attempts=[segment_attempts[s] for s in sorted(segment_inputs)],
            violations=list(standin.violations),
            wall_seconds=wall,
        )


def _kind_name(fault: Fault) -> str:
    if fault.kind == "status":
        return f"HTTP {fault.status_code}"
    if fault.kind == "reset_mid_body":
        return "reset after bytes" if fault.after_bytes == 300 else "reset mid body"
    return {"reset_before_body": "reset before body", "stall": "stall past timeout"}[fault.kind]


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


# --------------------------------------------------------------------------- single cases

SAY: dict[str, Any] = {
    "input": "One. Two. Three. Four.",
    "model": "tts-kokoro",
    "voice": "af_heart",
}


async def single_request(op: str, client: VeniceClient, tmp_path: Path) -> Any:
    """Run one logical request of ``op`` (long text: one segment at a time)."""
    if op == "speech":
        return await client.audio.create_speech(**SAY)
    if op == "speech_stream":
        stream = await client.audio.create_speech(**SAY, stream=True)
        assert isinstance(stream, SpeechStream)
        return b"".join([c async for c in stream])
    if op == "long_text":
        return b"".join(
            [
                c
                async for c in client.audio.stream_long_text(
                    **SAY, max_words_per_segment=1, max_concurrency=1
                )
            ]
        )
    sample = tmp_path / "sample.wav"
    if not sample.exists():
        sample.write_bytes(encode("wav", tone(5.5)))
    if op == "transcribe":
        return await client.audio.transcribe(file=sample)
    return await client.audio.create_voice(file=sample)


def path_of(op: str) -> str:
    return {"transcribe": TRANSCRIBE, "clone": VOICES}.get(op, SPEECH)


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
