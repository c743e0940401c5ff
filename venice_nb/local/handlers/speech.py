"""``POST /audio/speech``: text spoken by piper / espeak-ng in the requested voice and format,
whole or streamed sentence by sentence."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from aiohttp import web

from .. import audio
from ..audio import FloatArray
from ..catalog import STREAMING_MODELS, output_rate
from ..errors import Abandoned, ApiError, bad_request
from ..requests import SpeechBody, parse, read_json
from ..service import LocalService, service_of
from ..tts import split_sentences
from ..voices import CLONE_PREFIX, VoicePlan, is_custom_voice_id

__all__ = ["LOCAL_VOICE_HEADER", "create_speech"]

LOCAL_VOICE_HEADER = "x-venice-nb-local-voice"


@dataclass(frozen=True)
class _Speech:
    """A validated speech request, resolved against the catalog."""

    input: str
    model: str
    voice: str
    response_format: str
    speed: float
    streaming: bool


async def create_speech(request: web.Request) -> web.StreamResponse:
    """The audio of ``input``: one body, or chunked sentence by sentence for streaming models.

    Either way the text is rendered one sentence per engine job, inside one admission slot, and
    work stops at the next sentence once the client has gone.
    """
    service = service_of(request.app)
    if request.content_type != "application/json":
        raise ApiError(
            415,
            f"Invalid request content-type {request.content_type!r}: send the speech request as application/json.",
            "INVALID_CONTENT_TYPE",
        )
    req = _resolve(
        service, parse(SpeechBody, await read_json(request, service.config.body_timeout))
    )
    model_id = req.model
    plan, clone_id = _plan_voice(service, model_id, req.voice)
    service.rate.spend(len(req.input))
    fmt = req.response_format
    rate = output_rate(model_id)
    headers = {LOCAL_VOICE_HEADER: plan.label()}
    content_type = audio.CONTENT_TYPES[fmt]
    text = service.speech.prepare(plan, req.input)
    sentences = split_sentences(text) or [text]

    def render(index: int) -> FloatArray:
        return service.speech.render_sentence(
            plan, sentences[index], req.speed, rate, first=index == 0
        )

    async with service.admission.slot():
        if req.streaming and model_id in STREAMING_MODELS:
            response = web.StreamResponse(headers=headers)
            response.content_type = content_type
            response.enable_chunked_encoding()
            encoder = audio.StreamEncoder(fmt, rate, streaming=True)
            try:
                await response.prepare(request)
                for index in range(len(sentences)):
                    if _client_left(request):
                        raise ConnectionResetError("the client left mid-stream")
                    chunk = await service.run(_fed, encoder, render, index)
                    if chunk:
                        await response.write(chunk)
                tail = await service.run(encoder.finish)
                if tail:
                    await response.write(tail)
                await response.write_eof()
            except ConnectionResetError:
                service.abandoned += 1  # the client hung up mid-stream; nothing to answer
                return response
            finally:
                encoder.close()
            _touch_clone(service, clone_id)
            return response

        parts: list[FloatArray] = []
        for index in range(len(sentences)):
            if _client_left(request):
                raise Abandoned("the client left before the speech was ready")
            parts.append(await service.run(render, index))
        data = await service.run(_encode_whole, parts, rate, fmt)
    _touch_clone(service, clone_id)
    return web.Response(body=data, headers=headers, content_type=content_type)


def _fed(encoder: audio.StreamEncoder, render: Callable[[int], FloatArray], index: int) -> bytes:
    return encoder.feed(render(index))  # one engine job per sentence: render, then encode


def _client_left(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


def _encode_whole(parts: list[FloatArray], rate: int, fmt: str) -> bytes:
    samples = audio.concat(parts)
    if samples.size == 0:  # nothing speakable (punctuation only): a short silence
        samples = np.zeros(rate // 10, np.float32)
    return audio.encode(samples, rate, fmt)


def _resolve(service: LocalService, body: SpeechBody) -> _Speech:
    """The body checked against the catalog: 404 unknown model, 400 format the model lacks."""
    model = body.model
    entry = service.model_of_kind(model, "tts")
    spec = entry["model_spec"]
    fmt = body.response_format
    if fmt is None:
        fmt = spec["default_format"]
    elif fmt not in spec["supported_formats"]:
        raise bad_request(
            "response_format",
            f"Model {model} does not support response_format {fmt!r}; supported formats: {', '.join(spec['supported_formats'])}.",
        )
    return _Speech(
        input=body.input,
        model=model,
        voice=body.voice if body.voice is not None else service.catalog.default_voice(model),
        response_format=fmt,
        speed=body.speed,
        streaming=body.streaming,
    )


def _touch_clone(service: LocalService, clone_id: str | None) -> None:
    if clone_id:
        service.clones.touch(clone_id)


def _plan_voice(service: LocalService, model_id: str, voice: str) -> tuple[VoicePlan, str | None]:
    """The rendering plan of ``voice`` with ``model_id`` (catalog voice, clone or custom id)."""
    catalog = service.catalog
    if voice.startswith(CLONE_PREFIX):
        clone = service.clones.get(voice)
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
            when = dt.datetime.fromtimestamp(clone.expires, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise bad_request(
                "voice",
                f"The cloned voice {voice!r} expired on {when}; upload the sample again to POST /audio/voices.",
            )
        return service.voices.clone(clone.f0_hz, clone.formants_hz), clone.id
    if voice in catalog.voices(model_id):
        return service.voices.plan(catalog.voice_info(model_id, voice)), None
    spec = catalog.spec(model_id)
    if spec.get("supports_custom_voice_id") and is_custom_voice_id(voice):
        return service.voices.custom(model_id, voice), None
    examples = ", ".join(catalog.voices(model_id)[:4])
    raise bad_request(
        "voice",
        f"Voice {voice!r} is not available for model {model_id} (voices are case-sensitive); "
        f"GET /models?type=tts lists its voices, e.g. {examples}.",
    )
