"""``client.audio``, the audio resource: one method per endpoint, each checking its request.

Mirrors the URL space: ``create_speech`` is ``POST /audio/speech``, ``transcribe`` is
``POST /audio/transcriptions``, ``create_voice`` is ``POST /audio/voices``. Every argument is
checked against the contract and the live model catalog before a request is sent.

Speech, voices, transcription and cloning share one module because they are one resource: every
method builds its request from the same catalog lookups and argument checks (``_catalog_model``,
``_check_voice``, ``_text``); split per endpoint, those would be imported back by each piece.
What is not the resource lives beside it: long text spoken segment by segment and joined in
``segments.py`` (splitting in ``sentences.py``, joining in ``containers/``), how large an answer
can be in ``audioinfo.py``.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal

import aiohttp

from .audioinfo import PCM_DEFAULT_RATE, PCM_SAMPLE_RATES, pcm_rate
from .client import check_audio_answer
from .errors import APIError, APIResponseValidationError, InvalidRequestError
from .files import TRANSCRIBE_CONTAINERS, AudioInput, open_audio_input
from .segments import SegmentProgress, check_long_text_options, speak_segments
from .sentences import max_words_for_model
from .types import (
    AudioResponse,
    AudioTranscriptionResponse,
    ClonedVoice,
    ModelInfo,
    ResponseFormat,
    Voice,
    VoiceDetails,
    VoiceList,
)

if TYPE_CHECKING:
    import os

    from .client import RawResponse, StreamedResponse, Timeout, VeniceClient

__all__ = [
    "MAX_INPUT_CHARS",
    "PCM_DEFAULT_RATE",
    "PCM_SAMPLE_RATES",
    "REGION_LANGUAGE_MAPPING",
    "Audio",
    "SegmentProgress",
    "SpeechRequest",
    "SpeechStream",
    "TranscriptionRequest",
]

MAX_INPUT_CHARS = 4096


@dataclass(frozen=True)
class SpeechRequest:
    """A speech request checked as :meth:`Audio.create_speech` checks it, not sent: the JSON
    body it would send and the model's catalog entry (``None`` when the catalog is not known)."""

    body: dict[str, Any]
    model: ModelInfo | None

    def usd_cost(self) -> float | None:
        """What speaking ``body["input"]`` costs at the catalog price, when the catalog says."""
        if self.model is None:
            return None
        return self.model.usd_cost(characters=len(self.body["input"]))


@dataclass(frozen=True)
class TranscriptionRequest:
    """A transcription request checked as :meth:`Audio.transcribe` checks it, not sent: the
    upload, the form fields and the model's catalog entry (``None`` when not known)."""

    source: AudioInput
    fields: dict[str, str]
    model: ModelInfo | None

    def form(self) -> aiohttp.FormData:
        """A fresh multipart body (one per attempt: a path is streamed from disk each time)."""
        return _form_factory(self.source, self.fields)()

    def parse(self, raw: RawResponse) -> AudioTranscriptionResponse | str:
        """The answer as :meth:`Audio.transcribe` returns it; a web page instead of a transcript
        is an :class:`APIResponseValidationError`."""
        if raw.content_type in ("text/html", "application/xhtml+xml"):
            raise APIResponseValidationError(
                f"The server answered HTTP {raw.status} with a web page instead of a transcript "
                "(a captive portal, a proxy, or VENICE_BASE_URL pointing elsewhere?).",
                status=raw.status,
                request_id=raw.request_id,
            )
        if self.fields.get("response_format") == "text" or raw.content_type.startswith("text/"):
            return raw.body.decode("utf-8", "replace")
        return raw.parse(AudioTranscriptionResponse, "the transcription")


MAX_PROMPT_CHARS = 500
DEFAULT_TRANSCRIBE_MODEL = "nvidia/parakeet-tdt-0.6b-v3"
DEFAULT_CLONE_MODEL = "tts-chatterbox-hd"

