"""A strict local stand-in for the Venice audio API, for tests and benchmarks.

It serves `/api/v1` on 127.0.0.1 from the shared contract (`openapi-audio.yaml`, `catalog.json`),
rejects every request that breaks that contract loudly (and records it in `violations`), answers
with real, decodable audio made by PyAV, and injects faults on demand so retry and timeout paths
can be exercised without the cloud.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import io
import json
import os
import random
import re
import time
import uuid
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import av
import jsonschema
import numpy as np
import yaml
from aiohttp import web
from multidict import CIMultiDict

from .loopback import API_PREFIX, LoopbackServer

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
"""Largest accepted upload (the file part of a multipart request): 25 MB."""

SECONDS_PER_CHAR = 0.06
MIN_SPEECH_SECONDS = 0.3
QWEN_MAX_SECONDS = 15.9
"""`tts-qwen3-*` cut their output at about 15.9 s (README: long input must be split)."""

CONTENT_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
TRANSCRIBABLE_CONTAINERS = frozenset({"wav", "flac", "m4a", "mp4", "aac", "mp3", "ogg", "webm"})
PROGRESSIVE_STREAMING_MODELS = frozenset({"tts-kokoro", "tts-xai-v1"})
VOICE_CLONING: dict[str, dict[str, Any]] = {
    "tts-chatterbox-hd": {
        "mode": "zero_shot",
        "accepted_formats": ["mp3", "wav", "flac", "m4a"],
        "min_sample_seconds": 5,
        "retention_days": 7,
    },
    "tts-minimax-speech-02-hd": {
        "mode": "persistent",
        "accepted_formats": ["mp3", "wav"],
        "min_sample_seconds": 5,
        "retention_days": 7,
    },
}
MODEL_TYPES = ("asr", "embedding", "image", "music", "text", "tts", "upscale", "inpaint", "video")
LIST_TYPES = (*MODEL_TYPES, "all", "code")

_STATUS_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("INVALID_REQUEST", "Invalid request parameters"),
    401: ("AUTHENTICATION_FAILED", "Authentication failed"),
    402: ("INSUFFICIENT_BALANCE", "Insufficient USD or Diem balance to complete request"),
    403: ("UNAUTHORIZED", "Unauthorized access"),
    413: ("PAYLOAD_TOO_LARGE", "The request payload is too large."),
    422: ("CONTENT_POLICY_VIOLATION", "The request was refused by the content policy."),
    429: ("RATE_LIMIT_EXCEEDED", "Rate limit exceeded"),
    500: ("INFERENCE_FAILED", "Inference processing failed"),
    502: ("ASR_UPSTREAM_FAILED", "The upstream transcription service failed"),
    503: ("MODEL_OFFLINE", "The model is at capacity. Please try again later."),
}
_FAKE_WORDS = (
    "venice", "stand", "in", "speaks", "clearly", "about", "the", "quiet", "harbour", "at",
    "dawn", "while", "boats", "drift", "past", "old", "stone", "bridges", "and", "gulls", "call",
)  # fmt: skip


# --------------------------------------------------------------------------- contract


@dataclass(frozen=True)
class Contract:
    """The published service contract: model catalog (completed) and request schemas."""

    models: tuple[dict[str, Any], ...]
    openapi: dict[str, Any]

    def model(self, model_id: str) -> dict[str, Any] | None:
        """The catalog entry for `model_id`, or None when the service does not know it."""
        for entry in self.models:
            if entry["id"] == model_id:
                return entry
        return None

    def validator(self, schema_name: str, *, closed: bool = False) -> jsonschema.Draft4Validator:
        """A validator for one `components/schemas` entry, `$ref`s resolved inside the document."""
        schema: dict[str, Any] = {"components": self.openapi["components"]}
        target = self.openapi["components"]["schemas"][schema_name]
        if closed and "additionalProperties" not in target:
            schema.update(copy.deepcopy(target), additionalProperties=False)
        else:
            schema["$ref"] = f"#/components/schemas/{schema_name}"
        return jsonschema.Draft4Validator(schema)


def shared_dir() -> Path:
    """The shared reference folder: `$VENICE_SHARED_DIR`, else `../shared` beside the repository."""
    override = os.environ.get("VENICE_SHARED_DIR")
    path = Path(override) if override else Path(__file__).resolve().parents[1] / ".." / "shared"
    path = path.resolve()
    if not (path / "venice-api" / "catalog.json").is_file():
        raise FileNotFoundError(
            f"The Venice contract was not found under {path}; clone the repository beside "
            "`shared/` or set VENICE_SHARED_DIR to the folder holding venice-api/."
        )
    return path


def _complete_tts_spec(model_id: str, spec: dict[str, Any]) -> None:
    """Fill in the TTS fields the catalog snapshot lacks (formats, cloning, custom voice ids)."""
    if "supported_formats" not in spec:
        spec["supported_formats"] = (
            ["wav", "mp3", "flac"] if model_id == "tts-chatterbox-hd" else ["mp3", "wav"]
        )
    if "default_format" not in spec:
        spec["default_format"] = "mp3" if model_id == "tts-kokoro" else spec["supported_formats"][0]
    if model_id in VOICE_CLONING and "voice_cloning" not in spec:
        spec["voice_cloning"] = copy.deepcopy(VOICE_CLONING[model_id])
    if model_id == "tts-elevenlabs-turbo-v2-5":
        spec.setdefault("supports_custom_voice_id", True)


@functools.lru_cache(maxsize=4)
def load_contract(folder: Path) -> Contract:
    """Read catalog.json and openapi-audio.yaml from `folder` (the shared dir) once per process."""
    api = folder / "venice-api"
    catalog = json.loads((api / "catalog.json").read_text(encoding="utf-8"))
    openapi = yaml.safe_load((api / "openapi-audio.yaml").read_text(encoding="utf-8"))
    models = []
    for raw in catalog["data"]:
        entry = copy.deepcopy(raw)
        if entry["type"] == "tts":
            _complete_tts_spec(entry["id"], entry["model_spec"])
        models.append(
            {
                "created": entry.get("created"),
                "id": entry["id"],
                "model_spec": entry["model_spec"],
                "object": "model",
                "owned_by": "venice.ai",
                "type": entry["type"],
            }
        )
    return Contract(models=tuple(models), openapi=openapi)


# --------------------------------------------------------------------------- audio


def sniff_container(data: bytes) -> str | None:
    """Name the audio container from its magic bytes (wav, flac, mp3, aac, m4a, mp4, ogg, webm)."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:3] == b"ID3":
        return "mp3"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "m4a" if data[8:12] in (b"M4A ", b"M4B ", b"M4P ") else "mp4"
    if len(data) >= 2 and data[0] == 0xFF:
        if data[1] & 0xF6 == 0xF0:
            return "aac"  # ADTS: sync word, layer 00
        if data[1] & 0xE0 == 0xE0 and data[1] & 0x06 == 0x02:
            return "mp3"  # MPEG audio frame sync, layer III
    return None


