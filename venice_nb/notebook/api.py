"""``venice_nb.speak`` and ``venice_nb.transcribe``: the notebook layer's work, for any cell.

Both are plain (blocking) functions that run the async core on the background loop of
:mod:`.runner`, so they work inside a running kernel loop. ``speak`` serves repeated speech from
the on-disk cache; text over one request's limit is spoken in parts by ``stream_long_text`` with a
progress bar. The magics are thin wrappers over these.

To use the async client yourself in a cell, ``client = venice_nb.session.new_client()`` and
``await client.audio.create_speech(...)`` (IPython runs top-level ``await`` on the kernel's loop).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from venice_nb.core.audio import MAX_INPUT_CHARS
from venice_nb.core.audioinfo import PCM_DEFAULT_RATE, pcm_rate
from venice_nb.core.errors import APIError, IncompleteTranscriptionError
from venice_nb.core.segments import finalize, max_words_for_model
from venice_nb.core.types import CONTENT_TYPES, AudioResponse, AudioTranscriptionResponse

from . import runner, settings
from .cache import SpeechCache, speech_key
from .embed import EmbeddedAudio, TranscodeUnavailable, compact, pcm_to_wav, sniff_format
from .progress import ProgressBar
from .speech import Speech
from .transcript import Transcript

if TYPE_CHECKING:
    from venice_nb.longform import LongProgress

__all__ = [
    "SpeechRequest",
    "UserError",
    "play",
    "speak",
    "speech_async",
    "transcribe",
]

_FORMATS = tuple(CONTENT_TYPES)
MAX_EMBED_SOURCE_BYTES = 200 * 1024 * 1024
"""A source file larger than this is never read whole to embed its sound in the notebook."""
_EXTENSION_FORMATS = {"ogg": "opus", "m4a": "aac", "raw": "pcm", "mpeg": "mp3"}


class UserError(ValueError):
    """A mistake in what the user asked for; the message says what and how to fix it."""


@dataclass(frozen=True)
class SpeechRequest:
    """Everything that shapes one piece of speech (and so its cache key)."""

    text: str
    model: str
    voice: str
    format: str | None = None
    speed: float | None = None
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    top_p: float | None = None

    @property
    def is_long(self) -> bool:
        """Over one request's limit: more than 4096 characters, or past a short-output model's
        word budget (the Qwen3 voices stop after about 25 words)."""
        budget = max_words_for_model(self.model)
        return len(self.text) > MAX_INPUT_CHARS or (
            budget < 100 and len(self.text.split()) > budget
        )

    def options(self) -> dict[str, Any]:
        """The optional speech parameters that are set."""
        names = ("speed", "language", "prompt", "temperature", "top_p")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


@dataclass(frozen=True)
class SpeechOutcome:
    audio: AudioResponse
    cached: bool
    offline: bool
    cost_usd: float | None


def _cache_scope() -> dict[str, str]:
    """The backend part of a cache key; the embedded server's port changes, its voices do not."""
    from venice_nb.session import get_backend

    backend = get_backend()
    return {"backend": backend.kind, "url": "embedded" if backend.is_local else backend.base_url}


async def _cost(kind: str, model: str, **amount: Any) -> float | None:
    try:
        client = await runner.get_client()
        info = (await client.models.list(kind)).get(model)
    except APIError:
        return None
    return info.usd_cost(**amount) if info is not None else None


