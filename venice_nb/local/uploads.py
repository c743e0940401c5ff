"""Multipart uploads for the transcription and voice-cloning endpoints: streaming the body to a
temp file under the size cap, and decoding the audio (422 for empty, corrupt or silent audio)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from . import audio
from .errors import ApiError, ValidationErrors, bad_request
from .requests import body_deadline, unknown_keys

__all__ = ["FIELD_LIMIT", "Upload", "decode_upload", "read_multipart", "too_large"]

FIELD_LIMIT = 64 * 1024
_CHUNK = 256 * 1024


def too_large(cap: int) -> ApiError:
    """The 413 for an upload over ``cap`` bytes."""
    return ApiError(
        413,
        f"File exceeds the maximum allowed size of {cap // (1024 * 1024)} MB; send a shorter or more compressed recording.",
        "PAYLOAD_TOO_LARGE",
    )


@dataclass
class Upload:
    """A multipart request read to disk: the file (if any) and the text fields."""

    file: Path | None
    file_size: int
    fields: dict[str, str]

    def form(self) -> dict[str, Any]:
        """The fields and the file, as the endpoint's form model validates them."""
        if self.file is None:
            return dict(self.fields)
        return {**self.fields, "file": self.file}

    def cleanup(self) -> None:
        """Delete the spooled file."""
        if self.file is not None:
            self.file.unlink(missing_ok=True)


async def read_multipart(
    request: web.Request, allowed: set[str], cap: int, timeout: float
) -> Upload:
    """Stream a multipart body: the ``file`` part to a temp file (413 past the cap), fields to
    memory; 408 when it has not all arrived within ``timeout`` seconds."""
    if request.content_type != "multipart/form-data":
        raise ApiError(
            415,
            f"Invalid request content-type {request.content_type!r}: send multipart/form-data with a 'file' field.",
            "INVALID_CONTENT_TYPE",
        )
    if request.content_length is not None and request.content_length > cap + FIELD_LIMIT:
        raise too_large(cap)
    upload = Upload(file=None, file_size=0, fields={})
    try:
        async with body_deadline(timeout):
            await _read_parts(request, allowed, cap, upload)
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


async def _read_parts(request: web.Request, allowed: set[str], cap: int, upload: Upload) -> None:
    """Fill ``upload`` from the body's parts (known fields only, exactly one file)."""
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
            errors.add(None, unknown_keys([name]))
            await part.release()
            continue
        if name == "file":
            if upload.file is not None:
                raise bad_request("file", "Send exactly one file.")
            upload.file, upload.file_size = await _spool(part, cap)
        else:
            raw = await _read_field(part, name)
            await part.release()
            upload.fields[name] = raw.decode("utf-8", errors="replace").strip()
    errors.raise_if_any()


async def _read_field(part: BodyPartReader, name: str) -> bytes:
    """A form field's whole value: one read_chunk() returns only what has arrived, so a field
    split across TCP segments ("te" of "text") would be cut short."""
    raw = b""
    while not part.at_eof():
        raw += await part.read_chunk(FIELD_LIMIT + 1 - len(raw))
        if len(raw) > FIELD_LIMIT:
            raise bad_request(name, f"Field {name!r} is too long.")
    return raw


async def _spool(part: BodyPartReader, cap: int) -> tuple[Path, int]:
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
                    raise too_large(cap)
                fh.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return path, size


def decode_upload(
    path: Path,
    size: int,
    accepted: tuple[str, ...],
    code_422: str,
    *,
    max_seconds: float | None = None,
    truncate: bool = False,
) -> audio.FloatArray:
    """Sniff, decode to 16 kHz mono, refuse empty/corrupt/silent audio (422) and foreign containers (400).

    Decoding stops at ``max_seconds`` (413 past it, or the first ``max_seconds`` kept when
    ``truncate``), so a small file that decodes to hours cannot exhaust memory."""
    if size == 0:
        raise ApiError(422, "The audio file is empty (zero length); send a recording.", code_422)
    container = audio.sniff_file(path)
    if container is not None and container not in accepted:
        raise bad_request(
            "file",
            f"Unsupported audio container {container}; send one of: {', '.join(accepted)}.",
            "INVALID_AUDIO_FORMAT",
        )
    try:
        samples = audio.decode_mono(path, max_seconds=max_seconds, truncate=truncate)
    except audio.AudioTooLongError as exc:
        raise ApiError(
            413,
            f"The audio lasts more than {exc.max_seconds / 60:g} minutes once decoded; split it "
            "into shorter files.",
            "PAYLOAD_TOO_LARGE",
        ) from exc
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
        raise ApiError(422, "The audio is silent; send a recording with speech in it.", code_422)
    return samples
