"""The transcript view: text whose every word is a clickable timestamp, beside the audio player.

:class:`Transcript` holds the text, words and segments (``.to_srt()``, ``.to_vtt()``,
``.find(phrase)``) and the compact audio. Its MIME bundle carries venice_nb's mimetype (drawn by
the JupyterLab / Notebook 7 extension with ``transcript.js``, no kernel or trust needed), an HTML
fallback for every other frontend (the same markup, wired by the same module inlined as a
``<script type="module">``; without JavaScript the words and ``[mm:ss]`` stamps still show) and
plain text. ``.widget()`` gives the live anywidget (``seek()`` from Python).
"""

from __future__ import annotations

import bisect
import json
import re
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from venice_nb.core import subtitles
from venice_nb.core.types import (
    AudioTranscriptionResponse,
    TranscriptionSegment,
    TranscriptionTimestamps,
    TranscriptionWord,
)

from .display import RichOutput, asset, audio_ref, clock, escape, meta_html, new_dom_id
from .embed import EmbeddedAudio

__all__ = ["Segment", "Transcript", "TranscriptWidget", "Word"]

_HERE = Path(__file__).resolve().parent
_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*$")
SPEAKER_COLOURS = 6
"""Speakers are coloured ``vnb-speaker-0`` … ``-5`` in order of first appearance (transcript.css)."""


@dataclass(frozen=True)
class Word:
    """One word and when it is spoken (seconds from the start)."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    """A stretch of speech (a sentence, a phrase, or a line of a dialogue), its time span and,
    when known, who speaks it."""

    text: str
    start: float
    end: float
    speaker: str | None = None


def _norm(token: str) -> str:
    token = unicodedata.normalize("NFKC", token).casefold()
    return "".join(ch for ch in token if ch.isalnum() or ch == "'").strip("'")


class TranscriptWidget(anywidget.AnyWidget):
    """Player plus clickable words. ``groups``: one entry per segment,
    ``{"start": s, "words": [[text, start, end], ...]}``, with ``"speaker"`` when known."""

    _esm = _HERE / "transcript.js"
    _css = _HERE / "transcript.css"

    audio = traitlets.Bytes(b"").tag(sync=True)
    mime = traitlets.Unicode("audio/mpeg").tag(sync=True)
    groups = traitlets.List(traitlets.Dict()).tag(sync=True)
    summary = traitlets.Unicode("").tag(sync=True)
    badges = traitlets.List(traitlets.List(traitlets.Unicode())).tag(sync=True)
    autoplay = traitlets.Bool(False).tag(sync=True)

    def seek(self, seconds: float, *, play: bool = True) -> None:
        """Move the view's player to ``seconds`` (and play)."""
        self.send({"type": "seek", "time": float(seconds), "play": play})