REGION_LANGUAGE_MAPPING: dict[str, dict[str, str]] = {
    "a": {"language": "English", "accent": "American"},
    "b": {"language": "English", "accent": "British"},
    "c": {"language": "English", "accent": "Canadian"},
    "d": {"language": "German", "accent": "Standard"},
    "e": {"language": "Spanish", "accent": "European"},
    "f": {"language": "French", "accent": "Standard"},
    "g": {"language": "English", "accent": "General"},
    "h": {"language": "Hindi", "accent": "Standard"},
    "i": {"language": "Italian", "accent": "Standard"},
    "j": {"language": "Japanese", "accent": "Standard"},
    "k": {"language": "Korean", "accent": "Standard"},
    "p": {"language": "Portuguese", "accent": "Standard"},
    "r": {"language": "Russian", "accent": "Standard"},
    "s": {"language": "English", "accent": "Scottish"},
    "u": {"language": "English", "accent": "US"},
    "w": {"language": "English", "accent": "Welsh"},
    "x": {"language": "English", "accent": "Australian"},
    "y": {"language": "English", "accent": "Indian"},
    "z": {"language": "Chinese", "accent": "Mandarin"},
}
"""Single-letter region codes of Kokoro-style voice ids (``af_heart``: ``a``) to language and accent."""

_FORMATS = [f.value for f in ResponseFormat]


def _text(value: Any, name: str, *, max_chars: int | None = None, hint: str = "") -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"{name} must be a string, not {type(value).__name__}.", param=name
        )
    if not value.strip():
        raise InvalidRequestError(
            f"{name} is empty or only whitespace; give it some text to speak.", param=name
        )
    if max_chars is not None and len(value) > max_chars:
        raise InvalidRequestError(
            f"{name} is {len(value)} characters, over the {max_chars}-character limit{hint}.",
            param=name,
        )
    return value


def _number(value: Any, name: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(
            f"{name} must be a number from {low} to {high}, not {type(value).__name__}.", param=name
        )
    if not low <= value <= high or value != value:
        raise InvalidRequestError(f"{name} must be from {low} to {high}, got {value}.", param=name)
    return float(value)


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, ResponseFormat | Voice) else value


class SpeechStream:
    """Audio chunks of one streamed speech request, yielded as they arrive (``async for``)."""

    def __init__(self, response: StreamedResponse, *, model: str, voice: str) -> None:
        self._response = response
        self._iter = response.iter_chunks()
        self.model = model
        self.voice = voice

    @property
    def content_type(self) -> str:
        return self._response.content_type

    @property
    def format(self) -> str | None:
        from .types import FORMAT_BY_CONTENT_TYPE

        return FORMAT_BY_CONTENT_TYPE.get(self.content_type)

    @property
    def request_id(self) -> str | None:
        return self._response.request_id

    @property
    def headers(self) -> dict[str, str]:
        return self._response.headers

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iter

    async def __anext__(self) -> bytes:
        return await self._iter.__anext__()

    async def aclose(self) -> None:
        await self._iter.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> SpeechStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def read(self) -> AudioResponse:
        """Collect the whole stream into an :class:`AudioResponse` (grown in one buffer, not
        a list of chunks joined into a second copy)."""
        buf = bytearray()
        async for chunk in self:
            buf += chunk
        return AudioResponse(
            buf,
            content_type=self.content_type,
            model=self.model,
            voice=self.voice,
            request_id=self.request_id,
            headers=self.headers,
        )


