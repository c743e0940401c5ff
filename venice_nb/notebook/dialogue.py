"""``venice_nb.dialogue`` and :class:`Dialogue`: a multi-voice script spoken as one file.

Each line is spoken in its speaker's voice (several lines in flight at once, order kept, each line
cached like any speech), and the lines are joined with short pauses into one file of one format.
The whole script is checked against the catalog first (:func:`venice_nb.core.dialogue.plan_dialogue`),
so a mistake is one error before anything is spoken. Lines in one format are joined by the core's
stdlib joiners; only lines that came back in different formats or layouts are decoded and
re-encoded (PyAV). The result shows as the transcript view, one line per paragraph with its
speaker's name, each clickable to seek, and so lasts like every other result.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from venice_nb.core.audioinfo import pcm_rate
from venice_nb.core.dialogue import (
    DEFAULT_PAUSE,
    CastMember,
    DialoguePlan,
    ScriptLine,
    parse_cast,
    pauses_between,
    plan_dialogue,
    script_lines,
)
from venice_nb.core.errors import APIError
from venice_nb.core.segments import AudioJoinError, TimedJoin, join_with_pauses
from venice_nb.core.types import CONTENT_TYPES, AudioResponse

from . import runner, settings
from .api import SpeechOutcome, SpeechRequest, UserError, _format_for, embed_speech, speech_async
from .embed import EmbeddedAudio, have_pyav, reencode_join
from .progress import ProgressBar
from .speech import AudioResult
from .transcript import Segment, Transcript, TranscriptWidget

__all__ = ["Dialogue", "DialogueLine", "dialogue"]

_FORMATS = tuple(CONTENT_TYPES)


@dataclass(frozen=True)
class DialogueLine:
    """One spoken line: who said what, with which voice, and where it lies in the joined audio."""

    number: int
    speaker: str
    text: str
    model: str
    voice: str
    start: float
    end: float
    audio: AudioResponse = field(repr=False, compare=False)
    cached: bool = False


class _ScriptView(Transcript):
    """The transcript view of a dialogue: adds the *cached* badge when every line was cached,
    and says why when the audio is not embedded."""

    cached = False
    note = ""

    def badges(self) -> list[list[str]]:
        out = super().badges()
        if self.cached:
            out.insert(1 if self.offline else 0, ["cached", "cached"])
        if self.note:
            out.append([self.note, "note"])
        return out


class Dialogue(AudioResult):
    """A spoken script: ``.audio`` (the joined file as an
    :class:`~venice_nb.core.AudioResponse`), ``.lines`` (each with its speaker, voice, start and
    end), ``.script``, ``.save(path)``. Shown as a player with the script beside it; clicking a
    speaker's name or a line seeks there."""

    def __init__(
        self,
        audio: AudioResponse,
        lines: Iterable[DialogueLine],
        cast: Mapping[str, CastMember],
        *,
        embedded: EmbeddedAudio | None = None,
        duration: float | None = None,
        offline: bool = False,
        cached: bool = False,
        cost_usd: float | None = None,
        autoplay: bool = False,
        note: str = "",
        reencoded: bool = False,
    ) -> None:
        self.audio = audio
        self.lines: list[DialogueLine] = list(lines)
        self.cast: dict[str, CastMember] = dict(cast)
        self.embedded = embedded
        self._duration = duration
        self.offline = offline
        self.cached = cached
        self.cost_usd = cost_usd
        self.autoplay = autoplay
        self.note = note
        self.reencoded = reencoded
        self._view: _ScriptView | None = None

    # -- data ---------------------------------------------------------------------------------
    @property
    def duration(self) -> float | None:
        """Seconds of the joined audio."""
        if self.embedded is not None and self.embedded.duration:
            return self.embedded.duration
        return self._duration if self._duration is not None else self.audio.duration

    @property
    def script(self) -> str:
        """The script as ``Name: text`` lines, one per spoken line."""
        return "\n".join(f"{line.speaker}: {line.text}" for line in self.lines)

    @property
    def speakers(self) -> list[str]:
        """Who speaks, in order of first line."""
        return list(dict.fromkeys(line.speaker for line in self.lines))

    @property
    def models(self) -> list[str]:
        """The models that spoke, in order of first line."""
        return list(dict.fromkeys(line.model for line in self.lines))

    def line_at(self, seconds: float) -> DialogueLine | None:
        """The line being spoken (or the last one begun) at ``seconds``; None before the first."""
        begun = [line for line in self.lines if line.start <= seconds]
        return begun[-1] if begun else None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the joined audio to ``path`` atomically; returns the path."""
        self.audio.save(path)
        return Path(path)

    @property
    def transcript(self) -> Transcript:
        """The script as a :class:`Transcript` of line-level segments labelled with their
        speaker (``.to_srt()``, ``.to_vtt()``, ``.to_json()``), with the embedded audio."""
        if self._view is None:
            view = _ScriptView(
                self.script,
                segments=[
                    Segment(line.text, line.start, line.end, line.speaker) for line in self.lines
                ],
                duration=self.duration,
                audio=self.embedded,
                model=" + ".join(self.models),
                offline=self.offline,
                cost_usd=self.cost_usd,
                autoplay=self.autoplay,
            )
            view.cached = self.cached
            view.note = self.note
            self._view = view
        return self._view

    # -- display ------------------------------------------------------------------------------
    def summary(self) -> str:
        return self.transcript.summary()

    def badges(self) -> list[list[str]]:
        return self.transcript.badges()

    def widget(self) -> TranscriptWidget:
        """The live view (a transcript widget; ``.seek(seconds)`` from Python)."""
        return self.transcript.widget()

    def _payload(self) -> dict[str, Any]:
        return self.transcript._payload()

    def _repr_html_(self) -> str:
        return self.transcript._repr_html_()

    def __repr__(self) -> str:
        tags = [t for t, _ in self.badges()]
        extra = f" [{', '.join(tags)}]" if tags else ""
        size = len(self.audio)
        kb = f"{size / 1000:.0f} KB" if size < 1_000_000 else f"{size / 1e6:.1f} MB"
        return f"<Dialogue {self.summary()}, {self.format or '?'} {kb}{extra}>"


# -- speaking -----------------------------------------------------------------------------------
async def _speak_lines(
    plan: DialoguePlan,
    options: dict[str, Any],
    *,
    use_cache: bool | None,
    concurrency: int,
    bar: ProgressBar | None,
) -> list[SpeechOutcome]:
    """Speak every line, ``concurrency`` at a time, in script order; the first failure cancels
    the rest and names its line."""
    semaphore = asyncio.Semaphore(concurrency)
    total = len(plan.lines)
    done = 0
    failed = False

    async def speak_line(line: ScriptLine) -> SpeechOutcome:
        nonlocal done, failed
        member = plan.member(line)
        assert member.model is not None
        request = SpeechRequest(
            text=line.text,
            model=member.model,
            voice=member.voice,
            format=plan.format_for(line),
            **options,
        )
        async with semaphore:
            if failed:  # woken by a failed line's release: send nothing more
                raise asyncio.CancelledError
            try:
                outcome = await speech_async(request, use_cache=use_cache)
            except APIError as exc:
                failed = True
                exc.message = f"Line {line.number} ({line.speaker}): {exc.message}"
                exc.args = (exc.message,)
                raise
            except BaseException:
                failed = True
                raise
        done += 1
        if bar is not None:
            bar.update(done, total)
        return outcome

    tasks = [asyncio.ensure_future(speak_line(line)) for line in plan.lines]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _plan_and_speak(
    lines: list[ScriptLine],
    cast: dict[str, CastMember],
    *,
    model: str,
    response_format: str | None,
    options: dict[str, Any],
    use_cache: bool | None,
    concurrency: int,
    bar: ProgressBar | None,
) -> tuple[DialoguePlan, list[SpeechOutcome]]:
    client = await runner.get_client()
    plan = await plan_dialogue(client, lines, cast, model=model, response_format=response_format)
    if plan.reencode and not have_pyav():
        asked = ", ".join(f"{m}: {f}" for m, f in plan.formats.items())
        raise UserError(
            f"The cast's models share no format that can be joined as it is ({asked}); joining "
            "them needs PyAV (pip install 'venice-nb[local]'), or cast voices whose models "
            "share a format."
        )
    outcomes = await _speak_lines(
        plan, options, use_cache=use_cache, concurrency=concurrency, bar=bar
    )
    return plan, outcomes


def _join(
    plan: DialoguePlan, outcomes: list[SpeechOutcome], pauses: list[float]
) -> tuple[TimedJoin, bool]:
    """The lines joined with their pauses, and whether they were re-encoded: joined as they are
    when they share one layout, else decoded and re-encoded."""
    fmt = plan.response_format
    if not plan.reencode:
        rate = pcm_rate(plan.models[0]) if fmt == "pcm" else None
        try:
            joined = join_with_pauses(
                fmt, [o.audio.content for o in outcomes], pauses, sample_rate=rate
            )
            return joined, False
        except AudioJoinError as exc:
            if not have_pyav():
                raise UserError(
                    f"The lines came back in audio layouts that cannot be joined as they are "
                    f"({exc}); joining them needs PyAV (pip install 'venice-nb[local]'), or "
                    "cast voices of one model."
                ) from exc
    parts = [
        (
            o.audio.content,
            o.audio.format,
            o.audio.sample_rate if o.audio.format == "pcm" else None,
        )
        for o in outcomes
    ]
    try:
        return reencode_join(parts, pauses, fmt), True
    except ValueError as exc:
        raise UserError(f"The lines could not be joined: {exc}") from exc


def _check_concurrency(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"max_concurrency must be a whole number >= 1, got {value!r}.")
    return value


def dialogue(
    lines: str | Iterable[tuple[str | None, str] | str],
    *,
    cast: str | Mapping[str, str | CastMember] | Iterable[CastMember],
    model: str | None = None,
    format: str | None = None,
    pause: float = DEFAULT_PAUSE,
    turn_pause: float | None = None,
    speed: float | None = None,
    language: str | None = None,
    prompt: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    out: str | os.PathLike[str] | None = None,
    autoplay: bool | None = None,
    cache: bool | None = None,
    progress: bool = True,
    max_concurrency: int | None = None,
) -> Dialogue:
    """Speak a script in several voices as one file and return a :class:`Dialogue`.

    ``lines`` is a list of ``(name, text)`` pairs (a name of ``None`` continues the previous
    speaker) or a ``"Name: text"`` script (one string, or a list of one string per line). ``cast`` maps each name to a voice,
    ``"MODEL:VOICE"`` for a voice of another model than ``model``: ``{"Ana": "af_heart",
    "Ben": "tts-xai-v1:ara"}`` or ``"Ana=af_heart,Ben=tts-xai-v1:ara"``. ``pause`` seconds of
    silence separate the lines, ``turn_pause`` (default 1.5 × ``pause``) where the speaker
    changes. ``format`` (else the ``out`` extension, else one every cast model offers, mp3 first)
    is the joined file's format. The whole script is checked before anything is spoken: an
    unknown speaker, an empty line, a speaker with no voice or a voice its model lacks raises
    :class:`~venice_nb.core.dialogue.DialogueError` naming the line or speaker. Lines are spoken
    ``max_concurrency`` at a time (default ``VeniceMagics.long_text_concurrency``), each cached,
    with a progress bar when there are more lines than that.
    """
    conf = settings.current()
    members = parse_cast(cast)
    script = script_lines(lines, members)
    gaps = pauses_between(script, pause, turn_pause)
    fmt = format or _format_for(out) or conf.format
    if fmt is not None and fmt not in _FORMATS:
        raise UserError(f"Unknown format {fmt!r}; use one of {', '.join(_FORMATS)}.")
    concurrency = _check_concurrency(
        max(1, conf.long_text_concurrency) if max_concurrency is None else max_concurrency
    )
    options: dict[str, Any] = {
        "speed": speed if speed is not None else conf.speed,
        "language": language if language is not None else conf.language,
        "prompt": prompt,
        "temperature": temperature,
        "top_p": top_p,
    }
    # A bar only when the lines take more than one round of requests: short scripts stay quiet.
    long_script = len(script) > concurrency
    bar = ProgressBar("Speaking the dialogue", unit="lines") if progress and long_script else None
    try:
        plan, outcomes = runner.run(
            _plan_and_speak(
                script,
                members,
                model=model or conf.model,
                response_format=fmt,
                options=options,
                use_cache=cache,
                concurrency=concurrency,
                bar=bar,
            ),
            poll=bar.draw if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
    joined, reencoded = _join(plan, outcomes, gaps)
    offline = all(o.offline for o in outcomes)
    costs = [o.cost_usd for o in outcomes if o.cost_usd is not None]
    headers = {"x-venice-nb-engine": "offline"} if offline else {}
    audio = AudioResponse(
        joined.data,
        content_type=CONTENT_TYPES[joined.response_format],
        format=joined.response_format,
        model=", ".join(plan.models),
        headers=headers,
        sample_rate=joined.sample_rate if joined.response_format == "pcm" else None,
    )
    if out is not None:
        audio.save(out)
    embedded, note = embed_speech(audio)
    spoken = [
        DialogueLine(
            number=line.number,
            speaker=line.speaker,
            text=line.text,
            model=plan.member(line).model or "",
            voice=plan.member(line).voice,
            start=round(start, 3),
            end=round(end, 3),
            audio=outcome.audio,
            cached=outcome.cached,
        )
        for line, outcome, (start, end) in zip(script, outcomes, joined.spans, strict=True)
    ]
    return Dialogue(
        audio,
        spoken,
        plan.cast,
        embedded=embedded,
        duration=joined.duration,
        offline=offline,
        cached=all(o.cached for o in outcomes),
        cost_usd=sum(costs) if costs and not offline else None,
        autoplay=conf.autoplay if autoplay is None else autoplay,
        note=note,
        reencoded=reencoded,
    )
