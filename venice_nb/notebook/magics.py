"""IPython magics: ``%%venice_speak``, ``%venice_transcribe``, ``%venice_record``, ``%venice_voices``,
``%venice_cache``.

``%load_ext venice_nb`` registers them. Defaults are traitlets on :class:`VeniceMagics`
(``%config VeniceMagics.voice = "af_sky"``). A mistake by the user (an empty cell, an unknown
voice, a missing file, a refused request) prints one line, not a traceback.
"""

from __future__ import annotations

import functools
import keyword
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from venice_nb.core.dialogue import DEFAULT_PAUSE
from venice_nb.core.errors import APIError, IncompleteTranscriptionError

from . import api, settings
from .cache import SpeechCache
from .display import report_error
from .embed import TranscodeUnavailable
from .settings import Settings

__all__ = ["VeniceMagics", "load_ipython_extension", "unload_ipython_extension"]

F = TypeVar("F", bound=Callable[..., Any])

_FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]
_VALUED = {
    "--voice", "-v", "--model", "-m", "--format", "-f", "--speed", "--language", "-l",
    "--prompt", "--temperature", "--top-p", "--out", "-o", "--var", "--cast", "--pause",
    "--turn-pause",
}  # fmt: skip
_TOKEN = re.compile(r"""(?:"[^"]*"|'[^']*'|\S)+""")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


_CORE_VOICE_HINT = re.compile(r"Call client\.audio\.get_voices\(model_id='([^']+)'\) to list")


def notebook_message(message: str) -> str:
    """A core error message with its Python hints turned into the notebook's own commands."""
    return _CORE_VOICE_HINT.sub(r"Run %venice_voices --model \1 to list", message)


def _user_errors(fn: F) -> F:
    """Turn the errors a user can meet into one line on stderr."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from venice_nb.session import BackendUnavailableError

        try:
            return fn(*args, **kwargs)
        except (
            APIError,
            api.UserError,
            BackendUnavailableError,
            TranscodeUnavailable,
            TimeoutError,
            OSError,
        ) as exc:
            report_error(notebook_message(str(exc)) or type(exc).__name__)
        except KeyboardInterrupt:
            report_error("interrupted; the request was cancelled.")
        return None

    return wrapper  # type: ignore[return-value]


def _speech_options(args: Any) -> dict[str, Any]:
    """The %%venice_speak options a single voice and a cast share (format, speed, ..., cache)."""
    return {
        "format": args.format,
        "speed": args.speed,
        "language": args.language,
        "prompt": args.prompt,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "out": args.out,
        "autoplay": True if args.autoplay else None,
        "cache": False if args.no_cache else None,
    }


def _split_line(line: str) -> tuple[str, str]:
    """Split ``%venice_speak --voice x Some text`` into its options and the text after them."""
    expect_value = False
    for match in _TOKEN.finditer(line):
        token = match.group(0)
        if expect_value:
            expect_value = False
            continue
        if token.startswith("-") and len(token) > 1 and not token[1:2].isdigit():
            expect_value = token in _VALUED
            continue
        return line[: match.start()], line[match.start() :].strip()
    return line, ""


def fill_placeholders(text: str, namespace: dict[str, Any]) -> str:
    """Replace ``{name}`` with the value of ``name`` from ``namespace``; ``{{``/``}}`` are braces."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if keyword.iskeyword(name) or name not in namespace:
            raise api.UserError(
                f"The text uses {{{name}}} but no variable {name!r} is defined; define it, or "
                f"write {{{{{name}}}}} for literal braces."
            )
        return str(namespace[name])

    return _PLACEHOLDER.sub(substitute, text)


