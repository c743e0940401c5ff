"""The transcript view: text whose every word is a clickable timestamp, beside the audio player.

:class:`Transcript` holds the text, words and segments (``.to_srt()``, ``.to_vtt()``,
``.find(phrase)``) and the compact audio. Its MIME bundle carries venice_nb's mimetype (drawn by
the JupyterLab / Notebook 7 extension with ``transcript.js``, no kernel or trust needed), an HTML
fallback for every other frontend (the same markup, wired by the same module inlined as a
``<script type="module">``; without JavaScript the words and ``[mm:ss]`` stamps still show) and
plain text. ``.widget()`` gives the live anywidget (``seek()`` from Python).

Long audio is not embedded (``VeniceMagics.embed_max_minutes``): ``audio_file`` names the source
beside the notebook, played through Jupyter's file server, and ``audio_note`` says what to do when
it cannot be. ``gaps`` are time ranges the transcript is missing, shown inline and never silent.
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
from urllib.parse import quote

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

__all__ = ["Gap", "Segment", "Transcript", "TranscriptWidget", "Word"]

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


@dataclass(frozen=True)
class Gap:
    """A time range the transcript is missing (a piece that kept failing), and why."""

    start: float
    end: float
    reason: str

    def line(self) -> str:
        """The marked line shown in its place: ``[10:00–20:00 missing: why]``."""
        return f"[{clock(self.start)}\u2013{clock(self.end)} missing: {self.reason}]"


def _gap(gap: Any) -> Gap:
    if isinstance(gap, Gap):
        return gap
    if hasattr(gap, "reason"):
        return Gap(float(gap.start), float(gap.end), str(gap.reason))
    start, end, reason = gap
    return Gap(float(start), float(end), str(reason))


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
    duration = traitlets.Float(None, allow_none=True).tag(sync=True)
    gaps = traitlets.List(traitlets.List()).tag(sync=True)
    audio_file = traitlets.Unicode("").tag(sync=True)
    audio_note = traitlets.Unicode("").tag(sync=True)

    def __init__(self, *, audio_path: Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._audio_path = audio_path
        self.on_msg(self._on_message)

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        # The view asks for the audio of ``audio_file``: its bytes go as a message, never a
        # trait, so they are not stored with the widget state in the notebook.
        if not isinstance(content, dict) or content.get("type") != "audio":
            return
        path = self._audio_path
        if path is None or not path.is_file():
            name = Path(self.audio_file).name or "the audio file"
            self.send(
                {
                    "type": "audio",
                    "error": f"{name} is not beside this notebook any more; "
                    "put it back to play it here.",
                }
            )
            return
        mime = _VIDEO_MIME.get(path.suffix.lower()) or _mime_of(path)
        self.send({"type": "audio", "mime": mime}, buffers=[path.read_bytes()])

    def seek(self, seconds: float, *, play: bool = True) -> None:
        """Move the view's player to ``seconds`` (and play)."""
        self.send({"type": "seek", "time": float(seconds), "play": play})


_VIDEO_MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/mp4",
               ".webm": "video/webm", ".mkv": "video/webm"}  # fmt: skip