@dataclass(frozen=True)
class DecodedAudio:
    """What decoding an upload revealed: its real duration and loudest sample (0..1)."""

    duration: float
    peak: float


def decode_audio(data: bytes) -> DecodedAudio:
    """Decode the first audio stream of `data` with PyAV; raises ValueError when it is not audio."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise ValueError("the file holds no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono")
            samples = 0
            rate = 0
            peak = 0.0
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray()
                    if arr.size:
                        peak = max(peak, float(np.max(np.abs(arr))))
                    samples += out.samples
                    rate = out.sample_rate
    except (av.FFmpegError, EOFError, IndexError) as exc:
        raise ValueError(f"the file could not be decoded as audio ({exc})") from exc
    if samples == 0 or rate == 0:
        raise ValueError("the file decodes to zero audio samples")
    return DecodedAudio(duration=samples / rate, peak=peak)


def tone_frequency(voice: str) -> int:
    """A stable pitch in 150..499 Hz per voice, so different voices sound different."""
    return 150 + zlib.crc32(voice.encode("utf-8")) % 350


def _tone_samples(seconds: float, sample_rate: int, frequency: int) -> np.ndarray:
    """A mono s16 tone with a gentle syllable-like envelope and 10 ms fades (no clicks)."""
    n = max(1, round(seconds * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t) ** 2
    fade = min(n // 2, int(0.01 * sample_rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        envelope[:fade] *= ramp
        envelope[n - fade :] *= ramp[::-1]
    wave = 0.3 * envelope * np.sin(2 * np.pi * frequency * t)
    return (wave * 32767).astype(np.int16)


_ENCODERS: dict[str, tuple[str, str, int, dict[str, str]]] = {
    # format: (container, codec, bit rate, codec options chosen for speed)
    "mp3": ("mp3", "libmp3lame", 48_000, {"compression_level": "9"}),
    "opus": ("ogg", "libopus", 32_000, {"compression_level": "0"}),
    "aac": ("adts", "aac", 48_000, {}),
    "flac": ("flac", "flac", 0, {"compression_level": "0"}),
    "wav": ("wav", "pcm_s16le", 0, {}),
}


@functools.lru_cache(maxsize=512)
def synthesize(fmt: str, sample_rate: int, centiseconds: int, frequency: int) -> bytes:
    """Encode a tone of `centiseconds`/100 s in `fmt` with PyAV (cached: suites repeat lengths)."""
    samples = _tone_samples(centiseconds / 100, sample_rate, frequency)
    if fmt == "pcm":
        return samples.astype("<i2").tobytes()
    container_format, codec, bit_rate, options = _ENCODERS[fmt]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=sample_rate, layout="mono", options=options)
        assert isinstance(stream, av.AudioStream)
        if bit_rate:
            stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def speech_seconds(model: str, text: str, speed: float) -> float:
    """Length of the answer: 0.06 s per character at speed 1, at least 0.3 s, Qwen capped."""
    seconds = max(MIN_SPEECH_SECONDS, SECONDS_PER_CHAR * len(text) / speed)
    if model.startswith("tts-qwen3-"):
        seconds = min(seconds, QWEN_MAX_SECONDS)
    return seconds


def fake_transcript(size: int, duration: float, timestamps: bool) -> dict[str, Any]:
    """Deterministic pretend words spread over the real duration (this is a stand-in)."""
    rng = random.Random(size * 1_000_003 + round(duration * 1000))
    count = max(1, round(duration * 2.5))
    words = [rng.choice(_FAKE_WORDS) for _ in range(count)]
    text = " ".join(words).capitalize() + "."
    answer: dict[str, Any] = {"text": text, "duration": round(duration, 3)}
    if timestamps:
        slot = duration / count
        word_ts: list[dict[str, Any]] = [
            {"word": w, "start": round(i * slot, 3), "end": round(i * slot + 0.8 * slot, 3)}
            for i, w in enumerate(words)
        ]
        segments = [
            {
                "text": " ".join(w["word"] for w in word_ts[i : i + 10]),
                "start": word_ts[i]["start"],
                "end": word_ts[min(i + 10, count) - 1]["end"],
            }
            for i in range(0, count, 10)
        ]
        answer["timestamps"] = {"word": word_ts, "segment": segments}
    return answer


# --------------------------------------------------------------------------- faults, records


FaultKind = Literal["status", "reset_before_body", "reset_mid_body", "stall"]


@dataclass(frozen=True)
class Fault:
    """A misbehaviour the stand-in plays instead of (or before) a normal answer."""

    kind: FaultKind
    status_code: int = 0
    retry_after: float | None = None
    reset_requests_at: float | None = None
    body: dict[str, Any] | None = None
    after_bytes: int = 0
    seconds: float = 0.0

    @staticmethod
    def status(
        code: int,
        *,
        retry_after: float | None = None,
        reset_requests_at: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> Fault:
        """Answer `code` with a Venice error body; optional Retry-After / reset-requests time."""
        if not 400 <= code <= 599:
            raise ValueError(f"Fault.status needs an error status (400-599), not {code}.")
        return Fault(
            "status",
            status_code=code,
            retry_after=retry_after,
            reset_requests_at=reset_requests_at,
            body=body,
        )

    @staticmethod
    def reset_before_body() -> Fault:
        """Close the TCP connection without answering."""
        return Fault("reset_before_body")

    @staticmethod
    def reset_mid_body(after_bytes: int = 1024) -> Fault:
        """Send 200 headers and up to `after_bytes` of the body, then abort the connection."""
        return Fault("reset_mid_body", after_bytes=after_bytes)

    @staticmethod
    def stall(seconds: float) -> Fault:
        """Sleep `seconds` before answering normally (to trip client timeouts)."""
        return Fault("stall", seconds=seconds)

    def __str__(self) -> str:
        if self.kind == "status":
            return f"status({self.status_code})"
        if self.kind == "reset_mid_body":
            return f"reset_mid_body({self.after_bytes})"
        if self.kind == "stall":
            return f"stall({self.seconds:g})"
        return self.kind


DEFAULT_FAULT_KINDS: tuple[Fault, ...] = (
    Fault.status(429, retry_after=0.05),
    Fault.status(500),
    Fault.status(503),
    Fault.reset_before_body(),
)
"""Transient faults drawn by `fault_rate` when no `fault_kinds` are given."""


@dataclass(frozen=True)
class UploadedFile:
    """A file part as received (its bytes are not kept)."""

    filename: str
    content_type: str
    size: int


@dataclass
class RecordedRequest:
    """One request as the stand-in saw it, with the fault it played and the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    """Case-insensitive; Authorization shows as "Bearer ***" unless `redact_authorization` is off."""
    time: float
    """`time.monotonic()` when the request arrived."""
    request_id: str
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    fault: Fault | None = None
    status: int | None = None
    """Status answered; None when the connection was reset or the handler was cancelled."""