class Audio:
    """The audio resource; reach it as ``client.audio``."""

    def __init__(self, client: VeniceClient) -> None:
        self._client = client

    # -- catalog-backed validation -----------------------------------------------------------
    async def _catalog_model(self, model: str, kind: Literal["tts", "asr"]) -> ModelInfo | None:
        """The catalog entry for ``model``; None when the server publishes no catalog."""
        try:
            models = await self._client.models.list(kind)
        except (APIError, aiohttp.ClientError) as exc:
            if isinstance(exc, InvalidRequestError):
                raise
            return None  # a server without /models: let it validate
        found = models.get(model)
        if found is None and len(models):
            close = difflib.get_close_matches(model, [m.id for m in models], n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise InvalidRequestError(
                f"Unknown {kind} model {model!r}.{hint} Known: {', '.join(m.id for m in models)}.",
                param="model",
            )
        return found

    def _check_voice(self, voice: str, info: ModelInfo | None) -> None:
        if voice.startswith("vv_") or info is None or info.model_spec.supports_custom_voice_id:
            return
        voices = info.model_spec.voices
        if not voices or voice in voices:
            return
        lowered = {v.lower(): v for v in voices}
        close = [lowered[voice.lower()]] if voice.lower() in lowered else []
        close += [
            v for v in difflib.get_close_matches(voice, voices, n=3, cutoff=0.6) if v not in close
        ]
        hint = f" Did you mean {', '.join(close)}? (voices are case-sensitive)" if close else ""
        raise InvalidRequestError(
            f"Voice {voice!r} is not a voice of {info.id}.{hint} Call "
            f"client.audio.get_voices(model_id={info.id!r}) to list its {len(voices)} voices.",
            param="voice",
        )

    async def check_voice(self, *, model: str, voice: str) -> ModelInfo | None:
        """Raise :class:`InvalidRequestError` unless ``model`` is a TTS model of the catalog
        with ``voice``: what ``create_speech`` checks, for checking many voices before speaking.
        Returns the model's catalog entry (None when the server publishes no catalog)."""
        if not isinstance(model, str) or not model:
            raise InvalidRequestError(
                "model must be a model id such as 'tts-kokoro'.", param="model"
            )
        if not isinstance(voice, str) or not voice.strip():
            raise InvalidRequestError(
                "voice must be a voice id such as 'af_heart' (see client.audio.get_voices()).",
                param="voice",
            )
        info = await self._catalog_model(model, "tts")
        self._check_voice(voice, info)
        return info

    def _check_format(self, fmt: str | None, info: ModelInfo | None) -> str | None:
        if fmt is None:
            return None
        if fmt not in _FORMATS:
            raise InvalidRequestError(
                f"Unknown response_format {fmt!r}; use one of {', '.join(_FORMATS)}.",
                param="response_format",
            )
        supported = info.model_spec.supported_formats if info else None
        if supported and fmt not in supported:
            raise InvalidRequestError(
                f"{info.id if info else 'This model'} cannot produce {fmt}; it supports "
                f"{', '.join(supported)}.",
                param="response_format",
            )
        return fmt

    async def speech_request(
        self,
        *,
        input: str,
        model: str,
        voice: str | Voice,
        response_format: str | ResponseFormat | None = None,
        speed: float | None = None,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_chars: int | None = MAX_INPUT_CHARS,
    ) -> SpeechRequest:
        """Check a speech request without sending it: every argument, and the model, voice and
        format against the catalog, raising what :meth:`create_speech` would raise. Batches and
        scripts check all their requests this way before speaking any; ``max_chars`` is the
        longest ``input`` accepted (None for :meth:`stream_long_text`, which splits it)."""
        hint = "; use client.audio.stream_long_text() for long text" if max_chars else ""
        _text(input, "input", max_chars=max_chars, hint=hint)
        if not isinstance(model, str) or not model:
            raise InvalidRequestError(
                "model must be a model id such as 'tts-kokoro'.", param="model"
            )
        voice = _enum_value(voice)
        if not isinstance(voice, str) or not voice.strip():
            raise InvalidRequestError(
                "voice must be a voice id such as 'af_heart' (see client.audio.get_voices()).",
                param="voice",
            )
        if len(voice) > 512:
            raise InvalidRequestError("voice is longer than 512 characters.", param="voice")
        fmt = _enum_value(response_format)
        body: dict[str, Any] = {"input": input, "model": model, "voice": voice}
        for name, value, low, high in (
            ("speed", speed, 0.25, 4.0),
            ("temperature", temperature, 0.0, 2.0),
            ("top_p", top_p, 0.0, 1.0),
        ):
            checked = _number(value, name, low, high)
            if checked is not None:
                body[name] = value
        if language is not None:
            if not isinstance(language, str) or not 2 <= len(language) <= 32:
                raise InvalidRequestError(
                    "language must be 2 to 32 characters, e.g. 'en' or 'English'.", param="language"
                )
            body["language"] = language
        if prompt is not None:
            if not isinstance(prompt, str):
                raise InvalidRequestError("prompt must be a string.", param="prompt")
            if len(prompt) > MAX_PROMPT_CHARS:
                raise InvalidRequestError(
                    f"prompt is {len(prompt)} characters, over the {MAX_PROMPT_CHARS} limit.",
                    param="prompt",
                )
            body["prompt"] = prompt
        if fmt is not None and not isinstance(fmt, str):
            raise InvalidRequestError(
                "response_format must be a string such as 'mp3'.", param="response_format"
            )
        info = await self._catalog_model(model, "tts")
        self._check_voice(voice, info)
        checked_fmt = self._check_format(fmt, info)
        if checked_fmt is not None:
            body["response_format"] = checked_fmt
        return SpeechRequest(body, info)

    # -- speech -------------------------------------------------------------------------------
    async def create_speech(
        self,
        *,
        input: str,
        model: str,
        voice: str | Voice,
        response_format: str | ResponseFormat | None = None,
        speed: float | None = None,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stream: bool = False,
        timeout: Timeout = None,
    ) -> AudioResponse | SpeechStream:
        """Speak ``input``. Whole audio as :class:`AudioResponse`, or with ``stream=True`` a
        :class:`SpeechStream` yielding chunks as they arrive (``"streaming": true`` is sent)."""
        if not isinstance(stream, bool):
            raise InvalidRequestError("stream must be True or False.", param="stream")
        body = (
            await self.speech_request(
                input=input,
                model=model,
                voice=voice,
                response_format=response_format,
                speed=speed,
                language=language,
                prompt=prompt,
                temperature=temperature,
                top_p=top_p,
            )
        ).body
        if stream:
            body["streaming"] = True
            response = await self._client.stream(
                "POST", "/audio/speech", json=body, timeout=timeout
            )
            try:
                check_audio_answer(
                    response.content_type, None, response.status, response.request_id
                )
            except APIResponseValidationError:
                await response.aclose()
                raise
            return SpeechStream(response, model=model, voice=body["voice"])
        raw = await self._client.request("POST", "/audio/speech", json=body, timeout=timeout)
        raw.audio_check()
        return self._audio(raw.body, raw.headers, model=model, voice=body["voice"])

    def _audio(
        self, data: bytes, headers: dict[str, str], *, model: str, voice: str
    ) -> AudioResponse:
        content_type = headers.get("content-type", "application/octet-stream").split(";")[0]
        from .types import FORMAT_BY_CONTENT_TYPE

        fmt = FORMAT_BY_CONTENT_TYPE.get(content_type)
        return AudioResponse(
            data,
            content_type=content_type,
            format=fmt,
            model=model,
            voice=voice,
            request_id=headers.get("x-request-id"),
            headers=headers,
            sample_rate=pcm_rate(model) if fmt == "pcm" else None,
        )

    async def stream_long_text(
        self,
        *,
        input: str,
        model: str,
        voice: str | Voice,
        response_format: str | ResponseFormat = "mp3",
        speed: float | None = None,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_words_per_segment: int | None = None,
        max_concurrency: int = 4,
        on_segment_complete: Callable[[SegmentProgress], Any] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[bytes]:
        """Speak long ``input`` as one audio file: split at sentences, synthesise up to
        ``max_concurrency`` segments at once, yield the joined audio in input order as soon as
        the next segment in order is ready. Works for every format the model offers; the
        machinery is :func:`venice_nb.core.segments.speak_segments`."""
        check_long_text_options(max_concurrency, max_words_per_segment, on_segment_complete)
        body = (
            await self.speech_request(
                input=input,
                model=model,
                voice=voice,
                response_format=response_format,
                speed=speed,
                language=language,
                prompt=prompt,
                temperature=temperature,
                top_p=top_p,
                max_chars=None,
            )
        ).body
        body["response_format"] = body.get("response_format") or "mp3"
        segments = speak_segments(
            self._client,
            body,
            max_words=max_words_per_segment or max_words_for_model(model),
            max_chars=MAX_INPUT_CHARS,
            max_concurrency=max_concurrency,
            on_segment_complete=on_segment_complete,
            timeout=timeout,
        )
        async with contextlib.aclosing(segments):
            async for chunk in segments:
                yield chunk

    # -- voices -------------------------------------------------------------------------------
    async def get_voices(
        self,
        *,
        model_id: str | None = None,
        gender: Literal["male", "female", "unknown"] | None = None,
        region_code: str | None = None,
    ) -> VoiceList:
        """Voices of every TTS model in the catalog, filtered by model, gender and region code."""
        if gender is not None and gender not in ("male", "female", "unknown"):
            raise InvalidRequestError(
                f"gender must be 'male', 'female' or 'unknown', got {gender!r}.", param="gender"
            )
        if region_code is not None and region_code not in REGION_LANGUAGE_MAPPING:
            raise InvalidRequestError(
                f"Unknown region_code {region_code!r}; use one of "
                f"{', '.join(REGION_LANGUAGE_MAPPING)}.",
                param="region_code",
            )
        models = await self._client.models.list("tts")
        if model_id is not None and models.get(model_id) is None:
            raise InvalidRequestError(
                f"Unknown TTS model {model_id!r}; known: {', '.join(m.id for m in models)}.",
                param="model_id",
            )
        out: list[VoiceDetails] = []
        for m in models:
            if model_id is not None and m.id != model_id:
                continue
            for vid in m.model_spec.voices:
                details = voice_details(vid, m.id)
                if gender is not None and details.gender != gender:
                    continue
                if region_code is not None and details.region_code != region_code:
                    continue
                out.append(details)
        return VoiceList(data=out)

    # -- transcription ------------------------------------------------------------------------
    async def transcription_request(
        self,
        *,
        file: str | bytes | IO[bytes] | os.PathLike[str],
        model: str = DEFAULT_TRANSCRIBE_MODEL,
        response_format: str | None = None,
        timestamps: bool | None = None,
        language: str | None = None,
    ) -> TranscriptionRequest:
        """Check a transcription request without sending it, raising what :meth:`transcribe`
        would raise: the arguments, the upload (container, size) and the model against the
        catalog. Callers that pace and retry many uploads themselves (long audio, batches) send
        it with ``client.request(... data=req.form)`` and read the answer with ``req.parse``."""
        if response_format not in (None, "json", "text"):
            raise InvalidRequestError(
                f"response_format must be 'json' or 'text', got {response_format!r}.",
                param="response_format",
            )
        if timestamps is not None and not isinstance(timestamps, bool):
            raise InvalidRequestError("timestamps must be True or False.", param="timestamps")
        if language is not None and (not isinstance(language, str) or not 2 <= len(language) <= 3):
            raise InvalidRequestError(
                f"language must be an ISO 639-1 code such as 'en', got {language!r}.",
                param="language",
            )
        if not isinstance(model, str) or not model:
            raise InvalidRequestError("model must be an ASR model id.", param="model")
        source = open_audio_input(file, accepted=TRANSCRIBE_CONTAINERS)
        info = await self._catalog_model(model, "asr")
        fields: dict[str, str] = {"model": model}
        if response_format is not None:
            fields["response_format"] = response_format
        if timestamps is not None:
            fields["timestamps"] = "true" if timestamps else "false"
        if language is not None:
            fields["language"] = language
        return TranscriptionRequest(source, fields, info)

    async def transcribe(
        self,
        *,
        file: str | bytes | IO[bytes] | os.PathLike[str],
        model: str = DEFAULT_TRANSCRIBE_MODEL,
        response_format: str | None = None,
        timestamps: bool | None = None,
        language: str | None = None,
        timeout: Timeout = None,
    ) -> AudioTranscriptionResponse | str:
        """Transcribe audio (``POST /audio/transcriptions``), one request of at most 25 MB. A
        path is streamed from disk. ``response_format="text"`` returns a ``str``; otherwise an
        :class:`AudioTranscriptionResponse` with ``.words`` when ``timestamps=True``. Audio of
        any length, and video: ``venice_nb.longform.transcribe_file``."""
        req = await self.transcription_request(
            file=file,
            model=model,
            response_format=response_format,
            timestamps=timestamps,
            language=language,
        )
        raw = await self._client.request(
            "POST", "/audio/transcriptions", data=req.form, timeout=timeout
        )
        return req.parse(raw)

    # -- cloning ------------------------------------------------------------------------------
    async def create_voice(
        self,
        *,
        file: str | bytes | IO[bytes] | os.PathLike[str],
        model: str | None = None,
        timeout: Timeout = None,
    ) -> ClonedVoice:
        """Clone a voice from a sample (``POST /audio/voices``); returns the ``vv_`` handle."""
        target = model or DEFAULT_CLONE_MODEL
        if not isinstance(target, str):
            raise InvalidRequestError(
                "model must be a TTS model id that can clone voices.", param="model"
            )
        accepted: frozenset[str] = frozenset({"mp3", "wav", "flac", "m4a", "mp4"})
        info = await self._catalog_model(target, "tts")
        if info is not None:
            cloning = info.model_spec.voice_cloning
            if cloning is None:
                # Refuse only on positive evidence: the catalog describes cloning for other
                # models but not this one. A catalog silent on cloning (the published one) sends
                # the request and lets the server decide.
                able = [
                    m.id
                    for m in await self._client.models.list("tts")
                    if m.model_spec.voice_cloning
                ]
                if able:
                    raise InvalidRequestError(
                        f"{target} cannot clone voices; use one of {', '.join(able)}.",
                        param="model",
                    )
            else:
                accepted = frozenset(cloning.accepted_formats) or accepted
                if "m4a" in accepted:
                    accepted |= {"mp4"}
        source = open_audio_input(file, accepted=accepted)
        fields = {"model": model} if model is not None else {}
        raw = await self._client.request(
            "POST", "/audio/voices", data=_form_factory(source, fields), timeout=timeout
        )
        return raw.parse(ClonedVoice, "voice cloning")


def voice_details(voice_id: str, model_id: str) -> VoiceDetails:
    """What a voice id tells: Kokoro-style ids (``af_heart``) encode region and gender."""
    if (
        len(voice_id) > 3
        and voice_id[2] == "_"
        and voice_id[0] in REGION_LANGUAGE_MAPPING
        and voice_id[1] in "fm"
    ):
        region = REGION_LANGUAGE_MAPPING[voice_id[0]]
        return VoiceDetails(
            id=voice_id,
            model_id=model_id,
            gender="female" if voice_id[1] == "f" else "male",
            region_code=voice_id[0],
            language=region["language"],
            accent=region["accent"],
        )
    from .voices import KNOWN_VOICES

    known = KNOWN_VOICES.get((model_id, voice_id)) or KNOWN_VOICES.get(("*", voice_id))
    if known is not None:
        gender, language = known
        return VoiceDetails(id=voice_id, model_id=model_id, gender=gender, language=language)
    return VoiceDetails(id=voice_id, model_id=model_id)


def _form_factory(source: AudioInput, fields: dict[str, str]) -> Callable[[], aiohttp.FormData]:
    def build() -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field(
            "file", source.payload(), filename=source.filename, content_type=source.content_type
        )
        for key, value in fields.items():
            form.add_field(key, value)
        return form

    return build