async def _fetch(
    request: SpeechRequest, progress: ProgressBar | None, concurrency: int
) -> AudioResponse:
    from venice_nb.session import get_backend

    client = await runner.get_client()
    if not request.is_long:
        audio = await client.audio.create_speech(
            input=request.text,
            model=request.model,
            voice=request.voice,
            response_format=request.format,
            **request.options(),
        )
        assert isinstance(audio, AudioResponse)
        return audio
    fmt = request.format or "mp3"

    def on_segment(p: Any) -> None:
        if progress is not None:
            progress.update(p.completed, p.total)

    chunks = [
        chunk
        async for chunk in client.audio.stream_long_text(
            input=request.text,
            model=request.model,
            voice=request.voice,
            response_format=fmt,
            max_concurrency=concurrency,
            on_segment_complete=on_segment,
            **request.options(),
        )
    ]
    data = finalize(fmt, b"".join(chunks))
    headers = {"x-venice-nb-engine": "offline"} if get_backend().is_local else {}
    return AudioResponse(
        data,
        content_type=CONTENT_TYPES[fmt],
        format=fmt,
        model=request.model,
        voice=request.voice,
        headers=headers,
        sample_rate=pcm_rate(request.model) if fmt == "pcm" else None,
    )


def _speech_key(request: SpeechRequest) -> str:
    return speech_key(
        **_cache_scope(),
        model=request.model,
        voice=request.voice,
        text=request.text,
        format=request.format,
        **request.options(),
    )


async def speech_async(
    request: SpeechRequest,
    *,
    use_cache: bool | None = None,
    progress: ProgressBar | None = None,
) -> SpeechOutcome:
    """Speak ``request`` (on the runner loop): from the cache when it was spoken before."""
    from venice_nb.session import get_backend

    conf = settings.current()
    use_cache = conf.use_cache if use_cache is None else use_cache
    backend = await asyncio.to_thread(get_backend)
    cache = SpeechCache(conf.cache_path)
    key = _speech_key(request)
    audio = cache.get(key) if use_cache else None
    cached = audio is not None
    if audio is None:
        audio = await _fetch(request, progress, max(1, conf.long_text_concurrency))
        if use_cache:
            await asyncio.to_thread(cache.put, key, audio)
    offline = backend.is_local or audio.headers.get("x-venice-nb-engine") == "offline"
    cost = None if offline else await _cost("tts", request.model, characters=len(request.text))
    return SpeechOutcome(audio, cached, offline, cost)


def _format_for(path: str | os.PathLike[str] | None) -> str | None:
    if path is None:
        return None
    ext = Path(path).suffix.lower().lstrip(".")
    fmt = _EXTENSION_FORMATS.get(ext, ext)
    return fmt if fmt in _FORMATS else None


def embed_speech(
    audio: AudioResponse, request: SpeechRequest | None = None
) -> tuple[EmbeddedAudio | None, str]:
    """The compact copy of ``audio`` to embed, and a note when it is not embedded.

    Without PyAV, speech that is not already compact is fetched again as mp3 (also cached).
    """
    conf = settings.current()
    try:
        embedded = compact(
            audio.content,
            audio.format,
            sample_rate=audio.sample_rate if audio.format == "pcm" else None,
            mb_per_minute=conf.embed_mb_per_minute,
            bitrate=conf.embed_bitrate,
        )
    except TranscodeUnavailable:
        if request is None or request.format == "mp3":
            return None, "Audio not embedded: re-encoding it needs PyAV (the local extra)."
        mp3 = runner.run(speech_async(dataclasses.replace(request, format="mp3"))).audio
        embedded = EmbeddedAudio(mp3.content, "audio/mpeg", mp3.duration)
    except ValueError as exc:
        return None, f"Audio not embedded: {exc}"
    limit = conf.embed_max_mb * 1_000_000
    if embedded.notebook_bytes > limit:
        return None, (
            f"Audio not embedded: {embedded.notebook_bytes / 1e6:.1f} MB is over "
            f"VeniceMagics.embed_max_mb ({conf.embed_max_mb:g} MB); save it with --out."
        )
    return embedded, ""