class Rejection(Exception):
    """A request the contract forbids; becomes a JSON error answer and a recorded violation."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.code:
            out["code"] = self.code
        if self.details is not None:
            out["details"] = self.details
        return out


def _field_error(name: str, message: str) -> dict[str, Any]:
    return {"_errors": [], name: {"_errors": [message]}}


def _schema_rejection(errors: list[jsonschema.ValidationError]) -> Rejection:
    """Turn jsonschema errors into a 400 with a zod-like `details` tree naming each field."""
    details: dict[str, Any] = {"_errors": []}
    lines = []
    for err in errors:
        if err.validator == "additionalProperties" and not err.absolute_path:
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            msg = "Unrecognized key(s) in object: " + ", ".join(f"'{k}'" for k in extra)
            details["_errors"].append(msg)
            lines.append(msg)
            continue
        name = str(err.absolute_path[0]) if err.absolute_path else ""
        if err.validator == "required" and not err.absolute_path:
            name = str(err.message).split("'")[1]
            msg = "Required"
        else:
            msg = err.message
        if name:
            details.setdefault(name, {"_errors": []})["_errors"].append(msg)
            lines.append(f"{name}: {msg}")
        else:
            details["_errors"].append(msg)
            lines.append(msg)
    return Rejection(
        400,
        "Invalid request parameters: " + "; ".join(lines),
        code="INVALID_REQUEST",
        details=details,
    )


def _number_text(value: float) -> str:
    """Header-friendly number: integers without a decimal point, others with up to 3 decimals."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


