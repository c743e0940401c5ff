"""Multi-voice scripts: ``Name: text`` lines, a cast of voices, and one joined file with pauses.

The pieces a dialogue is made of, usable from any script: :func:`parse_cast` reads
``"Ana=af_heart,Ben=tts-xai-v1:ara"``; :func:`script_lines` reads a ``Name: text`` script or a
list of ``(name, text)`` pairs; :func:`plan_dialogue` checks the whole script against the live
catalog (every speaker cast, every voice offered by its model) and picks one format every model
can produce, all before anything is spoken; :func:`pauses_between` gives the silences, and
:func:`~venice_nb.core.containers.join_with_pauses` joins the lines' audio and says where each
line lies. Every mistake is one :class:`DialogueError` naming the line or speaker and the fix.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .audioinfo import pcm_rate
from .errors import APIError, InvalidRequestError

if TYPE_CHECKING:
    from .client import VeniceClient
    from .types import ModelInfo

__all__ = [
    "DEFAULT_PAUSE",
    "FORMAT_PREFERENCE",
    "CastMember",
    "DialogueError",
    "DialoguePlan",
    "ScriptLine",
    "parse_cast",
    "parse_script",
    "pauses_between",
    "plan_dialogue",
    "script_lines",
]

DEFAULT_PAUSE = 0.4
"""Seconds of silence between two lines of the same speaker."""
TURN_PAUSE_FACTOR = 1.5
"""A change of speaker pauses this much longer than ``pause`` unless ``turn_pause`` is given."""
MAX_PAUSE = 10.0
FORMAT_PREFERENCE: tuple[str, ...] = ("mp3", "opus", "aac", "flac", "wav", "pcm")
"""Formats tried, in order, for a dialogue whose format is not given: compact ones first."""

_NAME = re.compile(r"[^\W\d_][\w.'’ -]*")
_MAX_NAME_WORDS = 3
_MAX_NAME_CHARS = 40


class DialogueError(InvalidRequestError):
    """A script or cast that cannot be spoken, found before any request; the message names the
    line (1-based) or the speaker and says how to fix it."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        speaker: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, param=param)
        self.line = line
        self.speaker = speaker

    def __reduce__(self) -> Any:
        state = {"param": self.param, "line": self.line, "speaker": self.speaker}
        return (type(self), (self.message,), state)


@dataclass(frozen=True)
class CastMember:
    """Who speaks: a name, the voice, and the model when it is not the dialogue's default."""

    name: str
    voice: str
    model: str | None = None

    def __str__(self) -> str:
        return f"{self.name}={self.model + ':' if self.model else ''}{self.voice}"


@dataclass(frozen=True)
class ScriptLine:
    """One line of a script: its 1-based number (in the cell, or in the list), speaker and text."""

    number: int
    speaker: str
    text: str


def _quote(text: str, limit: int = 40) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    names = list(known)
    lowered = {n.lower(): n for n in names}
    close = [lowered[name.lower()]] if name.lower() in lowered else []
    close += [n for n in difflib.get_close_matches(name, names, n=2, cutoff=0.6) if n not in close]
    return f" Did you mean {' or '.join(close)}?" if close else ""


def _member(name: str, value: Any, entry: str) -> CastMember:
    if isinstance(value, CastMember):
        return CastMember(name, value.voice, value.model)
    if not isinstance(value, str):
        raise DialogueError(
            f"The cast gives {name} a {type(value).__name__}; give a voice id such as "
            f"'af_heart', or 'MODEL:VOICE' such as 'tts-xai-v1:ara'.",
            speaker=name,
            param="cast",
        )
    model, _, voice = value.strip().rpartition(":")
    voice, model = voice.strip(), model.strip()
    if not voice:
        raise DialogueError(
            f"Cast entry {entry!r} gives {name} no voice; write {name}=VOICE, e.g. {name}=af_heart.",
            speaker=name,
            param="cast",
        )
    if ":" in value and not model:
        raise DialogueError(
            f"Cast entry {entry!r} has an empty model before ':'; write {name}=MODEL:VOICE, e.g. "
            f"{name}=tts-xai-v1:{voice}, or drop the ':'.",
            speaker=name,
            param="cast",
        )
    return CastMember(name, voice, model or None)