def speak(
    text: str,
    *,
    voice: str | None = None,
    model: str | None = None,
    format: str | None = None,
    speed: float | None = None,
    language: str | None = None,
    prompt: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    out: str | os.PathLike[str] | None = None,
    autoplay: bool | None = None,
    cache: bool | None = None,
    progress: bool = True,
    stream: bool = False,
) -> Speech:
    """Speak ``text`` and return a :class:`Speech` (shown as a player when it is a cell's value).

    Unset arguments come from the settings (``%config VeniceMagics.voice = "af_sky"``). ``out``
    also writes the audio to a file; its extension picks the format when ``format`` is unset.
    Text over 4096 characters is spoken in parts with a progress bar. With ``stream=True`` on a
    streaming model in a live frontend, the speech plays as it is made (:mod:`.live`); elsewhere
    ``stream`` changes nothing. Raises the core's errors
    (:class:`~venice_nb.core.errors.InvalidRequestError` for bad input).
    """
    if not isinstance(text, str):
        raise UserError(f"text must be a string, not {type(text).__name__}.")
    if not text.strip():
        raise UserError("There is no text to speak; give it some words.")
    conf = settings.current()
    fmt = format or _format_for(out) or conf.format
    if fmt is not None and fmt not in _FORMATS:
        raise UserError(f"Unknown format {fmt!r}; use one of {', '.join(_FORMATS)}.")
    request = SpeechRequest(
        text=text,
        model=model or conf.model,
        voice=voice or conf.voice,
        format=fmt,
        speed=speed if speed is not None else conf.speed,
        language=language if language is not None else conf.language,
        prompt=prompt,
        temperature=temperature,
        top_p=top_p,
    )
    use_cache = conf.use_cache if cache is None else cache
    if stream and _live_possible(request) and not (use_cache and _is_cached(request)):
        return _speak_live(request, out=out, autoplay=autoplay, use_cache=use_cache)
    bar = ProgressBar() if progress and request.is_long else None
    try:
        outcome = runner.run(
            speech_async(request, use_cache=cache, progress=bar),
            poll=bar.draw if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
    if out is not None:
        outcome.audio.save(out)
    embedded, note = embed_speech(outcome.audio, request)
    return Speech(
        audio=outcome.audio,
        text=text,
        model=request.model,
        voice=request.voice,
        embedded=embedded,
        offline=outcome.offline,
        cached=outcome.cached,
        cost_usd=outcome.cost_usd,
        autoplay=conf.autoplay if autoplay is None else autoplay,
        note=note,
        params={"format": request.format, **request.options()},
    )


def _live_possible(request: SpeechRequest) -> bool:
    from .live import live_possible

    return live_possible(request)


def _is_cached(request: SpeechRequest) -> bool:
    key = _speech_key(request)
    return SpeechCache(settings.current().cache_path).get(key) is not None


def _speak_live(
    request: SpeechRequest,
    *,
    out: str | os.PathLike[str] | None,
    autoplay: bool | None,
    use_cache: bool,
) -> Speech:
    """``speak`` heard as it is made: the live player, then the durable one in its place."""
    from venice_nb.session import get_backend

    from .live import LiveSpeech, finish_live, speak_live

    conf = settings.current()
    audio, widget, display_id, timing = speak_live(request)
    if use_cache:
        SpeechCache(conf.cache_path).put(_speech_key(request), audio)
    offline = get_backend().is_local
    cost = None
    if not offline:
        cost = runner.run(_cost("tts", request.model, characters=len(request.text)))
    if out is not None:
        audio.save(out)
    embedded, note = embed_speech(audio, request)
    speech = LiveSpeech(
        audio=audio,
        text=request.text,
        model=request.model,
        voice=request.voice,
        embedded=embedded,
        offline=offline,
        cost_usd=cost,
        autoplay=conf.autoplay if autoplay is None else autoplay,
        note=note,
        params={"format": request.format, **request.options()},
        live_id=widget.stream_id,
        timing=timing,
    )
    finish_live(speech, display_id)
    return speech


def play(source: Any, *, autoplay: bool = False) -> Speech:
    """Show any audio as venice_nb's player: an ``AudioResponse`` from the core, a
    :class:`Speech`, audio bytes, or a file path. Unlike ``IPython.display.Audio`` it plays in
    untrusted notebooks and after a saved notebook is reopened in JupyterLab or Notebook 7."""
    if isinstance(source, Speech):
        source = source.audio
    name = "audio"
    if isinstance(source, AudioResponse):
        audio = source
    else:
        src = _source(source)
        name = src.name
        data = src.data if src.data is not None else src.path.read_bytes()  # type: ignore[union-attr]
        fmt = sniff_format(data)
        if fmt is None:
            raise UserError(
                f"{src.name!r} is not audio venice_nb can play; give mp3, opus, aac, flac or wav."
            )
        audio = AudioResponse(data, content_type=CONTENT_TYPES.get(fmt, "audio/" + fmt))
    embedded, note = embed_speech(audio)
    return Speech(
        audio=audio,
        text="",
        model=audio.model or name,
        voice=audio.voice or "",
        embedded=embedded,
        autoplay=autoplay,
        note=note,
    )


# -- transcription ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Source:
    data: bytes | None
    path: Path | None
    fmt: str | None
    sample_rate: int | None
    name: str


def _source(source: Any) -> _Source:
    if isinstance(source, Speech):
        source = source.audio
    if isinstance(source, AudioResponse):
        rate = source.sample_rate if source.format == "pcm" else None
        return _Source(source.content, None, source.format, rate, "speech")
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if not data:
            raise UserError("The audio is empty (0 bytes); give it a recording.")
        return _Source(data, None, sniff_format(data), None, "audio bytes")
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        if not path.exists():
            raise UserError(f"No audio file at {str(path)!r}; check the path.")
        if not path.is_file():
            raise UserError(f"{str(path)!r} is not a file; give the path of an audio file.")
        return _Source(None, path, None, None, path.name)
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, bytes):
            raise UserError("The file object gave text, not bytes; open it with mode 'rb'.")
        return _Source(data, None, sniff_format(data), None, getattr(source, "name", "audio"))
    raise UserError(
        f"Cannot transcribe a {type(source).__name__}; give a file path, audio bytes or a "
        "speech result."
    )