@dataclass
class _Answer:
    """A prepared success answer before faults and transport decide how it is delivered."""

    body: bytes
    content_type: str
    streaming: bool = False
    progressive: bool = False
    chunk_align: int = 1


# --------------------------------------------------------------------------- server

_REC = web.RequestKey("venice_standin_record", RecordedRequest)


class StandIn(LoopbackServer):
    """The Venice audio API on 127.0.0.1, strict about the contract, with fault injection."""

    runner_options: ClassVar[dict[str, Any]] = {
        **LoopbackServer.runner_options,
        "handler_cancellation": True,
    }

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        latency: float = 0.0,
        fault_rate: float = 0.0,
        fault_kinds: Sequence[Fault] | None = None,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, not {fault_rate}.")
        super().__init__()
        self.api_key = api_key
        self.latency = latency
        self.fault_rate = fault_rate
        self.fault_kinds: tuple[Fault, ...] = tuple(fault_kinds or DEFAULT_FAULT_KINDS)
        self.redact_authorization = True
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.cloned_voices: dict[str, str] = {}
        """Voice handles minted by POST /audio/voices, mapped to the model they belong to."""
        self.rate_limit_requests = 500
        self.rate_limit_tokens = 1_000_000
        self.contract = load_contract(shared_dir())
        self._rng = random.Random(seed)
        self._queued: dict[str, deque[Fault]] = {}
        self._window_start = time.time()
        self._window_requests = 0
        self._window_tokens = 0
        self._speech_schema = self.contract.validator("CreateSpeechRequestSchema")
        self._transcription_schema = self.contract.validator("CreateTranscriptionRequestSchema")
        self._voices_schema = self.contract.validator("CreateClonedVoiceRequestSchema", closed=True)

    # -- lifecycle

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.on_response_prepare.append(self._on_prepare)
        app.router.add_get(f"{API_PREFIX}/models", self._models)
        app.router.add_post(f"{API_PREFIX}/audio/speech", self._speech)
        app.router.add_post(f"{API_PREFIX}/audio/transcriptions", self._transcriptions)
        app.router.add_post(f"{API_PREFIX}/audio/voices", self._voices)
        return app

    # -- test API

    @staticmethod
    def _normalise(path: str) -> str:
        path = "/" + path.lstrip("/")
        return path[len(API_PREFIX) :] if path.startswith(API_PREFIX + "/") else path

    def inject(self, path: str, *faults: Fault) -> None:
        """Queue faults for the next valid requests to `path` (e.g. "/audio/speech"), in order."""
        self._queued.setdefault(self._normalise(path), deque()).extend(faults)

    def count(self, path: str) -> int:
        """How many requests reached `path` (any method, any outcome)."""
        wanted = self._normalise(path)
        return sum(1 for r in self.requests if r.path == wanted)

    # -- plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        headers = CIMultiDict(request.headers)
        if "Authorization" in headers and self.redact_authorization:
            scheme = headers["Authorization"].split(" ", 1)[0]
            headers["Authorization"] = f"{scheme} ***"
        rec = RecordedRequest(
            method=request.method,
            path=self._normalise(request.path),
            query=dict(request.query),
            headers=headers,
            time=time.monotonic(),
            request_id=f"req_{uuid.uuid4().hex}",
        )
        self.requests.append(rec)
        request[_REC] = rec
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except Rejection as rejection:
            return self._reject(request, rejection)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            rej: Rejection
            if exc.status == 413:
                rej = Rejection(413, "Request body is too large.", code="PAYLOAD_TOO_LARGE")
            elif exc.status == 404:
                rej = Rejection(404, f"No such endpoint: {request.method} {request.path}.")
            elif exc.status == 405:
                rej = Rejection(405, f"Method {request.method} is not allowed on {request.path}.")
            else:
                rej = Rejection(exc.status, exc.reason or "Request rejected.")
            return self._reject(request, rej)

    def _reject(self, request: web.Request, rej: Rejection) -> web.Response:
        self.violations.append(f"{request.method} {request.path}: {rej.status} {rej.message}")
        return web.json_response(rej.body(), status=rej.status)

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Stamp every answer with the six rate-limit headers and a request id."""
        now = time.time()
        if now - self._window_start >= 60:
            self._window_start, self._window_requests, self._window_tokens = now, 0, 0
        self._window_requests += 1
        h = response.headers
        h.setdefault("x-ratelimit-limit-requests", str(self.rate_limit_requests))
        h.setdefault(
            "x-ratelimit-remaining-requests",
            str(max(0, self.rate_limit_requests - self._window_requests)),
        )
        h.setdefault("x-ratelimit-reset-requests", str(int(self._window_start + 60)))
        h.setdefault("x-ratelimit-limit-tokens", str(self.rate_limit_tokens))
        h.setdefault(
            "x-ratelimit-remaining-tokens",
            str(max(0, self.rate_limit_tokens - self._window_tokens)),
        )
        h.setdefault("x-ratelimit-reset-tokens", _number_text(self._window_start + 60 - now))
        rec: RecordedRequest | None = request.get(_REC)
        if rec is not None:
            h.setdefault("x-request-id", rec.request_id)
            if request.transport is not None and not request.transport.is_closing():
                rec.status = response.status
        else:
            h.setdefault("x-request-id", f"req_{uuid.uuid4().hex}")

    def _check_auth(self, request: web.Request, *, optional: bool = False) -> None:
        header = request.headers.get("Authorization")
        if header is None:
            if optional:
                return
            raise Rejection(
                401,
                "Authentication failed: send the header `Authorization: Bearer <API key>`.",
                code="AUTHENTICATION_FAILED",
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.api_key or token != token.strip():
            raise Rejection(
                401,
                "Authentication failed: the Authorization header is not `Bearer <valid API key>`.",
                code="AUTHENTICATION_FAILED",
            )

    @staticmethod
    def _no_query(request: web.Request, allowed: Sequence[str] = ()) -> None:
        extra = sorted(set(request.query) - set(allowed))
        if extra:
            raise Rejection(
                400,
                f"Unknown query parameter(s): {', '.join(extra)}.",
                code="INVALID_REQUEST",
            )

    def _pick_fault(self, request: web.Request, *, random_faults: bool) -> Fault | None:
        rec: RecordedRequest = request[_REC]
        drawn: Fault | None = None
        if random_faults and self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            drawn = self._rng.choice(self.fault_kinds)
        queue = self._queued.get(rec.path)
        fault = queue.popleft() if queue else drawn
        rec.fault = fault
        return fault

    async def _deliver(
        self,
        request: web.Request,
        fault: Fault | None,
        make: Callable[[], Awaitable[_Answer]],
        *,
        slow: bool = True,
    ) -> web.StreamResponse:
        """Apply the fault (if any), the latency (`slow` endpoints), then send `make()`'s answer."""
        if fault is not None and fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            return self._fault_status(fault)
        if fault is not None and fault.kind == "reset_before_body":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=200)
        if slow and self.latency > 0:
            await asyncio.sleep(self.latency)
        answer = await make()
        if fault is not None and fault.kind == "reset_mid_body":
            return await self._send_partial(request, answer, fault.after_bytes)
        if answer.streaming:
            return await self._send_streaming(request, answer)
        return web.Response(body=answer.body, headers={"Content-Type": answer.content_type})

    @staticmethod
    def _fault_status(fault: Fault) -> web.Response:
        code, message = _STATUS_DEFAULTS.get(fault.status_code, ("UNKNOWN_ERROR", "Unknown error"))
        body = fault.body if fault.body is not None else {"error": message, "code": code}
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = _number_text(fault.retry_after)
        if fault.reset_requests_at is not None:
            headers["x-ratelimit-reset-requests"] = _number_text(fault.reset_requests_at)
        if fault.status_code == 429:
            headers["x-ratelimit-remaining-requests"] = "0"
            if fault.reset_requests_at is None and fault.retry_after is not None:
                # Keep the two hints coherent: the window reopens when Retry-After says.
                reopen = time.time() + fault.retry_after
                headers["x-ratelimit-reset-requests"] = _number_text(round(reopen, 3))
        return web.json_response(body, status=fault.status_code, headers=headers)

    @staticmethod
    async def _send_partial(
        request: web.Request, answer: _Answer, after: int
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": answer.content_type})
        if not answer.streaming:
            response.content_length = len(answer.body)
        await response.prepare(request)
        cut = max(0, min(after, len(answer.body) - 1))
        if cut:
            await response.write(answer.body[:cut])
        transport = request.transport
        assert transport is not None
        for _ in range(200):  # let the bytes leave before the reset discards the buffer
            if transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.005)
        transport.abort()
        return response

    @staticmethod
    async def _send_streaming(request: web.Request, answer: _Answer) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": answer.content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        body = answer.body
        if answer.progressive and len(body) > 1:
            pieces = min(5, len(body))
            step = max(answer.chunk_align, len(body) // pieces)
            step -= step % answer.chunk_align
            for start in range(0, len(body), step):
                await response.write(body[start : start + step])
                await asyncio.sleep(0.01)
        else:
            await response.write(body)
        await response.write_eof()
        return response

    # -- endpoints

    async def _models(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request, optional=True)
        self._no_query(request, ["type"])
        kind = request.query.get("type", "text")
        if kind not in LIST_TYPES:
            raise Rejection(
                400,
                f"Invalid model type {kind!r}; use one of: {', '.join(LIST_TYPES)}.",
                code="INVALID_REQUEST",
                details=_field_error("type", "Invalid enum value"),
            )
        data = [
            copy.deepcopy(m) for m in self.contract.models if kind == "all" or m["type"] == kind
        ]
        fault = self._pick_fault(request, random_faults=False)

        async def make() -> _Answer:
            body = json.dumps({"data": data, "object": "list", "type": kind}).encode()
            return _Answer(body, "application/json; charset=utf-8")

        return await self._deliver(request, fault, make, slow=False)

    def _check_model(self, model: Any, wanted: str) -> dict[str, Any] | None:
        if not isinstance(model, str):
            return None  # the schema check names the type error
        entry = self.contract.model(model)
        if entry is None:
            raise Rejection(
                404,
                f"Model {model!r} was not found; list the available ones with GET /models?type={wanted}.",
                code="MODEL_NOT_FOUND",
            )
        if entry["type"] != wanted:
            raise Rejection(
                400,
                f"Model {model!r} is a {entry['type']} model; this endpoint needs a {wanted} model.",
                code="INVALID_MODEL",
                details=_field_error("model", f"Not a {wanted} model"),
            )
        return entry

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        rec: RecordedRequest = request[_REC]
        self._check_auth(request)
        self._no_query(request)
        if request.content_type != "application/json":
            raise Rejection(
                415,
                f"Content-Type must be application/json for /audio/speech, not {request.content_type!r}.",
                code="INVALID_CONTENT_TYPE",
            )
        raw = await request.read()
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Rejection(
                400, f"The body is not valid JSON: {exc}.", code="INVALID_REQUEST"
            ) from exc
        rec.json = payload
        if isinstance(payload, dict):
            self._check_model(payload.get("model"), "tts")
        errors = sorted(self._speech_schema.iter_errors(payload), key=lambda e: list(e.path))
        if errors:
            raise _schema_rejection(errors)
        model_id: str = payload.get("model", "tts-kokoro")
        entry = self.contract.model(model_id)
        assert entry is not None
        spec = entry["model_spec"]
        voice: str = payload.get("voice", "af_sky")
        if not (
            voice in spec.get("voices", [])
            or self.cloned_voices.get(voice) == model_id
            or spec.get("supports_custom_voice_id")
        ):
            if voice.startswith("vv_"):
                why = (
                    f"Voice handle {voice!r} was not minted for {model_id}; clone the voice "
                    f"with that model first (POST /audio/voices)."
                )
            else:
                sample = ", ".join(spec.get("voices", [])[:5])
                why = (
                    f"Voice {voice!r} is not available for {model_id} (voices are "
                    f"model-specific and case-sensitive; e.g. {sample})."
                )
            raise Rejection(400, why, code="INVALID_REQUEST", details=_field_error("voice", why))
        supported: list[str] = spec["supported_formats"]
        fmt: str = payload.get("response_format", spec["default_format"])
        if fmt not in supported:
            why = (
                f"Format {fmt!r} is not supported by {model_id}; supported formats: "
                f"{', '.join(supported)}."
            )
            raise Rejection(
                400, why, code="INVALID_REQUEST", details=_field_error("response_format", why)
            )
        text: str = payload["input"]
        speed = float(payload.get("speed", 1.0))
        streaming = bool(payload.get("streaming", False))
        self._window_tokens += len(text)
        fault = self._pick_fault(request, random_faults=True)

        async def make() -> _Answer:
            rate = 48_000 if model_id == "tts-gradium-v1" else 24_000
            centis = round(speech_seconds(model_id, text, speed) * 100)
            body = await asyncio.to_thread(synthesize, fmt, rate, centis, tone_frequency(voice))
            return _Answer(
                body,
                CONTENT_TYPES[fmt],
                streaming=streaming,
                progressive=model_id in PROGRESSIVE_STREAMING_MODELS,
                chunk_align=2 if fmt == "pcm" else 1,
            )

        return await self._deliver(request, fault, make)

    async def _read_multipart(
        self, request: web.Request, endpoint: str
    ) -> tuple[dict[str, str], bytes | None]:
        """Read a multipart body strictly: known fields once each, `file` as a file part."""
        rec: RecordedRequest = request[_REC]
        self._check_auth(request)
        self._no_query(request)
        if request.content_type != "multipart/form-data":
            raise Rejection(
                415,
                f"Content-Type must be multipart/form-data for {endpoint}, not {request.content_type!r}.",
                code="INVALID_CONTENT_TYPE",
            )
        fields: dict[str, str] = {}
        data: bytes | None = None
        too_large = False
        problems: list[tuple[str, str]] = []
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, type(reader).part_reader_cls):
                    raise Rejection(400, "Nested multipart bodies are not accepted.")
                name = part.name or ""
                if name in fields or (name == "file" and data is not None):
                    problems.append((name, "Field sent more than once"))
                if name == "file":
                    if part.filename is None:
                        problems.append(("file", "Must be a file part (with a filename)"))
                    chunks: list[bytes] = []
                    size = 0
                    while chunk := await part.read_chunk(1 << 20):
                        size += len(chunk)
                        if size > MAX_UPLOAD_BYTES:
                            too_large = True
                            chunks = []
                        elif not too_large:
                            chunks.append(chunk)
                    data = b"" if too_large else b"".join(chunks)
                    rec.files["file"] = UploadedFile(
                        part.filename or "",
                        part.headers.get("Content-Type", ""),
                        size,
                    )
                else:
                    raw = await part.read()
                    if part.filename is not None:
                        problems.append((name, "Must be a plain form field, not a file part"))
                    try:
                        fields[name] = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        problems.append((name, "Must be UTF-8 text"))
                        fields[name] = ""
                    rec.form[name] = fields[name]
        except ValueError as exc:
            raise Rejection(
                400, f"The multipart body is malformed: {exc}.", code="INVALID_REQUEST"
            ) from exc
        if too_large:
            raise Rejection(
                413,
                f"File exceeds the maximum allowed size of {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.",
                code="PAYLOAD_TOO_LARGE",
            )
        if problems:
            details: dict[str, Any] = {"_errors": []}
            for name, msg in problems:
                details.setdefault(name, {"_errors": []})["_errors"].append(msg)
            raise Rejection(
                400,
                "Invalid request parameters: " + "; ".join(f"{n}: {m}" for n, m in problems),
                code="INVALID_REQUEST",
                details=details,
            )
        return fields, data

    def _form_values(
        self,
        fields: dict[str, str],
        data: bytes | None,
        schema_name: str,
        validator: jsonschema.Draft4Validator,
    ) -> dict[str, Any]:
        """Form text converted to the schema's types (booleans strictly "true"/"false"), validated."""
        schema_props: dict[str, Any] = self.contract.openapi["components"]["schemas"][schema_name][
            "properties"
        ]
        values: dict[str, Any] = {}
        problems: list[jsonschema.ValidationError] = []
        for name, text in fields.items():
            kind = schema_props.get(name, {}).get("type")
            if kind == "boolean":
                if text not in ("true", "false"):
                    problems.append(
                        jsonschema.ValidationError(
                            f"Expected 'true' or 'false', got {text!r}",
                            validator="type",
                            path=[name],
                        )
                    )
                    continue
                values[name] = text == "true"
            else:
                values[name] = text
        if data is not None:
            values["file"] = "<binary>"
        else:
            problems.append(
                jsonschema.ValidationError("'file' is a required property", validator="required")
            )
        problems.extend(validator.iter_errors(values))
        if problems:
            raise _schema_rejection(problems)
        return values

    async def _transcriptions(self, request: web.Request) -> web.StreamResponse:
        fields, data = await self._read_multipart(request, "/audio/transcriptions")
        if "model" in fields:
            self._check_model(fields["model"], "asr")
        values = self._form_values(
            fields, data, "CreateTranscriptionRequestSchema", self._transcription_schema
        )
        language = values.get("language")
        if language is not None and not re.fullmatch(r"[a-z]{2}", language):
            why = f"Language {language!r} is not an ISO 639-1 code (two lowercase letters, e.g. 'en')."
            raise Rejection(400, why, code="INVALID_REQUEST", details=_field_error("language", why))
        assert data is not None
        if not data:
            raise Rejection(
                422, "The uploaded audio file is empty.", code="ASR_UPSTREAM_VALIDATION_FAILED"
            )
        container = sniff_container(data)
        try:
            decoded = await asyncio.to_thread(decode_audio, data)
        except ValueError as exc:
            raise Rejection(
                422,
                f"The uploaded file is not usable audio: {exc}.",
                code="ASR_UPSTREAM_VALIDATION_FAILED",
            ) from exc
        if container not in TRANSCRIBABLE_CONTAINERS:
            raise Rejection(
                400,
                "Unsupported audio container; send WAV, FLAC, M4A, AAC, MP4, MP3, OGG or WEBM.",
                code="INVALID_AUDIO_FORMAT",
                details=_field_error("file", "Unsupported audio format"),
            )
        if decoded.peak < 1e-3:
            raise Rejection(
                422, "The uploaded audio is silent.", code="ASR_UPSTREAM_VALIDATION_FAILED"
            )
        fault = self._pick_fault(request, random_faults=True)
        as_text = values.get("response_format", "json") == "text"
        timestamps = bool(values.get("timestamps", False))

        async def make() -> _Answer:
            transcript = fake_transcript(len(data), decoded.duration, timestamps)
            if as_text:
                return _Answer(transcript["text"].encode(), "text/plain; charset=utf-8")
            return _Answer(json.dumps(transcript).encode(), "application/json; charset=utf-8")

        return await self._deliver(request, fault, make)

    async def _voices(self, request: web.Request) -> web.StreamResponse:
        fields, data = await self._read_multipart(request, "/audio/voices")
        if "model" in fields:
            entry = self._check_model(fields["model"], "tts")
            if entry is not None and "voice_cloning" not in entry["model_spec"]:
                why = f"Model {fields['model']!r} cannot clone voices; use one of: {', '.join(VOICE_CLONING)}."
                raise Rejection(400, why, code="INVALID_MODEL", details=_field_error("model", why))
        values = self._form_values(
            fields, data, "CreateClonedVoiceRequestSchema", self._voices_schema
        )
        model_id: str = values.get("model", "tts-chatterbox-hd")
        accepted: list[str] = VOICE_CLONING[model_id]["accepted_formats"]
        assert data is not None
        container = sniff_container(data)
        if container not in accepted:
            what = "an empty file" if not data else (container or "an unrecognised file").upper()
            why = (
                f"{model_id} accepts voice samples as {', '.join(f.upper() for f in accepted)}; "
                f"got {what}."
            )
            raise Rejection(
                400, why, code="INVALID_AUDIO_FORMAT", details=_field_error("file", why)
            )
        try:
            await asyncio.to_thread(decode_audio, data)
        except ValueError as exc:
            why = f"The voice sample is not usable audio: {exc}."
            raise Rejection(
                400, why, code="INVALID_AUDIO_FORMAT", details=_field_error("file", why)
            ) from exc
        fault = self._pick_fault(request, random_faults=True)

        async def make() -> _Answer:
            handle = f"vv_{uuid.uuid4().hex[:20]}"
            self.cloned_voices[handle] = model_id
            body = json.dumps({"id": handle, "model": model_id}).encode()
            return _Answer(body, "application/json; charset=utf-8")

        return await self._deliver(request, fault, make)


__all__ = [
    "API_PREFIX",
    "DEFAULT_FAULT_KINDS",
    "MAX_UPLOAD_BYTES",
    "Contract",
    "Fault",
    "RecordedRequest",
    "StandIn",
    "UploadedFile",
    "decode_audio",
    "load_contract",
    "shared_dir",
    "sniff_container",
    "speech_seconds",
    "synthesize",
    "tone_frequency",
]
