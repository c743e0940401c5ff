"""The fault-injection workload: 300 logical requests over every endpoint against the stand-in,
faults drawn from a seeded generator; run by tests/test_faults.py and benchmarks/bench_faults.py."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testkit.audio_fixtures import encode, tone
from testkit.standin import Fault, StandIn, speech_seconds, synthesize, tone_frequency
from venice_nb import VeniceClient
from venice_nb.core.audio import SpeechStream
from venice_nb.core.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
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
