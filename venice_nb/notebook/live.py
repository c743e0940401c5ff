"""Hear speech as it is made: ``%%venice_speak`` / ``speak(..., stream=True)`` on a streaming model.

The speech is requested as 24 kHz s16le ``pcm`` (streamed sentence by sentence; long text through
``stream_long_text``) on the background loop. While the cell waits, its poll hook (the kernel's
own thread, woken by each arrival) forwards every chunk that has arrived to :class:`LivePlayer`
as a binary custom message; ``live.js`` schedules it with WebAudio at once, so the first sentence
plays while the rest is synthesised, and pausing and seeking work over what has arrived. When
synthesis ends the output is replaced (display handle) by the durable compact player of the whole
audio, which takes over playback where the live player was. Without a live frontend (``widgets="never"``, a plain
script, nbconvert, Voila), without PyAV, or for a model that does not stream, :mod:`.api` speaks
as before.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from venice_nb.core.audioinfo import pcm_rate
from venice_nb.core.types import CONTENT_TYPES, AudioResponse

from . import runner, settings
from .display import live_frontend, widget_bundle, widgets_enabled
from .embed import _encode_s16, have_pyav
from .speech import Speech

if TYPE_CHECKING:
    from .api import SpeechRequest

__all__ = ["STREAMING_MODELS", "LivePlayer", "LiveSpeech", "LiveTiming", "live_possible"]

_HERE = Path(__file__).resolve().parent
STREAMING_MODELS = frozenset({"tts-kokoro", "tts-xai-v1"})
"""Models whose streamed answers arrive progressively (the offline engine's voices are served as
these); the cloud buffers the others, so streaming them would gain nothing."""
FORWARD_SECONDS = 0.25
"""How often the waiting cell looks for chunks it was not woken for (a chunk's arrival wakes it
at once, so the first sound waits for no polling interval)."""


class LivePlayer(anywidget.AnyWidget):
    """Plays headless pcm chunks as they arrive (custom messages ``pcm`` with one buffer, then
    ``end``). ``stream_id`` names the stream in the page, so the durable player can take over."""

    _esm = _HERE / "live.js"
    _css = _HERE / "player.css"

    stream_id = traitlets.Unicode("").tag(sync=True)
    rate = traitlets.Int(24_000).tag(sync=True)
    summary = traitlets.Unicode("").tag(sync=True)


def live_possible(request: SpeechRequest) -> bool:
    """Whether ``request`` can be heard as it is made: a streaming model, a live frontend (not
    nbconvert or Voila's executor, which show outputs only once the cell ends), and PyAV to
    encode the whole audio in the requested format at the end."""
    return (
        request.model in STREAMING_MODELS
        and live_frontend()
        and widgets_enabled()
        and have_pyav()
        and (request.format or "mp3") in CONTENT_TYPES
    )


@dataclass
class LiveTiming:
    """When things happened (``time.monotonic()``): the request sent, its first audio byte, the
    first chunk forwarded to the frontend, the end of synthesis."""

    started: float = 0.0
    first_byte: float | None = None
    first_forwarded: float | None = None
    finished: float | None = None


@dataclass(eq=False)
class LiveSpeech(Speech):
    """Speech that was shown while it was made: the cell's output already holds its durable
    player (a display update), so showing it again in the same cell shows nothing."""

    live_id: str = ""
    timing: LiveTiming = field(default_factory=LiveTiming, repr=False)
    shown_in: int | None = field(default=None, repr=False)

    def _payload(self) -> dict[str, Any]:
        # The live stream this speech continues: its player takes over where that one was.
        return {**super()._payload(), "live": self.live_id}

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.shown_in is not None and self.shown_in == _execution_count():
            return
        display(self._repr_mimebundle_(), raw=True)


def _execution_count() -> int | None:
    from IPython import get_ipython

    shell = get_ipython()
    return None if shell is None else int(getattr(shell, "execution_count", 0))


class _Forwarder:
    """Chunks from the background loop to the widget, sent from the kernel's thread."""

    def __init__(
        self, widget: LivePlayer, timing: LiveTiming, chunks: queue.SimpleQueue[bytes]
    ) -> None:
        self.widget = widget
        self.timing = timing
        self.queue = chunks
        self._carry = b""
        self._seq = 0

    def drain(self) -> None:
        """Send what has arrived (whole samples only); called by the waiting cell as soon as a
        chunk arrives."""
        parts = [self._carry]
        while True:
            try:
                parts.append(self.queue.get_nowait())
            except queue.Empty:
                break
        data = b"".join(parts)
        whole = len(data) // 2 * 2
        self._carry = data[whole:]
        if whole:
            self.widget.send({"type": "pcm", "seq": self._seq}, [data[:whole]])
            self._seq += 1
            if self.timing.first_forwarded is None:
                self.timing.first_forwarded = time.monotonic()


async def _stream_pcm(
    request: SpeechRequest, put: Callable[[bytes], None], concurrency: int
) -> bytes:
    """The whole pcm of ``request``, handing every chunk to ``put`` as it arrives."""
    from venice_nb.core.audio import SpeechStream

    client = await runner.get_client()
    chunks: list[bytes] = []
    if request.is_long:
        async for chunk in client.audio.stream_long_text(
            input=request.text,
            model=request.model,
            voice=request.voice,
            response_format="pcm",
            max_concurrency=concurrency,
            **request.options(),
        ):
            chunks.append(chunk)
            put(chunk)
        return b"".join(chunks)
    stream = await client.audio.create_speech(
        input=request.text,
        model=request.model,
        voice=request.voice,
        response_format="pcm",
        stream=True,
        **request.options(),
    )
    assert isinstance(stream, SpeechStream)
    async with stream:
        async for chunk in stream:
            chunks.append(chunk)
            put(chunk)
    return b"".join(chunks)


def speak_live(request: SpeechRequest) -> tuple[AudioResponse, LivePlayer, str, LiveTiming]:
    """Show a live player, stream ``request`` into it, and return the whole audio in the
    requested format (mp3 by default), the widget, the output's display id and the timings."""
    from IPython.display import display

    conf = settings.current()
    rate = pcm_rate(request.model)
    timing = LiveTiming(started=time.monotonic())
    chunks: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    arrived = threading.Event()

    def put(chunk: bytes) -> None:
        if timing.first_byte is None:
            timing.first_byte = time.monotonic()
        chunks.put(chunk)
        arrived.set()  # the waiting cell forwards it now

    # The request goes first; the widget is made and shown while the server synthesises.
    concurrency = max(1, conf.long_text_concurrency)
    future = runner.submit(_stream_pcm(request, put, concurrency))
    stream_id = uuid.uuid4().hex
    widget = LivePlayer(
        stream_id=stream_id, rate=rate, summary=f"{request.model} / {request.voice}"
    )
    display_id = uuid.uuid4().hex
    bundle = {"text/plain": f"<speaking live: {request.model} / {request.voice}>"}
    bundle.update(widget_bundle(widget))
    display(bundle, raw=True, display_id=display_id)
    forwarder = _Forwarder(widget, timing, chunks)
    try:
        pcm = runner.get_runner().wait(
            future, poll=forwarder.drain, interval=FORWARD_SECONDS, wake=arrived
        )
    except BaseException:
        widget.send({"type": "abort"})
        raise
    forwarder.drain()
    timing.finished = time.monotonic()
    widget.send({"type": "end", "samples": len(pcm) // 2})
    fmt = request.format or "mp3"
    data = pcm if fmt == "pcm" else _encode_s16(pcm, rate, fmt)
    audio = AudioResponse(
        data,
        content_type=CONTENT_TYPES[fmt],
        format=fmt,
        model=request.model,
        voice=request.voice,
        sample_rate=rate if fmt == "pcm" else None,
    )
    return audio, widget, display_id, timing


def finish_live(speech: LiveSpeech, display_id: str) -> None:
    """Replace the live player by the durable compact player, which takes over playback."""
    from IPython.display import update_display

    update_display(speech._repr_mimebundle_(), raw=True, display_id=display_id)
    speech.shown_in = _execution_count()
