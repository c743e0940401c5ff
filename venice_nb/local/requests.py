"""The request bodies the offline server accepts, as pydantic models, and the one place where a
pydantic ``ValidationError`` becomes the service's 400 (``error``, ``code``, ``details``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from . import audio
from .catalog import DEFAULT_ASR_MODEL, DEFAULT_CLONE_MODEL, DEFAULT_TTS_MODEL
from .errors import ApiError, ValidationErrors, bad_request

__all__ = [
    "JSON_BODY_LIMIT",
    "SPEECH_FORMATS",
    "CreateVoiceForm",
    "SpeechBody",
    "TranscriptionForm",
    "invalid_request",
    "json_type",
    "parse",
    "read_json",
    "unknown_keys",
]

M = TypeVar("M", bound=BaseModel)

JSON_BODY_LIMIT = 1024 * 1024
SPEECH_FORMATS = tuple(audio.CONTENT_TYPES)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, as the messages say it (``number``, ``array`` ...)."""
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


def unknown_keys(names: list[str]) -> str:
    """The message refusing fields the endpoint does not know."""
    return "Unrecognized key(s) in object: " + ", ".join(repr(k) for k in names)


# --- field types -------------------------------------------------------------------------------
# Each validator raises PydanticCustomError with the exact sentence the client reads, so the
# converter below only places messages in the tree and never rewords them.


def _problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_field", message)


def Text(*, min_len: int | None = None, max_len: int | None = None) -> PlainValidator:
    """A JSON string within ``min_len``..``max_len`` characters, with no NUL or lone surrogate."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise _problem(f"Expected string, received {json_type(value)}")
        problems = []
        if min_len is not None and len(value) < min_len:
            problems.append(f"String must contain at least {min_len} character(s)")
        if max_len is not None and len(value) > max_len:
            problems.append(f"String must contain at most {max_len} character(s)")
        bad = next((c for c in value if c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF), None)
        if bad is not None:
            problems.append(
                f"String contains U+{ord(bad):04X}, which cannot be spoken; remove NUL characters "
                "and unpaired surrogates"
            )
        if len(problems) > 1:  # several problems with one field: one line error each
            raise ValidationError.from_exception_data(
                "Text",
                [InitErrorDetails(type=_problem(p), loc=(), input=value) for p in problems],
            )
        if problems:
            raise _problem(problems[0])
        return value

    return PlainValidator(check)


def Number(low: float, high: float) -> PlainValidator:
    """A finite JSON number (not a boolean) from ``low`` to ``high``."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _problem(f"Expected number, received {json_type(value)}")
        try:
            float(value)
        except OverflowError:  # a JSON integer of hundreds of digits
            raise _problem(
                f"Expected a finite number from {low:g} to {high:g}, received an integer of "
                f"{len(str(abs(value)))} digits"
            ) from None
        if not math.isfinite(value):
            raise _problem(f"Expected a finite number from {low:g} to {high:g}, received {value}")
        if value < low:
            raise _problem(f"Number must be greater than or equal to {low:g}")
        if value > high:
            raise _problem(f"Number must be less than or equal to {high:g}")
        return float(value)

    return PlainValidator(check)


def Choice(*options: str) -> PlainValidator:
    """One of ``options`` exactly."""

    def check(value: Any) -> str:
        if value not in options:
            raise _problem(
                f"Invalid enum value. Expected {' | '.join(repr(o) for o in options)}, received {value!r}"
            )
        return str(value)

    return PlainValidator(check)


def _json_flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _problem(f"Expected boolean, received {json_type(value)}")
    return value


def _form_flag(value: Any) -> bool:
    raw = str(value)
    if raw == "":
        return False
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _problem(f"Expected boolean, received {raw!r}")


JsonFlag = PlainValidator(_json_flag)
"""A JSON boolean (``null`` included among the refused)."""
FormFlag = PlainValidator(_form_flag)
"""A form field read as a boolean: ``true``/``1``, ``false``/``0`` (any case), empty is false."""


# --- the bodies --------------------------------------------------------------------------------