def parse_cast(
    cast: str | Mapping[str, str | CastMember] | Iterable[CastMember],
) -> dict[str, CastMember]:
    """Read a cast: ``"Ana=af_heart, Ben=tts-xai-v1:ara"``, a mapping of names to ``VOICE`` or
    ``MODEL:VOICE`` strings, or :class:`CastMember` objects. Names are kept as written (matched
    exactly against the script)."""
    members: dict[str, CastMember] = {}
    if isinstance(cast, str):
        entries: list[tuple[str, Any, str]] = []
        for raw in cast.split(","):
            entry = raw.strip()
            if not entry:
                continue
            name, eq, value = entry.partition("=")
            if not eq:
                raise DialogueError(
                    f"Cast entry {entry!r} has no '='; write NAME=VOICE or NAME=MODEL:VOICE, "
                    f"e.g. Ana=af_heart,Ben=tts-xai-v1:ara.",
                    param="cast",
                )
            entries.append((name.strip(), value, entry))
    elif isinstance(cast, Mapping):
        entries = [(str(k).strip(), v, f"{k}={v}") for k, v in cast.items()]
    else:
        try:
            items = list(cast)
        except TypeError:
            items = None
        if items is None or not all(isinstance(m, CastMember) for m in items):
            raise DialogueError(
                f"cast must be a string such as 'Ana=af_heart,Ben=bm_george' or a dict of names "
                f"to voices, not {type(cast).__name__}.",
                param="cast",
            )
        entries = [(m.name.strip(), m, str(m)) for m in items]
    for name, value, entry in entries:
        if not name:
            raise DialogueError(
                f"Cast entry {entry!r} has no name before '='; write NAME=VOICE, e.g. Ana=af_heart.",
                param="cast",
            )
        if ":" in name or "\n" in name:
            raise DialogueError(
                f"Cast name {name!r} holds ':' or a line break; use a plain name such as Ana.",
                speaker=name,
                param="cast",
            )
        if name in members:
            raise DialogueError(
                f"{name} is cast twice ({members[name]} and {entry}); keep one.",
                speaker=name,
                param="cast",
            )
        members[name] = _member(name, value, entry)
    if not members:
        raise DialogueError(
            "The cast is empty; give each speaker a voice, e.g. 'Ana=af_heart,Ben=bm_george'.",
            param="cast",
        )
    return members


def _looks_like_name(text: str) -> bool:
    text = text.strip()
    return (
        0 < len(text) <= _MAX_NAME_CHARS
        and len(text.split()) <= _MAX_NAME_WORDS
        and _NAME.fullmatch(text) is not None
    )


def _unknown_speaker(
    name: str, number: int, line: str, cast: Sequence[str], previous: str | None = None
) -> DialogueError:
    fix = f"Add {name}=VOICE to the cast or correct the name"
    if previous is not None:
        fix += f", or, if it is {previous}'s text, start the line with '{previous}: '"
    return DialogueError(
        f"Line {number} ({_quote(line)}) is spoken by {name}, who is not in the cast "
        f"({', '.join(cast)}).{_did_you_mean(name, cast)} {fix}.",
        line=number,
        speaker=name,
        param="cast",
    )


