"""``POST /audio/transcriptions``: a multipart upload transcribed by faster-whisper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from ..asr_languages import model_languages
from ..requests import TranscriptionForm, parse
from ..service import LocalService, service_of
from ..uploads import decode_upload, read_multipart

__all__ = ["TRANSCRIBE_CONTAINERS", "transcribe"]

TRANSCRIBE_CONTAINERS = ("wav", "flac", "m4a", "aac", "mp3", "ogg", "webm")


async def transcribe(request: web.Request) -> web.StreamResponse:
    """The upload's text as JSON (with segments when ``timestamps``) or as plain text."""
    service = service_of(request.app)
    service.admission.check()  # busy: refuse before the upload is read
    upload = await read_multipart(
        request,
        set(TranscriptionForm.model_fields),
        service.config.max_upload_bytes,
        service.config.body_timeout,
    )
    try:
        form = parse(TranscriptionForm, upload.form())
        service.model_of_kind(form.model, "asr")

        def client_left() -> bool:  # read from the engine thread between Whisper's windows
            return request.transport is None or request.transport.is_closing()

        async with service.admission.slot():
            result = await service.run(
                _transcribe_file,
                service,
                form.file,
                upload.file_size,
                form.timestamps,
                form.language,
                client_left,
                model_languages(form.model),
            )
    finally:
        upload.cleanup()
    if form.response_format == "text":
        return web.Response(text=result["text"], content_type="text/plain")
    return web.json_response(result)


def _transcribe_file(
    service: LocalService,
    path: Path,
    size: int,
    timestamps: bool,
    language: str | None,
    client_left: Callable[[], bool],
    languages: frozenset[str] | None,
) -> dict[str, Any]:
    samples = decode_upload(
        path,
        size,
        TRANSCRIBE_CONTAINERS,
        "ASR_UPSTREAM_VALIDATION_FAILED",
        max_seconds=service.config.max_audio_seconds,
    )
    return service.whisper.transcribe(
        samples, timestamps, language, should_stop=client_left, languages=languages
    )
