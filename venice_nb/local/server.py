"""The offline Venice-compatible HTTP server: ``/api/v1/models``, ``/audio/speech``,
``/audio/transcriptions``, ``/audio/voices``, answering as the cloud contract says.

``create_app`` builds the aiohttp application; ``LocalServer`` runs it on a background thread
with its own event loop (the embedded default of ``venice_nb.session`` and the tests use it).
Engines run on a thread pool sized to the cores, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import ipaddress
import json
import logging
import math
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from . import audio
from .asr import WhisperEngine
from .catalog import (
    DEFAULT_ASR_MODEL,
    DEFAULT_CLONE_MODEL,
    DEFAULT_TTS_MODEL,
    STREAMING_MODELS,
    Catalog,
    load_catalog,
    output_rate,
)
from .clones import CloneStore
from .config import LocalConfig
from .errors import ApiError, ValidationErrors, bad_request
from .tts import EspeakEngine, PiperEngine, SpeechEngine, split_sentences
from .voices import (
    CLONE_PREFIX,
    VoicePlan,
    is_custom_voice_id,
    plan_for_custom_id,
    plan_for_info,
    plan_for_pitch,
)

__all__ = ["LocalConfig", "LocalServer", "create_app", "is_loopback_host"]

_LOG = logging.getLogger(__name__)
T = TypeVar("T")

API_PREFIX = "/api/v1"
ENGINE_HEADER = "x-venice-nb-engine"
LOCAL_VOICE_HEADER = "x-venice-nb-local-voice"
_JSON_BODY_LIMIT = 1024 * 1024
_FIELD_LIMIT = 64 * 1024
_CHUNK = 256 * 1024
_MIN_CLONE_SECONDS = 1.0
_MODEL_TYPES = ("asr", "embedding", "image", "music", "text", "tts", "upscale", "inpaint", "video")
_SPEECH_FORMATS = tuple(audio.CONTENT_TYPES)
_TRANSCRIBE_CONTAINERS = ("wav", "flac", "m4a", "aac", "mp3", "ogg", "webm")
_SERVICE_KEY: web.AppKey[LocalService] = web.AppKey("venice_nb_service")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _RateWindow:
    """Counts requests per minute for the ``x-ratelimit-*`` headers (nothing is refused)."""

    LIMIT_REQUESTS = 10_000
    LIMIT_TOKENS = 10_000_000

    def __init__(self) -> None:
        self._start = time.time()
        self._count = 0
        self._lock = threading.Lock()

    def headers(self) -> dict[str, str]:
        now = time.time()
        with self._lock:
            if now - self._start >= 60:
                self._start = now
                self._count = 0
            self._count += 1
            count = self._count
            reset = self._start + 60
        return {
            "x-ratelimit-limit-requests": str(self.LIMIT_REQUESTS),
            "x-ratelimit-remaining-requests": str(max(0, self.LIMIT_REQUESTS - count)),
            "x-ratelimit-reset-requests": str(math.ceil(reset)),
            "x-ratelimit-limit-tokens": str(self.LIMIT_TOKENS),
            "x-ratelimit-remaining-tokens": str(self.LIMIT_TOKENS),
            "x-ratelimit-reset-tokens": str(max(1, math.ceil(reset - now))),
        }


@dataclass
class _Upload:
    """A multipart request read to disk: the file (if any) and the text fields."""

    file: Path | None
    file_size: int
    fields: dict[str, str]

    def cleanup(self) -> None:
        if self.file is not None:
            self.file.unlink(missing_ok=True)


class LocalService:
    """State behind the routes: catalog, engines, thread pool, cloned voices, rate counter."""

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.catalog: Catalog = load_catalog()
        workers = config.workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="venice-nb-engine")
        cores = config.threads or os.cpu_count() or 1
        self.piper = PiperEngine(config.piper_model, config.data_dir, threads=cores)
        self.espeak = EspeakEngine()
        self.speech = SpeechEngine(self.piper, self.espeak)
        self.whisper = WhisperEngine(
            config.whisper_model,
            threads=max(1, cores // workers),
            workers=workers,
            compute_type=config.whisper_compute_type,
        )
        self._clones: CloneStore | None = None
        self._clones_lock = threading.Lock()
        self.rate = _RateWindow()

    @property
    def clones(self) -> CloneStore:
        """The cloned-voice store, opened on first use (the data dir is created only then)."""
        with self._clones_lock:
            if self._clones is None:
                self._clones = CloneStore(self.config.data_dir)
            return self._clones

    def labels(self) -> dict[str, str]:
        """How the catalog names the local engines."""
        return {
            "tts": f"piper {self.piper.voice_name} + espeak-ng",
            "asr": f"faster-whisper {self.whisper.model_name} int8 CPU",
        }

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking engine work on the pool, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, fn, *args)

    def warm_up(self) -> None:
        """Load both models now (``venice-nb serve`` does this in the background at start)."""
        self.piper.load()
        self.whisper.load()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- auth -------------------------------------------------------------------------------

    def check_auth(self, request: web.Request) -> None:
        """401 unless the request carries ``Authorization: Bearer <token>`` (when a token is set)."""
        token = self.config.token
        if not token:
            return
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(
                401,
                "Authentication failed: send 'Authorization: Bearer <token>' with this server's token.",
                "AUTHENTICATION_FAILED",
            )
        if not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise ApiError(
                401,
                "Authentication failed: the bearer token is wrong; use the token this server was started with.",
                "AUTHENTICATION_FAILED",
            )

    # --- models -----------------------------------------------------------------------------

    async def list_models(self, request: web.Request) -> web.Response:
        # Public like the cloud's: no token needed, but a wrong one is still refused.
        if "Authorization" in request.headers:
            self.check_auth(request)
        kind = request.query.get("type", "text")
        if kind not in (*_MODEL_TYPES, "all", "code"):
            raise bad_request(
                "type",
                f"Invalid enum value. Expected {' | '.join(repr(t) for t in (*_MODEL_TYPES, 'all', 'code'))}, received {kind!r}",
            )
        return web.json_response(self.catalog.listing(kind, self.labels()))

    # --- speech -----------------------------------------------------------------------------

    async def create_speech(self, request: web.Request) -> web.StreamResponse:
        self.check_auth(request)
        if request.content_type != "application/json":
            raise ApiError(
                415,
                f"Invalid request content-type {request.content_type!r}: send the speech request as application/json.",
                "INVALID_CONTENT_TYPE",
            )
        body = await _read_json(request)
        req = self._validate_speech(body)
        model_id: str = req["model"]
        plan, clone_id = self._plan_voice(model_id, req["voice"])
        fmt: str = req["response_format"]
        rate = output_rate(model_id)
        headers = {LOCAL_VOICE_HEADER: plan.label()}
        content_type = audio.CONTENT_TYPES[fmt]
        text: str = req["input"]
        speed: float = req["speed"]

        if req["streaming"] and model_id in STREAMING_MODELS:
            response = web.StreamResponse(headers=headers)
            response.content_type = content_type
            response.enable_chunked_encoding()
            encoder = audio.StreamEncoder(fmt, rate, streaming=True)
            try:
                await response.prepare(request)
                for sentence in split_sentences(text) or [text]:
                    if request.transport is None or request.transport.is_closing():
                        return response  # the client left: stop synthesising
                    chunk = await self.run(self._render_chunk, encoder, plan, sentence, speed, rate)
                    if chunk:
                        await response.write(chunk)
                tail = await self.run(encoder.finish)
                if tail:
                    await response.write(tail)
                await response.write_eof()
            except ConnectionResetError:
                return response  # the client hung up mid-stream; nothing to answer
            finally:
                encoder.close()
            self._touch_clone(clone_id)
            return response

        data = await self.run(self._render_whole, plan, text, speed, rate, fmt)
        self._touch_clone(clone_id)
        return web.Response(body=data, headers=headers, content_type=content_type)

    def _render_chunk(
        self, encoder: audio.StreamEncoder, plan: VoicePlan, text: str, speed: float, rate: int
    ) -> bytes:
        return encoder.feed(self.speech.render(plan, text, speed, rate))

    def _render_whole(self, plan: VoicePlan, text: str, speed: float, rate: int, fmt: str) -> bytes:
        samples = self.speech.render(plan, text, speed, rate)
        if samples.size == 0:  # nothing speakable (punctuation only): a short silence
            samples = np.zeros(rate // 10, np.float32)
        return audio.encode(samples, rate, fmt)

    def _touch_clone(self, clone_id: str | None) -> None:
        if clone_id:
            self.clones.touch(clone_id)

    def _validate_speech(self, body: Any) -> dict[str, Any]:
        """Check the JSON body against CreateSpeechRequestSchema; 400 with details, 404 model."""
        if not isinstance(body, dict):
            raise bad_request(None, f"Expected object, received {_json_type(body)}")
        errors = ValidationErrors()
        allowed = {
            "input",
            "model",
            "voice",
            "response_format",
            "speed",
            "streaming",
            "temperature",
            "top_p",
            "prompt",
            "language",
        }
        unknown = sorted(set(body) - allowed)
        if unknown:
            errors.add(
                None, "Unrecognized key(s) in object: " + ", ".join(repr(k) for k in unknown)
            )
        text = _string(errors, body, "input", required=True, min_len=1, max_len=4096)
        model = _string(errors, body, "model", default=DEFAULT_TTS_MODEL)
        voice = _string(errors, body, "voice", max_len=512)
        fmt = body.get("response_format")
        if fmt is not None and fmt not in _SPEECH_FORMATS:
            errors.add(
                "response_format",
                f"Invalid enum value. Expected {' | '.join(repr(f) for f in _SPEECH_FORMATS)}, received {fmt!r}",
            )
        speed = _number(errors, body, "speed", 0.25, 4.0, default=1.0)
        _number(errors, body, "temperature", 0.0, 2.0)
        _number(errors, body, "top_p", 0.0, 1.0)
        _string(errors, body, "prompt", max_len=500)
        _string(errors, body, "language", min_len=2, max_len=32)
        streaming = body.get("streaming", False)
        if not isinstance(streaming, bool):
            errors.add("streaming", f"Expected boolean, received {_json_type(streaming)}")
        errors.raise_if_any()

        assert isinstance(model, str)
        entry = self._model_of_kind(model, "tts")
        spec = entry["model_spec"]
        if fmt is None:
            fmt = spec["default_format"]
        elif fmt not in spec["supported_formats"]:
            raise bad_request(
                "response_format",
                f"Model {model} does not support response_format {fmt!r}; supported formats: {', '.join(spec['supported_formats'])}.",
            )
        return {
            "input": text,
            "model": model,
            "voice": voice if voice is not None else self.catalog.default_voice(model),
            "response_format": fmt,
            "speed": float(speed if speed is not None else 1.0),
            "streaming": bool(streaming),
        }

    def _plan_voice(self, model_id: str, voice: str) -> tuple[VoicePlan, str | None]:
        """The rendering plan of ``voice`` with ``model_id`` (catalog voice, clone or custom id)."""
        piper_name = self.piper.voice_name
        if voice.startswith(CLONE_PREFIX):
            clone = self.clones.get(voice)
            if clone is None:
                raise bad_request(
                    "voice",
                    f"Unknown cloned voice {voice!r}; create a handle with POST /audio/voices first.",
                )
            if clone.model != model_id:
                raise bad_request(
                    "voice",
                    f"The cloned voice {voice!r} was made for model {clone.model}; use it with that model.",
                )
            if clone.expires < time.time():
                when = dt.datetime.fromtimestamp(clone.expires, dt.UTC).strftime(
                    "%Y-%m-%d %H:%M UTC"
                )
                raise bad_request(
                    "voice",
                    f"The cloned voice {voice!r} expired on {when}; upload the sample again to POST /audio/voices.",
                )
            return plan_for_pitch(clone.f0_hz, piper_name), clone.id
        if voice in self.catalog.voices(model_id):
            return plan_for_info(self.catalog.voice_info(model_id, voice), piper_name), None
        spec = self.catalog.spec(model_id)
        if spec.get("supports_custom_voice_id") and is_custom_voice_id(voice):
            return plan_for_custom_id(model_id, voice, piper_name), None
        examples = ", ".join(self.catalog.voices(model_id)[:4])
        raise bad_request(
            "voice",
            f"Voice {voice!r} is not available for model {model_id} (voices are case-sensitive); "
            f"GET /models?type=tts lists its voices, e.g. {examples}.",
        )

    # --- transcription ----------------------------------------------------------------------

    async def transcribe(self, request: web.Request) -> web.StreamResponse:
        self.check_auth(request)
        upload = await self._read_multipart(
            request, {"file", "model", "response_format", "timestamps", "language"}
        )
        try:
            fields = upload.fields
            errors = ValidationErrors()
            if upload.file is None:
                errors.add("file", "Required")
            model = fields.get("model", DEFAULT_ASR_MODEL)
            fmt = fields.get("response_format", "json")
            if fmt not in ("json", "text"):
                errors.add(
                    "response_format",
                    f"Invalid enum value. Expected 'json' | 'text', received {fmt!r}",
                )
            timestamps = _form_bool(errors, fields, "timestamps")
            language = fields.get("language") or None
            errors.raise_if_any()
            self._model_of_kind(model, "asr")
            assert upload.file is not None
            result = await self.run(
                self._transcribe_file, upload.file, upload.file_size, timestamps, language
            )
        finally:
            upload.cleanup()
        if fmt == "text":
            return web.Response(text=result["text"], content_type="text/plain")
        return web.json_response(result)

    def _transcribe_file(
        self, path: Path, size: int, timestamps: bool, language: str | None
    ) -> dict[str, Any]:
        samples = self._decode_upload(
            path, size, _TRANSCRIBE_CONTAINERS, "ASR_UPSTREAM_VALIDATION_FAILED"
        )
        return self.whisper.transcribe(samples, timestamps, language)

    def _decode_upload(
        self, path: Path, size: int, accepted: tuple[str, ...], code_422: str
    ) -> audio.FloatArray:
        """Sniff, decode to 16 kHz mono, refuse empty/corrupt/silent audio (422) and foreign containers (400)."""
        if size == 0:
            raise ApiError(
                422, "The audio file is empty (zero length); send a recording.", code_422
            )
        container = audio.sniff_file(path)
        if container is not None and container not in accepted:
            raise bad_request(
                "file",
                f"Unsupported audio container {container}; send one of: {', '.join(accepted)}.",
                "INVALID_AUDIO_FORMAT",
            )
        try:
            samples = audio.decode_mono(path)
        except audio.AudioDecodeError as exc:
            reason = str(exc).replace(str(path), "the upload").replace(path.name, "the upload")
            raise ApiError(
                422,
                f"The audio file could not be decoded ({reason}); send a valid recording.",
                code_422,
            ) from exc
        if samples.size == 0:
            raise ApiError(
                422, "The audio file holds no samples; send a recording with sound in it.", code_422
            )
        if audio.is_silent(samples):
            raise ApiError(
                422, "The audio is silent; send a recording with speech in it.", code_422
            )
        return samples

    def _model_of_kind(self, model: str, kind: str) -> dict[str, Any]:
        """The catalog entry of ``model``: 404 when unknown, 400 when it is not a ``kind`` model."""
        what = {"tts": ("speech", "text-to-speech"), "asr": ("transcription", "transcription")}
        plural, single = what[kind]
        entry = self.catalog.model(model)
        if entry is None:
            raise ApiError(
                404,
                f"The model {model!r} does not exist; GET /models?type={kind} lists the {plural} models.",
                "MODEL_NOT_FOUND",
            )
        if entry["type"] != kind:
            raise bad_request(
                "model",
                f"{model!r} is not a {single} model; pick one from GET /models?type={kind}.",
                "INVALID_MODEL",
            )
        return entry

    # --- cloning ----------------------------------------------------------------------------

    async def create_voice(self, request: web.Request) -> web.Response:
        self.check_auth(request)
        upload = await self._read_multipart(request, {"file", "model"})
        try:
            errors = ValidationErrors()
            if upload.file is None:
                errors.add("file", "Required")
            model = upload.fields.get("model", DEFAULT_CLONE_MODEL)
            errors.raise_if_any()
            entry = self.catalog.model(model)
            if entry is None:
                raise ApiError(
                    404,
                    f"The model {model!r} does not exist; voice cloning works with tts-chatterbox-hd or tts-minimax-speech-02-hd.",
                    "MODEL_NOT_FOUND",
                )
            cloning = entry["model_spec"].get("voice_cloning")
            if not cloning:
                raise bad_request(
                    "model",
                    f"Model {model} cannot clone voices; use tts-chatterbox-hd or tts-minimax-speech-02-hd.",
                    "INVALID_MODEL",
                )
            accepted = tuple(cloning["accepted_formats"])
            assert upload.file is not None
            container = await self.run(audio.sniff_file, upload.file)
            if upload.file_size and container not in accepted:
                found = container or "an unrecognised format"
                raise bad_request(
                    "file",
                    f"Model {model} accepts voice samples as {', '.join(accepted)}; the upload is {found}.",
                    "INVALID_AUDIO_FORMAT",
                )
            samples = await self.run(
                self._decode_upload, upload.file, upload.file_size, accepted, "INVALID_AUDIO"
            )
        finally:
            upload.cleanup()
        seconds = samples.size / audio.ASR_RATE
        if seconds < _MIN_CLONE_SECONDS:
            raise bad_request(
                "file",
                f"The voice sample lasts {seconds:.2f} s; send at least {_MIN_CLONE_SECONDS:.0f} s of speech (5-10 s recommended).",
            )
        f0 = await self.run(audio.estimate_f0, samples, audio.ASR_RATE)
        voice = await self.run(self.clones.create, model, f0, seconds)
        return web.json_response({"id": voice.id, "model": voice.model})

    # --- multipart --------------------------------------------------------------------------

    async def _read_multipart(self, request: web.Request, allowed: set[str]) -> _Upload:
        """Stream a multipart body: the ``file`` part to a temp file (413 past the cap), fields to memory."""
        if request.content_type != "multipart/form-data":
            raise ApiError(
                415,
                f"Invalid request content-type {request.content_type!r}: send multipart/form-data with a 'file' field.",
                "INVALID_CONTENT_TYPE",
            )
        cap = self.config.max_upload_bytes
        if request.content_length is not None and request.content_length > cap + _FIELD_LIMIT:
            raise _too_large(cap)
        upload = _Upload(file=None, file_size=0, fields={})
        try:
            reader = await request.multipart()
            errors = ValidationErrors()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    raise bad_request(
                        None, "Nested multipart bodies are not supported; send flat form fields."
                    )
                name = part.name or ""
                if name not in allowed:
                    errors.add(None, f"Unrecognized key(s) in object: {name!r}")
                    await part.release()
                    continue
                if name == "file":
                    if upload.file is not None:
                        raise bad_request("file", "Send exactly one file.")
                    upload.file, upload.file_size = await self._spool(part, cap)
                else:
                    raw = await part.read_chunk(_FIELD_LIMIT + 1)
                    if len(raw) > _FIELD_LIMIT:
                        raise bad_request(name, f"Field {name!r} is too long.")
                    await part.release()
                    upload.fields[name] = raw.decode("utf-8", errors="replace").strip()
            errors.raise_if_any()
        except ApiError:
            upload.cleanup()
            raise
        except (
            ValueError,
            AssertionError,
            UnicodeDecodeError,
            asyncio.IncompleteReadError,
            HttpProcessingError,
        ) as exc:
            upload.cleanup()
            raise bad_request(None, f"Malformed multipart/form-data body: {exc}") from exc
        except BaseException:
            upload.cleanup()
            raise
        return upload

    async def _spool(self, part: BodyPartReader, cap: int) -> tuple[Path, int]:
        """Copy a file part to a temp file, refusing (413) once it exceeds ``cap`` bytes."""
        fd, name = tempfile.mkstemp(prefix="venice-nb-upload-")
        path = Path(name)
        size = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                while True:
                    chunk = await part.read_chunk(_CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > cap:
                        raise _too_large(cap)
                    fh.write(chunk)
        except BaseException:
            os.unlink(name)
            raise
        return path, size


def _too_large(cap: int) -> ApiError:
    return ApiError(
        413,
        f"File exceeds the maximum allowed size of {cap // (1024 * 1024)} MB; send a shorter or more compressed recording.",
        "PAYLOAD_TOO_LARGE",
    )


async def _read_json(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > _JSON_BODY_LIMIT:
        raise ApiError(
            413,
            "The request body is too large; speech input is at most 4096 characters.",
            "PAYLOAD_TOO_LARGE",
        )
    raw = await request.content.read(_JSON_BODY_LIMIT + 1)
    if len(raw) > _JSON_BODY_LIMIT:
        raise ApiError(
            413,
            "The request body is too large; speech input is at most 4096 characters.",
            "PAYLOAD_TOO_LARGE",
        )
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError as exc:
        raise bad_request(
            None, "The request body nests JSON too deeply; send a flat JSON object."
        ) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(
            None, f"The request body is not valid JSON ({exc}); send a JSON object."
        ) from exc


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _string(
    errors: ValidationErrors,
    body: dict[str, Any],
    key: str,
    *,
    required: bool = False,
    default: str | None = None,
    min_len: int | None = None,
    max_len: int | None = None,
) -> str | None:
    if key not in body or (body[key] is None and not required):
        if required:
            errors.add(key, "Required")
        return default
    value = body[key]
    if not isinstance(value, str):
        errors.add(key, f"Expected string, received {_json_type(value)}")
        return default
    if min_len is not None and len(value) < min_len:
        errors.add(key, f"String must contain at least {min_len} character(s)")
    if max_len is not None and len(value) > max_len:
        errors.add(key, f"String must contain at most {max_len} character(s)")
    bad = next((c for c in value if c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF), None)
    if bad is not None:
        errors.add(
            key,
            f"String contains U+{ord(bad):04X}, which cannot be spoken; remove NUL characters "
            "and unpaired surrogates",
        )
    return value


def _number(
    errors: ValidationErrors,
    body: dict[str, Any],
    key: str,
    low: float,
    high: float,
    default: float | None = None,
) -> float | None:
    if key not in body or body[key] is None:
        return default
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.add(key, f"Expected number, received {_json_type(value)}")
        return default
    if not math.isfinite(value):
        errors.add(key, f"Expected a finite number from {low:g} to {high:g}, received {value}")
        return default
    if value < low:
        errors.add(key, f"Number must be greater than or equal to {low:g}")
    if value > high:
        errors.add(key, f"Number must be less than or equal to {high:g}")
    return float(value)


def _form_bool(errors: ValidationErrors, fields: dict[str, str], key: str) -> bool:
    raw = fields.get(key)
    if raw is None or raw == "":
        return False
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    errors.add(key, f"Expected boolean, received {raw!r}")
    return False


# --- application -----------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answers JSON like the cloud's; bad input never becomes a 5xx."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        return _error_response(_too_large(request.app[_SERVICE_KEY].config.max_upload_bytes))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status)
        message = {
            404: f"Not found: {request.method} {request.path}; the local server offers {API_PREFIX}/models and {API_PREFIX}/audio/*.",
            405: f"Method {request.method} is not allowed on {request.path}.",
        }.get(exc.status, exc.reason)
        return _error_response(ApiError(exc.status, message, code))
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:
        _LOG.exception("local engine failed on %s %s", request.method, request.path)
        return _error_response(
            ApiError(
                500,
                "The offline engine failed on this request; see the server log.",
                "INFERENCE_FAILED",
            )
        )


def _error_response(exc: ApiError) -> web.Response:
    response = web.json_response(exc.body(), status=exc.status)
    if exc.status == 413:
        response.force_close()
    return response


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    service = request.app.get(_SERVICE_KEY)
    if service is not None:
        response.headers.update(service.rate.headers())
    response.headers["x-request-id"] = uuid.uuid4().hex
    response.headers[ENGINE_HEADER] = "offline"


def create_app(config: LocalConfig | None = None) -> web.Application:
    """Build the aiohttp application serving the Venice audio API under ``/api/v1``."""
    service = LocalService(config or LocalConfig())
    app = web.Application(middlewares=[_json_errors], client_max_size=_JSON_BODY_LIMIT)
    app[_SERVICE_KEY] = service
    app.router.add_get(f"{API_PREFIX}/models", service.list_models)
    app.router.add_post(f"{API_PREFIX}/audio/speech", service.create_speech)
    app.router.add_post(f"{API_PREFIX}/audio/transcriptions", service.transcribe)
    app.router.add_post(f"{API_PREFIX}/audio/voices", service.create_voice)
    app.on_response_prepare.append(_add_headers)

    async def _close(_app: web.Application) -> None:
        service.close()

    app.on_cleanup.append(_close)
    return app


def service_of(app: web.Application) -> LocalService:
    """The service object of an app made by ``create_app`` (for warm-up and tests)."""
    return app[_SERVICE_KEY]


class LocalServer:
    """Runs ``create_app`` on a background thread with its own event loop.

    ``start()`` blocks until the socket listens and returns the base URL
    (``http://127.0.0.1:PORT/api/v1``); ``stop()`` shuts it down. Binding a non-loopback host
    requires a token.
    """

    def __init__(
        self,
        config: LocalConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        config = config or LocalConfig()
        if token is not None:
            config = replace(config, token=token)
        if not is_loopback_host(host) and not config.token:
            raise ValueError(
                f"Refusing to serve on {host} without a token: pass --token (or token=...) or bind 127.0.0.1."
            )
        self.config = config
        self.host = host
        self.port = port
        self.app: web.Application | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/api/v1`` once started."""
        if self._base_url is None:
            raise RuntimeError("The local server is not running; call start() first.")
        return self._base_url

    @property
    def service(self) -> LocalService:
        """The running service (engines, catalog, clone store)."""
        if self.app is None:
            raise RuntimeError("The local server is not running; call start() first.")
        return service_of(self.app)

    def start(self) -> str:
        """Start serving on the background thread; returns the base URL once listening."""
        if self._thread is not None:
            return self.base_url
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._run, name="venice-nb-local-server", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self.base_url

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self.app = create_app(self.config)
            self._runner = web.AppRunner(
                self.app, handle_signals=False, access_log=None, shutdown_timeout=2.0
            )
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port)
            loop.run_until_complete(site.start())
            server = site._server
            assert server is not None
            sockets = getattr(server, "sockets", None) or []
            port = sockets[0].getsockname()[1] if sockets else self.port
            self.port = port
            host = self.host
            if host in ("0.0.0.0", "", "::"):
                host = "127.0.0.1"
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
            self._base_url = f"http://{host}:{port}{API_PREFIX}"
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            with contextlib.suppress(Exception):
                if self._runner is not None:
                    loop.run_until_complete(self._runner.cleanup())
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._runner.cleanup())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if loop.is_running() and self._runner is not None:
            # Close the listening socket and open connections on the server's own loop first.
            done = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            with contextlib.suppress(Exception):
                done.result(timeout=10)
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self._base_url = None

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