@magics_class
class VeniceMagics(Magics, Settings):
    """Speak, transcribe and browse voices through the Venice audio API (offline engine without
    VENICE_API_KEY). Settings: %config VeniceMagics."""

    @property
    def _user_ns(self) -> dict[str, Any]:
        assert self.shell is not None, "VeniceMagics needs a shell"
        ns: dict[str, Any] = self.shell.user_ns
        return ns

    def _lookup(self, name: str) -> Any:
        """The object a SOURCE names (``talk`` or ``talk.audio``), else ``name`` as a path."""
        head, *attrs = name.split(".")
        if head.isidentifier() and head in self._user_ns and all(a.isidentifier() for a in attrs):
            obj = self._user_ns[head]
            for attr in attrs:
                if not hasattr(obj, attr):
                    return name  # e.g. talk.wav while a variable `talk` exists: a file name
                obj = getattr(obj, attr)
            return obj
        return name

    def _store(self, name: str | None, value: Any) -> None:
        if name:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise api.UserError(f"--var {name!r} is not a valid Python variable name.")
            self._user_ns[name] = value

    @magic_arguments()
    @argument("--voice", "-v", help="voice id, e.g. af_heart (default: VeniceMagics.voice)")
    @argument("--model", "-m", help="TTS model, e.g. tts-kokoro (default: VeniceMagics.model)")
    @argument(
        "--format",
        "-f",
        choices=_FORMATS,
        help="audio format to request (default: the --out extension, else the model's default)",
    )
    @argument("--speed", type=float, help="speaking speed, 0.25 to 4.0")
    @argument("--language", "-l", help="language hint, for models that take one")
    @argument("--prompt", help="style instructions, for models that take them (max 500 chars)")
    @argument("--temperature", type=float, help="sampling temperature 0 to 2, where supported")
    @argument("--top-p", dest="top_p", type=float, help="nucleus sampling 0 to 1, where supported")
    @argument("--out", "-o", help="also write the audio to this file")
    @argument("--var", help="keep the result (a Speech; with --cast a Dialogue) in this variable")
    @argument("--autoplay", action="store_true", help="start playing as soon as it is shown")
    @argument("--no-cache", action="store_true", help="ask the server even if cached")
    @argument(
        "--no-stream",
        action="store_true",
        help="wait for the whole audio instead of hearing it as it is made",
    )
    @argument(
        "--cast",
        help='speak a "Name: text" script in several voices: "Ana=af_heart,Ben=tts-xai-v1:ara" '
        "(NAME=VOICE, or NAME=MODEL:VOICE for another model), or a variable holding a dict",
    )
    @argument(
        "--pause",
        type=float,
        help=f"with --cast: seconds of silence between lines (default {DEFAULT_PAUSE:g})",
    )
    @argument(
        "--turn-pause",
        dest="turn_pause",
        type=float,
        help="with --cast: seconds of silence where the speaker changes (default 1.5 × --pause)",
    )
    @line_cell_magic
    @_user_errors
    def venice_speak(self, line: str, cell: str | None = None) -> Any:
        """Speak the cell (or the rest of the line) and show an audio player.

        For example:

            %%venice_speak --voice af_sky --out hello.mp3
            Hello {name}, this cell is read aloud.

            %%venice_speak --cast "Ana=af_heart,Ben=bm_george"
            Ana: Did you hear the news?
            Ben: Not yet. Tell me!

        {name} inserts a variable from the notebook ({{ and }} are literal braces).
        On a streaming model (the offline engine's voices, tts-kokoro, tts-xai-v1) in JupyterLab,
        Notebook 7 or Voila the first sentence plays while the rest is synthesised; then the
        output becomes the compact player (--no-stream waits for the whole audio).
        Text over 4096 characters is spoken in parts with a progress bar. With --cast each
        "Name: text" line is spoken in its speaker's voice and the lines are joined into one
        file, shown with the script: click a name or a line to hear it. Repeated speech comes
        from the on-disk cache (%venice_cache). Defaults: %config VeniceMagics.
        """
        options, rest = (line, "") if cell is not None else _split_line(line)
        args = parse_argstring(self.venice_speak, options)
        text = cell if cell is not None else rest
        if not text or not text.strip():
            where = "cell" if cell is not None else "line"
            raise api.UserError(
                f"Nothing to speak: the {where} is empty; write the text to speak "
                + ("in the cell body." if cell is not None else "after the options.")
            )
        if args.out is not None:
            _check_out_path(args.out)
        if args.cast is not None:
            return self._speak_dialogue(args, text)
        if args.turn_pause is not None or args.pause is not None:
            raise api.UserError(
                "--pause and --turn-pause go with --cast (a script in several voices); drop "
                "them, or add --cast."
            )
        text = fill_placeholders(text.strip(), self._user_ns)
        speech = api.speak(
            text,
            voice=args.voice,
            model=args.model,
            **_speech_options(args),
            stream=not args.no_stream,
        )
        self._store(args.var, speech)
        return speech

    def _speak_dialogue(self, args: Any, text: str) -> Any:
        """The --cast form of %%venice_speak: a script in several voices, as one file."""
        from .dialogue import dialogue

        if args.voice is not None:
            raise api.UserError(
                "--voice and --cast together: give each speaker a voice in --cast "
                '(e.g. --cast "Ana=af_heart,Ben=bm_george"), or drop --cast.'
            )
        cast: Any = args.cast.strip().strip("\"'")
        if cast.isidentifier() and isinstance(self._user_ns.get(cast), dict):
            cast = self._user_ns[cast]
        result = dialogue(
            fill_placeholders(text, self._user_ns),
            cast=cast,
            model=args.model,
            pause=DEFAULT_PAUSE if args.pause is None else args.pause,
            turn_pause=args.turn_pause,
            **_speech_options(args),
        )
        self._store(args.var, result)
        return result

    @magic_arguments()
    @argument(
        "source",
        help="an audio file path, or the name of a variable holding audio bytes or a speech result",
    )
    @argument("--model", "-m", help="ASR model (default: VeniceMagics.transcribe_model)")
    @argument("--language", "-l", help="ISO 639-1 language code, e.g. en")
    @argument(
        "--format",
        "-f",
        choices=["view", "text", "json", "srt", "vtt"],
        default="view",
        help="what to show: the clickable transcript view (default), or text, json, srt, vtt",
    )
    @argument("--var", help="keep the result (a Transcript) in this variable")
    @argument("--track", type=int, help="audio track of a video or multi-track file, from 0")
    @argument(
        "--max-piece-seconds",
        type=float,
        help="long audio is sent in pieces of at most this many seconds "
        "(default: VeniceMagics.max_piece_seconds, 600)",
    )
    @argument(
        "--concurrency",
        type=int,
        help="pieces in flight at once (default: VeniceMagics.transcribe_concurrency, 4)",
    )
    @argument("--no-cache", action="store_true", help="do not reuse or keep finished pieces")
    @line_magic
    @_user_errors
    def venice_transcribe(self, line: str) -> Any:
        """Transcribe audio and show it as a transcript whose words are clickable timestamps.

        For example:

            %venice_transcribe talk.mp3 --var talk
            %venice_transcribe speech --format srt

        SOURCE is a path (audio or video of any length: long files are sent in pieces cut at
        quiet moments, with a progress bar), or a variable holding audio bytes or a
        %%venice_speak --var result. The transcript keeps .text, .words, .segments, .to_srt(),
        .to_vtt(), .to_dataframe() and .find(phrase). If some pieces keep failing, the partial
        transcript is shown and kept, and running the same line again sends only those pieces.
        """
        args = parse_argstring(self.venice_transcribe, line)
        source = self._lookup(args.source)
        try:
            transcript = api.transcribe(
                source,
                model=args.model,
                language=args.language,
                track=args.track,
                max_piece_seconds=args.max_piece_seconds,
                concurrency=args.concurrency,
                cache=not args.no_cache,
            )
        except IncompleteTranscriptionError as exc:
            report_error(str(exc))
            transcript = exc.transcript
        self._store(args.var, transcript)
        if args.format == "view":
            return transcript
        shown = {
            "text": transcript.text,
            "json": transcript.to_json(),
            "srt": transcript.to_srt(),
            "vtt": transcript.to_vtt(),
        }[args.format]
        sys.stdout.write(shown.rstrip("\n") + "\n")
        return None

    @magic_arguments()
    @argument("--seconds", "-s", type=float, help="stop by itself after N seconds")
    @argument(
        "--transcribe",
        "-t",
        action="store_true",
        help="transcribe as soon as recording stops and show the transcript view",
    )
    @argument(
        "--model", "-m", help="ASR model for --transcribe (default: VeniceMagics.transcribe_model)"
    )
    @argument("--language", "-l", help="ISO 639-1 language code for --transcribe, e.g. en")
    @argument("--var", help="keep the result (a Recording) in this variable")
    @line_magic
    @_user_errors
    def venice_record(self, line: str) -> None:
        """Record from the microphone: a recorder (record / stop, elapsed time, a level meter)
        whose recording then plays in the output and is kept in --var.

        For example:

            %venice_record --seconds 10 --transcribe --var rec
            %venice_transcribe rec

        The Recording works wherever a speech result does: rec.save("take.webm"),
        rec.transcribe(), %venice_transcribe rec. Needs JupyterLab, Notebook 7 or Voila
        (the browser asks for the microphone; the page must be https:// or localhost).
        """
        args = parse_argstring(self.venice_record, line)
        from .recorder import record

        record(
            seconds=args.seconds,
            transcribe=args.transcribe,
            model=args.model,
            language=args.language,
            var=args.var,
        )

    @magic_arguments()
    @argument("--model", "-m", help="only this TTS model's voices")
    @argument("--gender", "-g", choices=["female", "male", "unknown"], help="only this gender")
    @argument("--region", "-r", help="Kokoro region code, e.g. a (American English), b, j, z")
    @argument("--language", "-l", help="only this language, e.g. English")
    @line_magic
    @_user_errors
    def venice_voices(self, line: str) -> Any:
        """Show the voice explorer: every catalog voice, filterable, with a spoken preview and a
        copyable "%%venice_speak --model M --voice V" line."""
        args = parse_argstring(self.venice_voices, line)
        from .voices import VoiceExplorer

        try:
            return VoiceExplorer(
                model=args.model or "",
                gender=args.gender or "",
                region=args.region,
                language=args.language or "",
            )
        except ValueError as exc:
            if isinstance(exc, APIError):
                raise
            raise api.UserError(str(exc)) from None

    @magic_arguments()
    @argument("action", nargs="?", choices=["info", "clear"], default="info")
    @line_magic
    @_user_errors
    def venice_cache(self, line: str) -> None:
        """Show (info) or empty (clear) the on-disk cache: speech, and the finished pieces of
        long transcriptions (kept so that a rerun sends only what is missing)."""
        from venice_nb.longform import PieceCache

        args = parse_argstring(self.venice_cache, line)
        cache = SpeechCache(self.cache_path)
        pieces = PieceCache(self.cache_path / "transcripts")
        if args.action == "clear":
            removed = cache.clear()
            gone = pieces.clear()
            print(
                f"Removed {removed} cached speech files and {gone} transcribed pieces from "
                f"{cache.directory}."
            )
        else:
            count, size = pieces.entries()
            print(f"{cache.info()}; {count} transcribed pieces ({size / 1e6:.1f} MB)")


