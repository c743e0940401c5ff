"""``POST /audio/voices``: a voice sample turned into a ``vv_`` handle (pitch-matched cloning)."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from .. import audio
from ..audio import FloatArray
from ..errors import ApiError, bad_request
from ..requests import CreateVoiceForm, parse
from ..service import service_of
from ..uploads import decode_upload, read_multipart

__all__ = ["MIN_CLONE_SECONDS", "create_voice"]

_LOG = logging.getLogger(__name__)
MIN_CLONE_SECONDS = 1.0
MAX_CLONE_SAMPLE_SECONDS = 60.0
"""A clone needs seconds of speech: only the first minute of a sample is decoded."""


async def create_voice(request: web.Request) -> web.Response:
    """Store a cloned voice for a model that can clone; answers its ``id`` and ``model``."""
    service = service_of(request.app)
    service.admission.check()  # busy: refuse before the upload is read
    upload = await read_multipart(
        request,
        set(CreateVoiceForm.model_fields),
        service.config.max_upload_bytes,
        service.config.body_timeout,
    )
    try:
        form = parse(CreateVoiceForm, upload.form())
        model = form.model
        entry = service.catalog.model(model)
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
        async with service.admission.slot():
            samples = await service.run(_read_sample, form.file, upload.file_size, model, accepted)
            seconds = samples.size / audio.ASR_RATE
            if seconds < MIN_CLONE_SECONDS:
                raise bad_request(
                    "file",
                    f"The voice sample lasts {seconds:.2f} s; send at least {MIN_CLONE_SECONDS:.0f} s of speech (5-10 s recommended).",
                )
            f0 = await service.run(audio.estimate_f0, samples, audio.ASR_RATE)
            formants = await service.run(audio.estimate_formants, samples, audio.ASR_RATE)
    finally:
        upload.cleanup()
    try:
        voice = await service.run(service.clones.create, model, f0, seconds, formants)
    except OSError as exc:
        _LOG.error("cannot store a cloned voice in %s: %s", service.config.data_dir, exc)
        raise ApiError(
            507,
            "The offline engine could not store the cloned voice (its data directory is full "
            "or not writable); free space or point VENICE_NB_DATA_DIR elsewhere, then retry.",
            "STORAGE_FAILED",
        ) from None
    return web.json_response({"id": voice.id, "model": voice.model})


def _read_sample(path: Path, size: int, model: str, accepted: tuple[str, ...]) -> FloatArray:
    """The first minute of the sample as 16 kHz samples; 400 when its container is not accepted."""
    container = audio.sniff_file(path)
    if size and container not in accepted:
        found = container or "an unrecognised format"
        raise bad_request(
            "file",
            f"Model {model} accepts voice samples as {', '.join(accepted)}; the upload is {found}.",
            "INVALID_AUDIO_FORMAT",
        )
    return decode_upload(
        path, size, accepted, "INVALID_AUDIO", max_seconds=MAX_CLONE_SAMPLE_SECONDS, truncate=True
    )