async def _transcribe_async(
    upload: Any,
    model: str,
    language: str | None,
    options: dict[str, Any] | None = None,
    on_progress: Callable[[LongProgress], None] | None = None,
) -> tuple[AudioTranscriptionResponse, bool, float | None]:
    from venice_nb.longform import transcribe_file
    from venice_nb.session import get_backend

    backend = await asyncio.to_thread(get_backend)
    client = await runner.get_client()
    result = await transcribe_file(
        client,
        upload,
        model=model,
        language=language,
        timestamps=True,
        on_progress=on_progress,
        **(options or {}),
    )
    cost = None
    if not backend.is_local and result.duration:
        cost = await _cost("asr", model, audio_seconds=result.duration)
    return result, backend.is_local, cost


def transcribe(
    source: Any,
    *,
    model: str | None = None,
    language: str | None = None,
    embed: bool = True,
    track: int | None = None,
    max_piece_seconds: float | None = None,
    concurrency: int | None = None,
    cache: bool = True,
    progress: bool = True,
) -> Transcript:
    """Transcribe ``source`` (a path, audio bytes, a binary file object or a :class:`Speech`)
    and return a :class:`Transcript` with word timestamps and the audio attached, shown as the
    clickable transcript view when it is a cell's value.

    Audio and video of any size and length work: past one request's limits the file is cut into
    pieces at quiet moments (``max_piece_seconds``, ``concurrency``; ``track`` picks an audio
    track), with a progress bar; finished pieces are cached, so a rerun sends only what is
    missing. When pieces keep failing, :class:`~venice_nb.core.errors.IncompleteTranscriptionError`
    carries the partial :class:`Transcript` (``.transcript``) and the missing time ranges."""
    conf = settings.current()
    src = _source(source)
    model = model or conf.transcribe_model
    if src.path is not None:
        upload: Any = src.path
    elif src.fmt == "pcm":
        assert src.data is not None
        upload = pcm_to_wav(src.data, src.sample_rate or PCM_DEFAULT_RATE)
    else:
        upload = src.data
    options: dict[str, Any] = {
        "track": track,
        "max_piece_seconds": max_piece_seconds or conf.max_piece_seconds,
        "concurrency": concurrency or conf.transcribe_concurrency,
        "cache": conf.cache_path / "transcripts" if cache and conf.use_cache else False,
        "name": src.name,
    }
    latest: list[LongProgress] = []
    bars: list[Any] = []

    def draw() -> None:
        if progress and latest:
            if not bars:
                from venice_nb.longform import ProgressBar as LongformBar

                bars.append(LongformBar(src.name))
            bars[0].show(latest[-1])

    incomplete: IncompleteTranscriptionError | None = None
    try:
        result, offline, cost = runner.run(
            _transcribe_async(upload, model, language, options, lambda p: latest.append(p)),
            poll=draw,
        )
    except IncompleteTranscriptionError as exc:
        # Go on with what was heard: the partial transcript gets its audio and gaps below.
        incomplete = exc
        result, offline, cost = exc.transcript, get_backend_is_local(), None
    finally:
        draw()
        for bar in bars:
            bar.close()
    embedded: EmbeddedAudio | None = None
    audio_file: str | None = None
    audio_note: str | None = None
    seconds = result.duration if isinstance(result, AudioTranscriptionResponse) else None
    if embed and seconds and seconds > conf.embed_max_minutes * 60:
        # Long audio stays out of the notebook: the view plays the file beside it instead.
        audio_file, audio_note = _beside_notebook(src.path, seconds, conf.embed_max_minutes)
    elif embed and src.path is not None and src.path.stat().st_size > MAX_EMBED_SOURCE_BYTES:
        # A short but huge file (a 4K screen recording): not read whole to embed its sound.
        audio_file, audio_note = _beside_notebook(src.path, seconds, None)
    elif embed:
        data = src.data if src.data is not None else src.path.read_bytes()  # type: ignore[union-attr]
        try:
            embedded = compact(
                data,
                src.fmt,
                sample_rate=src.sample_rate,
                mb_per_minute=conf.embed_mb_per_minute,
                bitrate=conf.embed_bitrate,
            )
        except (TranscodeUnavailable, ValueError):
            fmt = src.fmt or sniff_format(data)
            if fmt in ("mp3", "opus", "ogg", "aac", "m4a", "webm", "wav", "flac"):
                from .embed import MIME_BY_FORMAT

                embedded = EmbeddedAudio(data, MIME_BY_FORMAT[fmt], None)
        if embedded is not None and embedded.notebook_bytes > conf.embed_max_mb * 1_000_000:
            embedded = None
            audio_file, audio_note = _beside_notebook(src.path, seconds, None)
    transcript = Transcript.from_response(
        result,
        audio=embedded,
        model=model,
        offline=offline,
        cost_usd=cost,
        source=src.name,
        audio_file=audio_file,
        audio_note=audio_note,
        gaps=incomplete.missing if incomplete is not None else (),
    )
    if incomplete is not None:
        raise IncompleteTranscriptionError(
            incomplete.message, transcript=transcript, missing=incomplete.missing
        )
    return transcript


def get_backend_is_local() -> bool:
    """Whether the session's backend is the offline engine (for a partial transcript's badge)."""
    from venice_nb.session import get_backend

    return get_backend().is_local


def _beside_notebook(
    path: Path | None, seconds: float | None, max_minutes: float | None
) -> tuple[str | None, str | None]:
    """For audio not embedded: the source's path relative to the notebook's folder (the
    kernel's working directory), POSIX, when it lies under it; else a note saying what to do."""
    length = f" ({seconds / 60:.0f} min)" if seconds else ""
    why = (
        f"longer than VeniceMagics.embed_max_minutes ({max_minutes:g})"
        if max_minutes is not None
        else "too large to embed"
    )
    if path is None:
        return None, (
            f"The audio{length} is not embedded ({why}); transcribe a file beside this notebook "
            "to play it here."
        )
    try:
        relative = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return None, (
            f"The audio{length} is not embedded ({why}); put {path.name} beside this notebook "
            "to play it here."
        )
    return relative.as_posix(), None