def _mime_of(path: Path) -> str:
    from .embed import MIME_BY_FORMAT

    return MIME_BY_FORMAT.get(path.suffix.lower().lstrip("."), "audio/mpeg")


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
        audio_file: str | None = None,
        audio_note: str | None = None,
        gaps: Iterable[Any] = (),
    ) -> None:
        """``audio_file``: the source's path relative to the notebook's folder (POSIX), played
        from Jupyter's file server when ``audio`` is not embedded; ``audio_note``: one line
        saying why the audio cannot play here and what to do; ``gaps``: missing time ranges, as
        :class:`Gap`, ``(start, end, reason)`` or anything with those attributes (the core's
        ``TranscriptionGap``, as ``IncompleteTranscriptionError.missing`` lists them)."""
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
        self.audio_file = audio_file
        self.audio_note = audio_note
        self.gaps: list[Gap] = sorted((_gap(g) for g in gaps), key=lambda g: g.start)
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

    def to_dataframe(self, kind: str = "words") -> Any:
        """A pandas DataFrame of the ``"words"`` (word, start, end) or the ``"segments"`` (text,
        start, end, and speaker when known). pandas is optional: without it, ImportError."""
        if kind not in ("words", "segments"):
            raise ValueError(f"kind={kind!r}: give kind='words' or kind='segments'.")
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "Transcript.to_dataframe() needs pandas, which is not installed: pip install pandas"
            ) from None
        if kind == "words":
            return pd.DataFrame(
                [(w.word, w.start, w.end) for w in self.words], columns=["word", "start", "end"]
            )
        columns = ["text", "start", "end"]
        rows: list[tuple[Any, ...]] = [(s.text, s.start, s.end) for s in self.segments]
        if self.speakers:
            columns.append("speaker")
            rows = [(s.text, s.start, s.end, s.speaker) for s in self.segments]
        return pd.DataFrame(rows, columns=columns)

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
        if self.gaps:
            missing = sum(g.end - g.start for g in self.gaps)
            ranges = ", ".join(f"{clock(g.start)}\u2013{clock(g.end)}" for g in self.gaps)
            bits.append(f"{clock(missing)} missing ({ranges})")
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
                duration=self.duration,
                gaps=self._gap_rows(),
                audio_file="" if self.audio is not None else (self.audio_file or ""),
                audio_note=self.audio_note or "",
                audio_path=(
                    Path(self.audio_file).resolve()
                    if self.audio is None and self.audio_file
                    else None
                ),
            )
        return self._widget

    def _gap_rows(self) -> list[list[Any]]:
        return [[round(g.start, 3), round(g.end, 3), g.reason] for g in self.gaps]

    def _body_html(self) -> str:
        paragraphs = []
        speakers = self.speakers
        gaps = list(self.gaps)

        def gap_line(g: Gap) -> str:
            return (
                f'<p class="vnb-gap" role="note" data-start="{g.start:.3f}" '
                f'data-end="{g.end:.3f}">{escape(g.line())}</p>'
            )

        for group in self.groups():
            start = group["start"]
            while gaps and gaps[0].start <= start:
                paragraphs.append(gap_line(gaps.pop(0)))
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
        paragraphs += [gap_line(g) for g in gaps]
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
        if self.gaps:
            payload["gaps"] = self._gap_rows()
        if self.audio is None and self.audio_file:
            payload["audio_file"] = self.audio_file
        if self.audio_note:
            payload["audio_note"] = self.audio_note
        if self.autoplay:
            # The frontend autoplays only just after the cell ran, not when the notebook reopens.
            payload.update(autoplay=True, created=int(time.time() * 1000))
        return payload

    def _repr_html_(self) -> str:
        dom_id = new_dom_id("vnb-tr")
        audio = ""
        attrs = ""
        if self.duration:
            attrs += f' data-duration="{self.duration:.3f}"'
        if self.audio is not None:
            autoplay = " autoplay" if self.autoplay else ""
            audio = (
                f'<audio controls preload="metadata"{autoplay} src="{self.audio.data_uri()}">'
                "</audio>"
            )
        elif self.audio_file:
            # Relative to the notebook: nbconvert's page beside it, JupyterLab's HTML renderer
            # (which resolves a relative src through its file server) and Voila all find it.
            attrs += f' data-audio-file="{escape(self.audio_file)}"'
            audio = (
                f'<audio controls preload="metadata" src="{escape(quote(self.audio_file))}">'
                "</audio>"
            )
        if self.audio_note:
            audio += f'<div class="vnb-note" role="note">{escape(self.audio_note)}</div>'
        script = (
            f'<script type="module">{asset("transcript.js")}\n'
            f"wire(document.getElementById({json.dumps(dom_id)}));</script>"
        )
        return (
            f'<div class="vnb-transcript" id="{dom_id}"{attrs}><style>{asset("transcript.css")}</style>'
            f"{audio}{meta_html(self.summary(), self.badges(), 'div')}"
            f'<div class="vnb-text">{self._body_html()}</div>{script}</div>'
        )

    def __repr__(self) -> str:
        head = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return f"<Transcript {self.summary()}: {head!r}>"

    def __str__(self) -> str:
        if not self.gaps:
            return self.text
        return "\n\n".join([self.text, *(g.line() for g in self.gaps)])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transcript):
            return NotImplemented
        return (self.text, self.words, self.segments, self.gaps) == (
            other.text,
            other.words,
            other.segments,
            other.gaps,
        )

    __hash__ = None  # type: ignore[assignment]
