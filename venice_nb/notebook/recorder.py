"""Record from the microphone into the notebook: ``%venice_record`` and ``venice_nb.record()``.

The recorder is an anywidget (``recorder.js``): the browser's getUserMedia and MediaRecorder
(webm/opus in Chromium), record and stop buttons, elapsed time and a level meter. The encoded audio
reaches Python as numbered custom messages and a final ``stop``; :class:`Assembly` checks every
chunk arrived and :func:`inspect_recording` decodes it (PyAV) for its duration and loudness, so a
gap, an undecodable file or silence is refused with one line and nothing half-made reaches Python.
The accepted :class:`Recording` is a :class:`~venice_nb.notebook.speech.Speech` (``.save``,
``.transcribe``, ``%venice_transcribe rec``); the recorder's output is then replaced (display
handle) by its durable player, or by its transcript with ``transcribe=True``, so the saved
notebook keeps both. An ``ipywidgets.Output`` under the recorder shows the same result in
frontends that do not apply display updates to a running page (Voila).
"""

from __future__ import annotations

import array
import asyncio
import contextvars
import math
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets
import traitlets

from venice_nb.core.errors import APIError
from venice_nb.core.types import AudioResponse, AudioTranscriptionResponse

from . import runner, settings
from .display import VNB_MIME, widget_bundle, widgets_enabled
from .embed import (
    MIME_BY_FORMAT,
    EmbeddedAudio,
    TranscodeUnavailable,
    _decode_s16,
    compact,
    have_pyav,
    sniff_format,
)
from .speech import Speech
from .transcript import Transcript

__all__ = [
    "Assembly",
    "Recorder",
    "RecorderWidget",
    "Recording",
    "RecordingError",
    "RecordingInfo",
    "inspect_recording",
    "record",
]

_HERE = Path(__file__).resolve().parent
SILENCE_DBFS = -50.0
"""A recording whose loudest 50 ms stays below this level is silence (a muted or dead input)."""
MIN_SECONDS = 0.2
MAX_BYTES = 25 * 1024 * 1024
"""The transcription upload limit; a longer recording is refused before it is assembled."""
SOURCE = "microphone"


class RecordingError(ValueError):
    """A recording that cannot be used; the message says what was wrong and what to do."""


# Messages for failures the browser reports (reason -> one line).
BROWSER_ERRORS = {
    "denied": "Microphone access was denied; allow the microphone for this page in the "
    "browser's site settings, then run the cell again.",
    "nodevice": "No microphone was found; connect one (or pick an input in the system "
    "settings), then run the cell again.",
    "busy": "The microphone is in use by another application; close it, then run the cell again.",
    "insecure": "Recording needs a secure page (https:// or http://localhost); open Jupyter "
    "through one of those, then run the cell again.",
    "unsupported": "This browser cannot record audio (no MediaRecorder); use a current "
    "Chromium, Firefox or Safari.",
}


@dataclass(frozen=True)
class RecordingInfo:
    """What decoding a recording tells: its container, seconds of audio and loudest level."""

    format: str | None
    duration: float
    peak_dbfs: float | None