_MAGIC_NAMES = {
    "line": (
        "venice_speak",
        "venice_transcribe",
        "venice_record",
        "venice_voices",
        "venice_cache",
    ),
    "cell": ("venice_speak",),
}

# IPython's magic_arguments writes the usage as a reST literal block ("::" then the usage) for
# Sphinx; `%venice_speak?` is read as plain text in a notebook, so say "Usage:" instead.
for _name in _MAGIC_NAMES["line"]:
    _method = getattr(VeniceMagics, _name)
    if _method.__doc__:
        _method.__doc__ = _method.__doc__.replace("::\n\n  %", "Usage:\n\n  %", 1)


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics and make their settings the ones in force."""
    magics = VeniceMagics(shell=ipython)
    ipython.register_magics(magics)
    settings.use(magics)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics, forget their settings and stop the background loop."""
    manager = ipython.magics_manager
    magics = manager.registry.pop("VeniceMagics", None)
    for kind, names in _MAGIC_NAMES.items():
        for name in names:
            manager.magics[kind].pop(name, None)
    if magics is not None and magics in ipython.configurables:
        ipython.configurables.remove(magics)
    settings.use(None)
    from . import runner

    runner.shutdown()


def _check_out_path(out: str) -> None:
    """Refuse an ``--out`` that leaves the working folder (``../../etc/x.mp3``, ``/tmp/x``)
    before anything is spoken: a magic's output belongs beside the notebook."""
    cwd = Path.cwd().resolve()
    target = (cwd / Path(out).expanduser()).resolve()
    if target != cwd and cwd not in target.parents:
        raise api.UserError(
            f"--out {out!r} is outside the working folder {str(cwd)!r}; give a path inside it, "
            "or save elsewhere from Python with speech.save(path)."
        )
    if target.is_dir():
        raise api.UserError(
            f"--out {out!r} is a folder; give a file name such as {out!r}/speech.mp3."
        )