def parse_script(script: str, cast: Iterable[str]) -> list[ScriptLine]:
    """Read ``Name: text`` lines (numbered from 1 as they stand in ``script``).

    A line whose text before the first ``:`` is a cast name starts that speaker's line; a line
    with no such prefix is another line by the previous speaker (so a colon inside the text, as
    in ``10:30``, is kept); blank lines are skipped. A prefix that looks like a name but is not
    in the cast, a first line with no speaker, and a name with nothing after it are errors.
    """
    names = list(cast)
    known = set(names)
    out: list[ScriptLine] = []
    speaker: str | None = None
    for number, raw in enumerate(script.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        prefix, colon, rest = line.partition(":")
        text = line
        if colon and prefix.strip() in known:
            speaker, text = prefix.strip(), rest.strip()
        elif colon and _looks_like_name(prefix) and not rest.startswith("//"):
            raise _unknown_speaker(prefix.strip(), number, line, names, speaker)
        if not text:
            raise DialogueError(
                f"Line {number} ({_quote(line)}) is empty; write what {speaker} says after the "
                f"colon, or delete the line.",
                line=number,
                speaker=speaker,
            )
        if speaker is None:
            example = f"{names[0]}: {text}" if names else f"Ana: {text}"
            raise DialogueError(
                f"Line {number} ({_quote(line)}) has no speaker; start it with a name from the "
                f"cast, e.g. {_quote(example)}.",
                line=number,
            )
        out.append(ScriptLine(number, speaker, text))
    return out


def script_lines(
    lines: str | Iterable[tuple[str | None, str] | str], cast: Iterable[str]
) -> list[ScriptLine]:
    """The script's lines from a ``Name: text`` string (see :func:`parse_script`), a list of
    such strings, or ``(name, text)`` pairs, where a name of ``None`` or ``""`` continues the
    previous speaker."""
    names = list(cast)
    if not isinstance(lines, str):
        lines = list(lines)
        if lines and all(isinstance(item, str) for item in lines):
            lines = "\n".join(str(item).replace("\n", " ") for item in lines)
    if isinstance(lines, str):
        out = parse_script(lines, names)
    else:
        out = []
        speaker: str | None = None
        for number, item in enumerate(lines, start=1):
            if not (isinstance(item, tuple | list) and len(item) == 2):
                raise DialogueError(
                    f"Line {number} is {_quote(repr(item))}; each line must be a (name, text) "
                    f"pair such as ('Ana', 'Hello.').",
                    line=number,
                )
            name, text = item
            if name is not None and not isinstance(name, str):
                raise DialogueError(
                    f"Line {number} names its speaker with a {type(name).__name__}; use the "
                    f"speaker's name as a string, or None to continue the previous speaker.",
                    line=number,
                )
            if name and name.strip():
                if name.strip() not in names:
                    raise _unknown_speaker(name.strip(), number, f"{name}: {text}", names)
                speaker = name.strip()
            if speaker is None:
                raise DialogueError(
                    f"Line {number} ({_quote(str(text))}) has no speaker; give the first line a "
                    f"name from the cast ({', '.join(names)}).",
                    line=number,
                )
            if not isinstance(text, str) or not text.strip():
                raise DialogueError(
                    f"Line {number} ({speaker}) is empty; give {speaker} some words or drop the line.",
                    line=number,
                    speaker=speaker,
                )
            out.append(ScriptLine(number, speaker, text.strip()))
    if not out:
        raise DialogueError(
            "The script has no lines; write one per line as 'Name: text', e.g. 'Ana: Hello.'"
        )
    return out


def _check_pause(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise DialogueError(f"{name} must be a number of seconds, e.g. 0.4.", param=name)
    if not 0 <= value <= MAX_PAUSE:
        raise DialogueError(
            f"{name} must be from 0 to {MAX_PAUSE:g} seconds, got {value:g}.", param=name
        )
    return float(value)


def pauses_between(
    lines: Sequence[ScriptLine], pause: float = DEFAULT_PAUSE, turn_pause: float | None = None
) -> list[float]:
    """Seconds of silence after each line but the last: ``pause`` within one speaker's lines,
    ``turn_pause`` (default ``1.5 * pause``) where the speaker changes."""
    same = _check_pause(pause, "pause")
    turn = (
        round(same * TURN_PAUSE_FACTOR, 3)
        if turn_pause is None
        else _check_pause(turn_pause, "turn_pause")
    )
    return [
        turn if nxt.speaker != line.speaker else same for line, nxt in itertools.pairwise(lines)
    ]


@dataclass(frozen=True)
class DialoguePlan:
    """A checked script: every line with its voice and model, the format each model is asked
    for, and the format of the joined file. ``reencode`` says the lines cannot be joined as
    they come (different formats or PCM rates) and need decoding and re-encoding."""

    lines: list[ScriptLine]
    cast: dict[str, CastMember]  # every member with its model resolved
    response_format: str
    formats: dict[str, str] = field(default_factory=dict)  # model -> format to request
    reencode: bool = False

    def member(self, line: ScriptLine) -> CastMember:
        """Who speaks ``line``."""
        return self.cast[line.speaker]

    def format_for(self, line: ScriptLine) -> str:
        """The format ``line`` is requested in."""
        model = self.cast[line.speaker].model
        return self.formats.get(model or "", self.response_format)

    @property
    def models(self) -> list[str]:
        """The models that speak, in order of first line."""
        seen: dict[str, None] = {}
        for line in self.lines:
            seen.setdefault(self.cast[line.speaker].model or "", None)
        return list(seen)


def _choose_formats(
    models: Sequence[str], supported: Mapping[str, Sequence[str] | None], wanted: str | None
) -> tuple[str, dict[str, str], bool]:
    """(joined format, format per model, whether re-encoding is needed)."""

    def offers(model: str, fmt: str) -> bool:
        formats = supported.get(model)
        return not formats or fmt in formats

    def best(model: str) -> str:
        return next((f for f in FORMAT_PREFERENCE if offers(model, f)), "mp3")

    pcm_rates = {pcm_rate(m) for m in models}
    if wanted is not None:
        formats = {m: wanted if offers(m, wanted) else best(m) for m in models}
        mixed_pcm = wanted == "pcm" and len(pcm_rates) > 1
        return wanted, formats, mixed_pcm or any(f != wanted for f in formats.values())
    for fmt in FORMAT_PREFERENCE:
        if fmt == "pcm" and len(pcm_rates) > 1:
            continue  # headerless PCM at two rates cannot be joined as it is
        if all(offers(m, fmt) for m in models):
            return fmt, dict.fromkeys(models, fmt), False
    formats = {m: best(m) for m in models}
    return formats[models[0]], formats, True


async def _other_model_hint(client: VeniceClient, member: CastMember) -> str:
    """A hint naming the catalog models that do offer the member's voice (empty if none)."""
    try:
        models = await client.models.list("tts")
    except APIError:
        return ""
    owners = [m.id for m in models if member.voice in m.model_spec.voices]
    if not owners:
        return ""
    return (
        f" {member.voice} is a voice of {', '.join(owners)}; write "
        f"{member.name}={owners[0]}:{member.voice}."
    )


async def plan_dialogue(
    client: VeniceClient,
    lines: Sequence[ScriptLine],
    cast: Mapping[str, CastMember],
    *,
    model: str,
    response_format: str | None = None,
) -> DialoguePlan:
    """Check every cast member's model and voice against the catalog and choose formats, before
    anything is spoken. ``model`` is the model of members that name none. One format every
    speaking model offers is preferred (``response_format`` when given); when there is none,
    each model gets its best and the plan says ``reencode``. Raises :class:`DialogueError`."""
    resolved = {name: CastMember(name, m.voice, m.model or model) for name, m in cast.items()}
    infos: dict[str, ModelInfo | None] = {}
    for name, member in resolved.items():
        assert member.model is not None
        try:
            info = await client.audio.check_voice(model=member.model, voice=member.voice)
        except InvalidRequestError as exc:
            hint = await _other_model_hint(client, member) if exc.param == "voice" else ""
            raise DialogueError(
                f"Cast entry {cast[name]}: {exc.message}{hint}", speaker=name, param="cast"
            ) from None
        infos[member.model] = info
    for line in lines:
        if line.speaker not in resolved:
            raise _unknown_speaker(line.speaker, line.number, line.text, list(resolved))
    speaking: list[str] = []
    for line in lines:
        m = resolved[line.speaker].model
        assert m is not None
        if m not in speaking:
            speaking.append(m)
    supported = {
        m: (info.model_spec.supported_formats if (info := infos.get(m)) is not None else None)
        for m in speaking
    }
    fmt, formats, reencode = _choose_formats(speaking, supported, response_format)
    return DialoguePlan(list(lines), resolved, fmt, formats, reencode)
