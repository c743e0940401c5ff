"""The result of speaking: the audio plus what produced it, shown as a compact audio player.

The MIME bundle carries venice_nb's mimetype (drawn by the JupyterLab / Notebook 7 extension,
with no kernel or trust), a plain ``<audio>`` in ``text/html`` that plays in every other frontend
(nbconvert HTML, VS Code, Colab, GitHub) and a ``text/plain`` summary. The audio is embedded once,
in its compact form from :mod:`.embed`; the payload points at it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from venice_nb.core.types import AudioResponse

from .display import RichOutput, asset, audio_ref, escape, meta_html
from .embed import EmbeddedAudio

if TYPE_CHECKING:
    import os

    from .transcript import Transcript

__all__ = ["Speech", "SpeechPlayer"]

_HERE = Path(__file__).resolve().parent


class SpeechPlayer(anywidget.AnyWidget):
    """Audio player widget: binary ``audio`` with its ``mime``, a summary line and badges."""

    _esm = _HERE / "player.js"
    _css = _HERE / "player.css"

    audio = traitlets.Bytes(b"").tag(sync=True)
    mime = traitlets.Unicode("audio/mpeg").tag(sync=True)
    duration = traitlets.Float(None, allow_none=True).tag(sync=True)
    summary = traitlets.Unicode("").tag(sync=True)
    badges = traitlets.List(traitlets.List(traitlets.Unicode())).tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)
    autoplay = traitlets.Bool(False).tag(sync=True)


def _kb(n: int) -> str:
    return f"{n / 1000:.0f} KB" if n < 1_000_000 else f"{n / 1e6:.1f} MB"


class AudioResult(RichOutput):
    """A result backed by the server's audio (``audio``) and its compact copy (``embedded``):
    bytes, format, length and duration, shared by :class:`Speech` and the dialogue."""

    audio: AudioResponse
    embedded: EmbeddedAudio | None

    @property
    def data(self) -> bytes:
        """The audio bytes as the server sent them (joined, for a dialogue)."""
        return self.audio.content

    def __bytes__(self) -> bytes:
        return self.audio.content

    def __len__(self) -> int:
        return len(self.audio)

    @property
    def format(self) -> str | None:
        return self.audio.format

    @property
    def duration(self) -> float | None:
        """Seconds of audio."""
        if self.embedded is not None and self.embedded.duration:
            return self.embedded.duration
        return self.audio.duration


@dataclass(eq=False)
class Speech(AudioResult):
    """Spoken text: ``.audio`` (an :class:`~venice_nb.core.AudioResponse`, the bytes as the
    server sent them), how it was made, and the compact copy embedded in the notebook."""

    audio: AudioResponse
    text: str
    model: str
    voice: str
    embedded: EmbeddedAudio | None = None
    offline: bool = False
    cached: bool = False
    cost_usd: float | None = None
    autoplay: bool = False
    note: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    _widget: SpeechPlayer | None = field(default=None, init=False, repr=False)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the audio (as the server sent it) to ``path`` atomically; returns the path."""
        self.audio.save(path)
        return Path(path)

    def transcribe(self, **kwargs: Any) -> Transcript:
        """Transcribe this speech back to text (see :func:`venice_nb.transcribe`)."""
        from .api import transcribe

        return transcribe(self, **kwargs)

    # -- display ------------------------------------------------------------------------------
    def summary(self) -> str:
        dur = self.duration
        source = f"{self.model} / {self.voice}" if self.voice else self.model
        return " · ".join([f"{dur:.1f} s" if dur is not None else "? s", source])

    def badges(self) -> list[list[str]]:
        out: list[list[str]] = []
        if self.offline:
            out.append(["offline engine", "offline"])
        if self.cached:
            out.append(["cached", "cached"])
        if self.cost_usd is not None and not self.offline:
            label = f"≈ ${self.cost_usd:.4f}" if self.cost_usd >= 0.0001 else "< $0.0001"
            if self.cached:
                label += " (not charged again)"
            out.append([label, "cost"])
        return out

    def widget(self) -> SpeechPlayer:
        """The player widget for this speech (made once, reused)."""
        if self._widget is None:
            emb = self.embedded
            self._widget = SpeechPlayer(
                audio=emb.data if emb else b"",
                mime=emb.mime if emb else "audio/mpeg",
                duration=self.duration,
                summary=self.summary(),
                badges=self.badges(),
                note=self.note,
                autoplay=self.autoplay,
            )
        return self._widget

    def _payload(self) -> dict[str, Any]:
        emb = self.embedded
        payload: dict[str, Any] = {
            "kind": "speech",
            "summary": self.summary(),
            "badges": self.badges(),
            "note": self.note,
            "duration": None if self.duration is None else round(self.duration, 3),
            "audio": audio_ref(emb.mime if emb is not None else None),
        }
        if self.autoplay:
            # The frontend autoplays only just after the cell ran, not when the notebook reopens.
            payload.update(autoplay=True, created=int(time.time() * 1000))
        return payload

    def _repr_html_(self) -> str:
        emb = self.embedded
        audio = ""
        if emb is not None:
            autoplay = " autoplay" if self.autoplay else ""
            audio = f'<audio controls preload="metadata"{autoplay} src="{emb.data_uri()}"></audio>'
        note = f'<span class="vnb-note">{escape(self.note)}</span>' if self.note else ""
        return (
            f'<div class="vnb-speech"><style>{asset("player.css")}</style>{audio}'
            f"{meta_html(self.summary(), self.badges())}{note}</div>"
        )

    def __repr__(self) -> str:
        tags = [t for t, _ in self.badges()]
        extra = f" [{', '.join(tags)}]" if tags else ""
        return f"<Speech {self.summary()}, {self.format or '?'} {_kb(len(self.audio))}{extra}>"