class SpeechBody(BaseModel):
    """The JSON body of ``POST /audio/speech`` (CreateSpeechRequestSchema).

    ``null`` counts as absent for every optional field but ``streaming``. The model's voices and
    formats are checked against the catalog afterwards (404 for an unknown model).
    """

    model_config = ConfigDict(extra="forbid")

    input: Annotated[str, Text(min_len=1, max_len=4096)]
    model: Annotated[str, Text()] = DEFAULT_TTS_MODEL
    voice: Annotated[str | None, Text(max_len=512)] = None
    response_format: Annotated[str | None, Choice(*SPEECH_FORMATS)] = None
    speed: Annotated[float, Number(0.25, 4.0)] = 1.0
    temperature: Annotated[float | None, Number(0.0, 2.0)] = None
    top_p: Annotated[float | None, Number(0.0, 1.0)] = None
    prompt: Annotated[str | None, Text(max_len=500)] = None
    language: Annotated[str | None, Text(min_len=2, max_len=32)] = None
    streaming: Annotated[bool, JsonFlag] = False

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            keep = ("input", "streaming")
            return {
                k: v
                for k, v in data.items()
                if v is not None or k in keep or k not in cls.model_fields
            }
        return data


class TranscriptionForm(BaseModel):
    """The multipart fields of ``POST /audio/transcriptions`` (``file`` is the spooled upload)."""

    model_config = ConfigDict(extra="forbid")

    file: Path
    model: str = DEFAULT_ASR_MODEL
    response_format: Annotated[str, Choice("json", "text")] = "json"
    timestamps: Annotated[bool, FormFlag] = False
    language: str | None = None

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        """Empty means absent; ``en-US`` means ``en``; Whisper must know the language."""
        if not value:
            return None
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        code = value.strip().lower().replace("_", "-").split("-")[0]
        if code not in _LANGUAGE_CODES:
            raise PydanticCustomError(
                "language",
                "Unknown language {value!r}: send an ISO 639-1 code such as en, es, fr or de.",
                {"value": value},
            )
        return code


class CreateVoiceForm(BaseModel):
    """The multipart fields of ``POST /audio/voices`` (``file`` is the spooled voice sample)."""

    model_config = ConfigDict(extra="forbid")

    file: Path
    model: str = DEFAULT_CLONE_MODEL


# --- validation --------------------------------------------------------------------------------


def invalid_request(exc: ValidationError) -> ApiError:
    """The service's 400 for a pydantic ``ValidationError``: the message names the first
    problem, ``details`` holds them all as ``{field: {"_errors": [...]}}``."""
    problems = exc.errors(include_url=False, include_context=False)
    for problem in problems:
        if problem["type"] == "model_type":  # the body is not an object at all
            return bad_request(None, f"Expected object, received {json_type(problem['input'])}")
    errors = ValidationErrors()
    unknown = sorted(str(p["loc"][0]) for p in problems if p["type"] == "extra_forbidden")
    if unknown:
        errors.add(None, unknown_keys(unknown))
    for problem in problems:
        if problem["type"] == "extra_forbidden":
            continue
        loc = problem["loc"]
        message = "Required" if problem["type"] == "missing" else problem["msg"]
        errors.add(str(loc[0]) if loc else None, message)
    return errors.error()


def parse(model: type[M], data: Any) -> M:
    """Validate ``data`` as ``model``; a 400 in the service's error shape when it does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_request(exc) from None


@contextlib.asynccontextmanager
async def body_deadline(seconds: float) -> AsyncIterator[None]:
    """408 when the body inside takes longer than ``seconds`` to arrive (a stalled or trickling
    client must not hold the connection for ever)."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise ApiError(
            408,
            f"The request body did not arrive within {seconds:g} s; send the whole body at once.",
            "REQUEST_TIMEOUT",
        ) from None


async def read_json(request: web.Request, timeout: float) -> Any:
    """The request body decoded as JSON: 413 past 1 MB, 400 when it is not JSON (or nests too
    deep), 408 when it has not all arrived within ``timeout`` seconds."""
    if request.content_length is not None and request.content_length > JSON_BODY_LIMIT:
        raise ApiError(
            413,
            "The request body is too large; speech input is at most 4096 characters.",
            "PAYLOAD_TOO_LARGE",
        )
    # Read to the end: one read() returns only what has arrived (a body split across TCP
    # segments would be cut short).
    chunks: list[bytes] = []
    size = 0
    async with body_deadline(timeout):
        while chunk := await request.content.read(65536):
            size += len(chunk)
            if size > JSON_BODY_LIMIT:
                raise ApiError(
                    413,
                    "The request body is too large; speech input is at most 4096 characters.",
                    "PAYLOAD_TOO_LARGE",
                )
            chunks.append(chunk)
    raw = b"".join(chunks)
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