class Transcript(RichOutput):
    """A transcript with word timestamps and, when known, the audio it came from."""

    def __init__(
        self,
        text: str,
        words: Iterable[Word] = (),
        segments: Iterable[Segment] = (),
        *,
        duration: float | None = None,
        audio: EmbeddedAudio | None = None,
        model: str | None = None,
        offline: bool = False,
        cost_usd: float | None = None,
        source: str | None = None,
        autoplay: bool = False,
    ) -> None:
        self.text = text.strip()
        self.words: list[Word] = sorted(words, key=lambda w: w.start)
        self.segments: list[Segment] = sorted(segments, key=lambda s: s.start)
        self.duration = duration
        self.audio = audio
        self.model = model
        self.offline = offline
        self.cost_usd = cost_usd
        self.source = source
        self.autoplay = autoplay
        self._widget: TranscriptWidget | None = None

    @classmethod
    def from_response(cls, response: AudioTranscriptionResponse | str, **kwargs: Any) -> Transcript:
        """Build from the core's answer (a plain ``str`` when ``response_format="text"``)."""
        if isinstance(response, str):
            return cls(response, **kwargs)
        words = [Word(w.word.strip(), float(w.start), float(w.end)) for w in response.words]
        segments = [
            Segment(s.text.strip(), float(s.start), float(s.end)) for s in response.segments
        ]
        kwargs.setdefault("duration", response.duration)
        return cls(response.text, [w for w in words if w.word], segments, **kwargs)

    # -- data ---------------------------------------------------------------------------------
    def to_response(self) -> AudioTranscriptionResponse:
        """The transcript as the core's pydantic model."""
        return AudioTranscriptionResponse(
            text=self.text,
            duration=self.duration,
            timestamps=TranscriptionTimestamps(
                word=[TranscriptionWord(word=w.word, start=w.start, end=w.end) for w in self.words],
                segment=[
                    TranscriptionSegment(
                        text=f"{s.speaker}: {s.text}" if s.speaker else s.text,
                        start=s.start,
                        end=s.end,
                    )
                    for s in self.segments
                ],
            ),
        )

    def to_srt(self) -> str:
        """SubRip subtitles (one cue per segment, or per ~12 words without segments)."""
        return subtitles.to_srt(self.to_response())

    def to_vtt(self) -> str:
        """WebVTT subtitles."""
        return subtitles.to_vtt(self.to_response())

    def to_json(self, **kwargs: Any) -> str:
        """The transcript as JSON in the service's shape (text, duration, timestamps)."""
        return self.to_response().model_dump_json(**{"indent": 2, **kwargs})

    def find_all(self, phrase: str) -> list[float]:
        """Start times of every place ``phrase`` is spoken (case and punctuation ignored)."""
        wanted = [t for t in (_norm(p) for p in phrase.split()) if t]
        if not wanted or not self.words:
            return []
        tokens = [_norm(w.word) for w in self.words]
        n = len(wanted)
        return [
            self.words[i].start for i in range(len(tokens) - n + 1) if tokens[i : i + n] == wanted
        ]

    def find(self, phrase: str) -> float | None:
        """When ``phrase`` is first spoken, in seconds, or None if it is not in the transcript."""
        hits = self.find_all(phrase)
        return hits[0] if hits else None

    @property
    def speakers(self) -> list[str]:
        """Who speaks, in order of first appearance (empty when the segments do not say)."""
        return list(dict.fromkeys(s.speaker for s in self.segments if s.speaker))

    def groups(self) -> list[dict[str, Any]]:
        """Words grouped by segment: ``[{"start": s, "words": [[text, start, end], ...]}]``,
        each with ``"speaker"`` when its segment names one."""
        if not self.words:
            if self.segments:
                return [
                    {
                        "start": round(s.start, 3),
                        "words": [[s.text, round(s.start, 3), round(s.end, 3)]],
                        **({"speaker": s.speaker} if s.speaker else {}),
                    }
                    for s in self.segments
                ]
            if not self.text:
                return []
            return [{"start": 0.0, "words": [[self.text, 0.0, self.duration or 0.0]]}]
        starts = [s.start for s in self.segments]
        out: list[dict[str, Any]] = []
        current = -2
        for w in self.words:
            if starts:
                index = max(bisect.bisect_right(starts, w.start + 0.05) - 1, 0)
                new_group = index != current
                current = index
            else:
                new_group = not out or _SENTENCE_END.search(out[-1]["words"][-1][0]) is not None
            if new_group:
                out.append({"start": w.start, "words": []})
                speaker = self.segments[current].speaker if starts else None
                if speaker:
                    out[-1]["speaker"] = speaker
            out[-1]["words"].append([w.word, round(w.start, 3), round(w.end, 3)])
        return out

    # -- display ------------------------------------------------------------------------------
    def summary(self) -> str:
        bits = []
        if self.duration is not None:
            bits.append(f"{self.duration:.1f} s")
        speakers = self.speakers
        if speakers:
            bits.append(f"{len(self.segments)} lines")
            bits.append(f"{len(speakers)} speakers" if len(speakers) > 1 else speakers[0])
        else:
            words = len(self.words) if self.words else len(self.text.split())
            bits.append(f"{words} words")
        if self.model:
            bits.append(self.model)
        return " · ".join(bits)

    def badges(self) -> list[list[str]]:
        out: list[list[str]] = []
        if self.offline:
            out.append(["offline engine", "offline"])
        elif self.cost_usd is not None:
            out.append([f"≈ ${self.cost_usd:.4f}", "cost"])
        return out

    def widget(self) -> TranscriptWidget:
        """The interactive transcript widget (made once, reused)."""
        if self._widget is None:
            self._widget = TranscriptWidget(
                audio=self.audio.data if self.audio else b"",
                mime=self.audio.mime if self.audio else "audio/mpeg",
                groups=self.groups(),
                summary=self.summary(),
                badges=self.badges(),
                autoplay=self.autoplay,
            )
        return self._widget

    def _body_html(self) -> str:
        paragraphs = []
        speakers = self.speakers
        for group in self.groups():
            start = group["start"]
            words = " ".join(
                f'<span class="vnb-word" data-start="{s:.3f}" data-end="{e:.3f}">{escape(t)}</span>'
                for t, s, e in group["words"]
            )
            who = ""
            if "speaker" in group:
                index = speakers.index(group["speaker"]) % SPEAKER_COLOURS
                who = (
                    f'<span class="vnb-speaker vnb-speaker-{index}" data-start="{start:.3f}" '
                    f'title="play from here">{escape(group["speaker"])}</span>: '
                )
            paragraphs.append(
                f'<p class="vnb-seg" data-start="{start:.3f}"><span class="vnb-stamp" '
                f'data-start="{start:.3f}" title="play from here">[{clock(start)}]</span> '
                f"{who}{words}</p>"
            )
        return "".join(paragraphs)

    def _payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "kind": "transcript",
            "summary": self.summary(),
            "badges": self.badges(),
            "duration": None if self.duration is None else round(self.duration, 3),
            "groups": self.groups(),
            "audio": audio_ref(self.audio.mime if self.audio is not None else None),
        }
        if self.autoplay:
            # The frontend autoplays only just after the cell ran, not when the notebook reopens.
            payload.update(autoplay=True, created=int(time.time() * 1000))
        return payload

    def _repr_html_(self) -> str:
        dom_id = new_dom_id("vnb-tr")
        audio = ""
        if self.audio is not None:
            autoplay = " autoplay" if self.autoplay else ""
            audio = (
                f'<audio controls preload="metadata"{autoplay} src="{self.audio.data_uri()}">'
                "</audio>"
            )
        script = (
            f'<script type="module">{asset("transcript.js")}\n'
            f"wire(document.getElementById({json.dumps(dom_id)}));</script>"
        )
        return (
            f'<div class="vnb-transcript" id="{dom_id}"><style>{asset("transcript.css")}</style>'
            f"{audio}{meta_html(self.summary(), self.badges(), 'div')}"
            f'<div class="vnb-text">{self._body_html()}</div>{script}</div>'
        )

    def __repr__(self) -> str:
        head = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return f"<Transcript {self.summary()}: {head!r}>"

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transcript):
            return NotImplemented
        return (self.text, self.words, self.segments) == (other.text, other.words, other.segments)

    __hash__ = None  # type: ignore[assignment]