def inspect_recording(data: bytes, mime: str = "") -> RecordingInfo:
    """Decode ``data`` (PyAV) for its duration and loudness; raise :class:`RecordingError` when it
    is not audio, is too short or is silent. Without PyAV only the container is checked."""
    fmt = sniff_format(data)
    if not data or fmt is None:
        kind = mime or "unknown"
        raise RecordingError(
            f"The browser sent something that is not audio ({kind}, {len(data)} bytes); record "
            "again, or use a current Chromium, Firefox or Safari."
        )
    if not have_pyav():
        return RecordingInfo(fmt, 0.0, None)
    try:
        samples, rate = _decode_s16(data, fmt, None, None)
    except ValueError as exc:
        raise RecordingError(f"The recording could not be decoded ({exc}); record again.") from None
    values = array.array("h")
    values.frombytes(samples[: len(samples) // 2 * 2])
    duration = len(values) / rate if rate else 0.0
    if duration < MIN_SECONDS:
        raise RecordingError(
            f"The recording is only {duration:.2f} s long; record for longer, then stop."
        )
    window = max(1, rate // 20)
    loudest = 0.0
    for start in range(0, len(values), window):
        part = values[start : start + window]
        loudest = max(loudest, math.sqrt(sum(v * v for v in part) / len(part)))
    peak = 20 * math.log10(loudest / 32768) if loudest > 0 else -120.0
    if peak < SILENCE_DBFS:
        raise RecordingError(
            f"The recording is silent (loudest {peak:.0f} dBFS): check the microphone is not "
            "muted and is the input the browser uses, then record again."
        )
    return RecordingInfo(fmt, duration, round(peak, 1))


class Assembly:
    """The numbered chunks of one recording, joined once the final message says how many."""

    def __init__(self) -> None:
        self._chunks: dict[int, bytes] = {}
        self._size = 0

    def add(self, seq: int, data: bytes) -> None:
        """Keep chunk ``seq`` (0-based); refuse a duplicate or a recording over 25 MB."""
        if seq < 0 or seq in self._chunks:
            raise RecordingError(f"Chunk {seq} of the recording arrived twice; record again.")
        self._size += len(data)
        if self._size > MAX_BYTES:
            raise RecordingError(
                "The recording is over 25 MB, the transcription limit; record a shorter take "
                "(--seconds N stops by itself)."
            )
        self._chunks[seq] = bytes(data)

    def finish(self, count: int) -> bytes:
        """All ``count`` chunks in order; a missing one means the transfer broke."""
        missing = [i for i in range(count) if i not in self._chunks]
        if missing:
            raise RecordingError(
                f"{len(missing)} of {count} parts of the recording never reached the kernel; "
                "record again."
            )
        if count == 0 or not any(self._chunks.values()):
            raise RecordingError("The browser recorded nothing; record for longer, then stop.")
        return b"".join(self._chunks[i] for i in range(count))


@dataclass(eq=False)
class Recording(Speech):
    """Audio recorded from the microphone, usable wherever a :class:`Speech` is:
    ``%venice_transcribe rec``, ``rec.save(path)``, ``rec.transcribe()``, ``venice_nb.play(rec)``."""

    mime: str = ""
    peak_dbfs: float | None = None
    recorded_seconds: float | None = field(default=None, repr=False)

    @classmethod
    def from_bytes(cls, data: bytes, mime: str = "", seconds: float | None = None) -> Recording:
        """Check ``data`` (as :func:`inspect_recording`) and embed its compact copy."""
        info = inspect_recording(data, mime)
        fmt = info.format or "webm"
        duration = info.duration or seconds
        conf = settings.current()
        try:
            embedded: EmbeddedAudio | None = compact(
                data, fmt, mb_per_minute=conf.embed_mb_per_minute, bitrate=conf.embed_bitrate
            )
        except (TranscodeUnavailable, ValueError):
            embedded = EmbeddedAudio(data, MIME_BY_FORMAT.get(fmt, mime or "audio/webm"), duration)
        if embedded is not None and embedded.duration is None:
            embedded = EmbeddedAudio(embedded.data, embedded.mime, duration, embedded.transcoded)
        base_mime = (mime.split(";")[0].strip() or MIME_BY_FORMAT.get(fmt, "")).lower()
        audio = AudioResponse(data, content_type=base_mime or "audio/webm", format=fmt)
        return cls(
            audio=audio,
            text="",
            model=SOURCE,
            voice="",
            embedded=embedded,
            offline=False,
            mime=base_mime,
            peak_dbfs=info.peak_dbfs,
            recorded_seconds=duration,
        )

    @property
    def duration(self) -> float | None:
        """Seconds recorded."""
        if self.recorded_seconds:
            return self.recorded_seconds
        return super().duration

    def summary(self) -> str:
        dur = self.duration
        return " · ".join([f"{dur:.1f} s" if dur else "? s", f"recorded ({self.format})"])

    def __repr__(self) -> str:
        return f"<Recording {self.summary()}, {len(self.audio) / 1000:.0f} KB>"


class RecorderWidget(anywidget.AnyWidget):
    """The recorder view: record / stop, elapsed time, a level meter, then the recorded audio.
    ``seconds`` stops by itself; ``message`` is the one line Python has to say."""

    _esm = _HERE / "recorder.js"
    _css = _HERE / "recorder.css"

    seconds = traitlets.Float(None, allow_none=True).tag(sync=True)
    transcribe = traitlets.Bool(False).tag(sync=True)
    messages = traitlets.Dict(BROWSER_ERRORS).tag(sync=True)
    """The one-line failures the browser shows at once (the same lines the cell keeps)."""
    message = traitlets.Unicode("").tag(sync=True)
    state = traitlets.Unicode("idle").tag(sync=True)


def _kernel_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _execution_count() -> int | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else int(getattr(shell, "execution_count", 0))


class Recorder:
    """One recorder in a cell's output and what came of it: ``.recording`` (a
    :class:`Recording`), ``.transcript`` (with ``transcribe=True``) and ``.error`` (the line
    shown when it failed). Made by :func:`record`."""

    def __init__(
        self,
        *,
        seconds: float | None = None,
        transcribe: bool = False,
        model: str | None = None,
        language: str | None = None,
        on_recording: Callable[[Recording], None] | None = None,
        on_transcript: Callable[[Transcript], None] | None = None,
    ) -> None:
        if seconds is not None and not (0 < seconds <= 3600):
            raise ValueError(f"seconds must be between 0 and 3600, not {seconds:g}.")
        self.seconds = seconds
        self.transcribe_after = transcribe
        self.model = model
        self.language = language
        self.recording: Recording | None = None
        self.transcript: Transcript | None = None
        self.error: str | None = None
        self._on_recording = on_recording
        self._on_transcript = on_transcript
        self._assembly = Assembly()
        self._widget = RecorderWidget(seconds=seconds, transcribe=transcribe)
        self._output = ipywidgets.Output()
        self._box = ipywidgets.VBox([self._widget, self._output])
        self._widget.on_msg(self._on_message)
        self._display_id = uuid.uuid4().hex
        self._shown_in: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._context: contextvars.Context | None = None

    @property
    def widget(self) -> RecorderWidget:
        return self._widget

    # -- display ------------------------------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        return {
            "kind": "recorder",
            "seconds": self.seconds,
            "transcribe": self.transcribe_after,
            "status": "This recorder's kernel is gone: run the cell to record.",
        }

    def _bundle(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text/plain": repr(self),
            "text/html": "<div>venice_nb recorder: run the cell in JupyterLab, Notebook 7 or "
            "Voila to record from the microphone.</div>",
            VNB_MIME: self._payload(),
        }
        data.update(widget_bundle(self._box))
        return data

    def show(self) -> None:
        """Put the recorder in the cell's output (once)."""
        from IPython.display import display

        display(self._bundle(), raw=True, display_id=self._display_id)
        self._shown_in = _execution_count()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self._shown_in is not None and self._shown_in == _execution_count():
            return  # record() already showed it in this cell
        if self.transcript is not None:
            display(self.transcript)
        elif self.recording is not None:
            display(self.recording)
        else:
            display({"text/plain": repr(self)}, raw=True)

    def __repr__(self) -> str:
        if self.error:
            return f"<Recorder: {self.error}>"
        if self.recording is not None:
            return f"<Recorder: {self.recording!r}>"
        return "<Recorder: waiting for a recording>"

    def _replace(self, bundle: dict[str, Any]) -> None:
        """Replace the recorder's output (display handle) and show ``bundle`` in its Output."""
        from IPython.display import update_display

        update_display(bundle, raw=True, display_id=self._display_id)
        self._output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)

    def _fail(self, message: str) -> None:
        self.error = message
        self._widget.message = message
        self._widget.state = "error"
        self._widget.send({"type": "failed", "message": message})
        self._replace({"text/plain": f"venice_nb: {message}"})

    # -- messages from the view ----------------------------------------------------------------
    def _on_message(self, _widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        self._loop = _kernel_loop()
        self._context = contextvars.copy_context()
        kind = content.get("type")
        try:
            if kind == "start":
                self._assembly = Assembly()
                self.recording, self.transcript, self.error = None, None, None
                self._widget.state = "recording"
                self._widget.send({"type": "ack", "seq": -1})
            elif kind == "chunk":
                seq = int(content.get("seq", -1))
                if buffers:
                    self._assembly.add(seq, bytes(buffers[0]))
                # The view hears from its kernel while it records: silence means it is gone.
                self._widget.send({"type": "ack", "seq": seq})
            elif kind == "stop":
                data = self._assembly.finish(int(content.get("chunks", 0)))
                seconds = content.get("seconds")
                self._accept(
                    Recording.from_bytes(
                        data,
                        str(content.get("mime", "")),
                        float(seconds) if isinstance(seconds, int | float) else None,
                    )
                )
            elif kind == "error":
                reason = str(content.get("reason", ""))
                detail = str(content.get("message", ""))
                message = BROWSER_ERRORS.get(reason) or f"Recording failed: {detail}"
                self._fail(message)
        except RecordingError as exc:
            self._fail(str(exc))

    def _accept(self, recording: Recording) -> None:
        self.recording = recording
        self._widget.state = "saved"
        self._widget.message = recording.summary()
        self._widget.send({"type": "saved", "summary": recording.summary()})
        if self._on_recording is not None:
            self._on_recording(recording)
        self._replace(recording._repr_mimebundle_())
        if self.transcribe_after:
            future = runner.submit(self._transcribe(recording))
            future.add_done_callback(lambda f: self._deliver(lambda: self._transcribed(f)))

    async def _transcribe(self, recording: Recording) -> tuple[Any, bool, float | None]:
        from .api import _transcribe_async

        model = self.model or settings.current().transcribe_model
        return await _transcribe_async(recording.data, model, self.language)

    def _deliver(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the kernel's loop (where comm and display messages belong)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, context=self._context)
        else:
            fn()

    def _transcribed(self, future: Any) -> None:
        recording = self.recording
        assert recording is not None
        try:
            result, offline, cost = future.result()
        except (APIError, OSError, TimeoutError) as exc:
            message = f"The recording was kept but not transcribed: {exc}"
            print(f"venice_nb: {message}", file=sys.stderr)
            recording.note = message
            self._replace(recording._repr_mimebundle_())
            return
        text = result.text if isinstance(result, AudioTranscriptionResponse) else str(result)
        if not text.strip():
            recording.note = (
                "No words were recognised in the recording; speak closer to the microphone, or "
                "give --language."
            )
            self._replace(recording._repr_mimebundle_())
            return
        model = self.model or settings.current().transcribe_model
        transcript = Transcript.from_response(
            result,
            audio=recording.embedded,
            model=model,
            offline=offline,
            cost_usd=cost,
            source=SOURCE,
        )
        if isinstance(result, AudioTranscriptionResponse) and result.duration is None:
            transcript.duration = recording.duration
        self.transcript = transcript
        self._widget.send({"type": "transcribed", "words": len(transcript.words)})
        if self._on_transcript is not None:
            self._on_transcript(transcript)
        self._replace(transcript._repr_mimebundle_())


def record(
    seconds: float | None = None,
    transcribe: bool = False,
    *,
    model: str | None = None,
    language: str | None = None,
    var: str | None = None,
) -> Recorder:
    """Show a microphone recorder in the cell's output and return it; the :class:`Recording`
    lands in ``.recording`` (and in the notebook variable ``var``) once recording stops, its
    transcript in ``.transcript`` with ``transcribe=True`` (``model``/``language`` for Whisper).
    ``seconds`` stops by itself. Needs a live frontend: JupyterLab 4, Notebook 7 or Voila."""
    from .api import UserError

    if seconds is not None and not (0 < seconds <= 3600):
        raise UserError(f"--seconds {seconds:g} is out of range; give 0 < N <= 3600.")
    if not widgets_enabled():
        raise UserError(
            "Recording needs a live notebook frontend (JupyterLab, Notebook 7 or Voila) with "
            "widgets on; run it there (widgets is set to "
            f"{settings.current().widgets!r})."
        )
    if var is not None and (not var.isidentifier() or var in ("True", "False", "None")):
        raise UserError(f"--var {var!r} is not a valid Python variable name.")
    namespace = _user_ns() if var else None

    def keep(value: Any) -> None:
        if namespace is not None and var:
            namespace[var] = value

    recorder = Recorder(
        seconds=seconds,
        transcribe=transcribe,
        model=model,
        language=language,
        on_recording=keep,
    )
    recorder.show()
    return recorder


def _user_ns() -> dict[str, Any] | None:
    from IPython import get_ipython

    shell = get_ipython()
    return None if shell is None else shell.user_ns
