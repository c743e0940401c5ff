"""``venice-nb``: speak, transcribe and list voices from a shell; ``serve`` runs the offline engine.

Without ``VENICE_API_KEY`` every command runs on the embedded offline engine (see
``venice_nb.session``), so ``venice-nb speak "Hello" --out hello.mp3`` works with no network.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core.errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    AuthenticationError,
    IncompleteTranscriptionError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
)

if TYPE_CHECKING:
    from .core.types import AudioTranscriptionResponse

INCOMPLETE_EXIT = 9
"""A transcript was written, but some stretches of the audio are missing from it."""
EXIT_CODES: tuple[tuple[type[BaseException], int, str], ...] = (
    (InvalidRequestError, 2, "bad input (fix the arguments)"),
    (AuthenticationError, 3, "authentication failed or not permitted (check VENICE_API_KEY)"),
    (PermissionDeniedError, 3, ""),
    (RateLimitError, 4, "rate limited after every retry (try again later)"),
    (APIConnectionError, 5, "the server could not be reached or timed out"),
    (APIResponseValidationError, 6, "the server answered with something that is not the API's"),
    (APIError, 7, "the server refused or failed the request"),
    (OSError, 8, "a file could not be read or written"),
)
"""Exit status per error class (first match wins); 0 is success, 130 an interrupt."""

__all__ = ["main"]

DEFAULT_MODEL = "tts-kokoro"
DEFAULT_VOICE = "af_heart"
DEFAULT_ASR_MODEL = "nvidia/parakeet-tdt-0.6b-v3"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="venice-nb",
        description="Text to speech and transcripts through the Venice audio API "
        "(offline engine when VENICE_API_KEY is not set).",
        epilog="exit status: 0 success; "
        + "; ".join(f"{code} {text}" for _, code, text in EXIT_CODES if text)
        + f"; {INCOMPLETE_EXIT} transcript written with stretches missing (rerun to retry them)"
        + "; 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    speak = sub.add_parser(
        "speak",
        help="speak text (argument, file or stdin) into an audio file, or a batch into many",
        description="Speak one text into --out, or with --batch every row of a CSV / JSON Lines "
        "file into its own file in --out-dir. A batch is resumable: a rerun skips the files "
        "that exist. Ctrl-C stops it after the requests already sent are written.",
    )
    speak.add_argument("text", nargs="?", help="text to speak; '-' or omitted reads stdin")
    speak.add_argument("--file", "-f", type=Path, help="read the text from this file")
    speak.add_argument("--out", "-o", type=Path, help="where to write the audio (one text)")
    speak.add_argument(
        "--batch",
        type=Path,
        metavar="FILE",
        help="a .csv (header row) or .jsonl file with the column text and optionally name, "
        "voice, model: one audio file per row, in --out-dir",
    )
    speak.add_argument(
        "--out-dir",
        type=Path,
        metavar="DIR",
        help="folder for a batch's files (created if missing)",
    )
    speak.add_argument("--voice", default=DEFAULT_VOICE, help=f"voice id (default {DEFAULT_VOICE})")
    speak.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"TTS model (default {DEFAULT_MODEL})"
    )
    speak.add_argument(
        "--format",
        dest="response_format",
        help="mp3, opus, aac, flac, wav or pcm (default: from --out; mp3 for --batch)",
    )
    speak.add_argument("--speed", type=float, help="0.25 to 4.0")
    speak.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="requests in flight: segments of a long text, items of a batch (default 4)",
    )
    speak.add_argument(
        "--requests-per-second",
        type=float,
        metavar="N",
        help="batch: cap this run's own rate (for several runs sharing one key)",
    )
    _add_scheduler(speak)

    tr = sub.add_parser(
        "transcribe",
        help="transcribe an audio or video file of any length, or a batch into many files",
        description="Transcribe audio or video of any size and length. A file over one "
        "request's limits (25 MB, --max-piece-seconds) and any video is decoded, cut at quiet "
        "moments and sent in pieces in parallel; finished pieces are cached, so running the same "
        "command again after a failure or Ctrl-C sends only what is missing. Exit status 9: the "
        "transcript was written but some stretches are missing (listed on stderr).",
    )
    tr.add_argument(
        "file",
        type=Path,
        nargs="?",
        help="audio or video file (wav, mp3, flac, m4a, aac, ogg, opus, webm, mp4, mov, mkv)",
    )
    tr.add_argument(
        "--model", default=DEFAULT_ASR_MODEL, help=f"ASR model (default {DEFAULT_ASR_MODEL})"
    )
    tr.add_argument("--language", help="ISO 639-1 code, e.g. en")
    tr.add_argument(
        "--format",
        dest="out_format",
        choices=["text", "json", "srt", "vtt"],
        default="text",
        help="output format (default text)",
    )
    tr.add_argument("--out", "-o", type=Path, help="write the transcript to this file (atomically)")
    tr.add_argument(
        "--track", type=int, metavar="N", help="audio track to use, counting from 0 (default 0)"
    )
    tr.add_argument(
        "--max-piece-seconds",
        type=float,
        default=600.0,
        metavar="S",
        help="longest piece sent in one request (default 600: 10 minutes)",
    )
    tr.add_argument(
        "--concurrency", type=int, default=4, help="pieces in flight at once (default 4)"
    )
    tr.add_argument(
        "--no-cache",
        action="store_true",
        help="do not reuse or keep finished pieces (default: kept in the cache directory)",
    )
    tr.add_argument(
        "--progress",
        choices=["auto", "always", "never"],
        default="auto",
        help="progress bar on stderr: auto (when stderr is a terminal), always, never",
    )
    _add_transcribe_batch(tr)

    voices = sub.add_parser("voices", help="list voices")
    voices.add_argument("--model", help="only this TTS model")
    voices.add_argument("--gender", choices=["male", "female", "unknown"])
    voices.add_argument("--region", help="Kokoro region code, e.g. a (American English)")

    sub.add_parser(
        "serve",
        help="run the offline engine as an HTTP server (see: venice-nb serve --help)",
        add_help=False,
    )
    return parser


def _add_scheduler(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="batch: run on this Dask cluster (e.g. tcp://10.0.0.5:8786), one rate limit shared "
        "by all workers; needs venice-nb[dask]",
    )


def _add_transcribe_batch(tr: argparse.ArgumentParser) -> None:
    """``transcribe --batch``: many recordings to transcript files (see _transcribe_batch)."""
    tr.add_argument(
        "--batch",
        metavar="FILE|FOLDER|GLOB",
        help="transcribe many files: a folder, a quoted glob ('calls/*.mp3') or one file; one "
        "transcript per source in --out-dir (json, txt for --format text, srt, vtt)",
    )
    tr.add_argument("--out-dir", type=Path, metavar="DIR", help="folder for a batch's transcripts")
    _add_scheduler(tr)


def _format_from_path(path: Path) -> str | None:
    ext = path.suffix.lower().lstrip(".")
    return {"ogg": "opus", "m4a": "aac", "raw": "pcm"}.get(ext, ext) or None


def _check_writable(out: Path) -> None:
    """Refuse an --out that cannot be written before any speech is made (it takes seconds)."""
    target = out.expanduser()
    if target.is_dir():
        raise IsADirectoryError(
            f"--out {out} is a directory; give a file name such as {out}/speech.mp3"
        )
    folder = target.parent  # Path('x.mp3').parent is Path('.')
    if not folder.is_dir():
        raise FileNotFoundError(f"--out {out}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise PermissionError(
            f"--out {out} cannot be written (permission denied); pick another path"
        )


def _check_speak_args(args: argparse.Namespace) -> None:
    """--batch and one text (TEXT, --file, --out) exclude each other; say which to drop."""
    if args.batch is not None:
        clash = [
            flag
            for flag, value in (("TEXT", args.text), ("--file", args.file), ("--out", args.out))
            if value is not None
        ]
        if clash:
            raise InvalidRequestError(
                f"--batch reads its texts from the file; drop {' and '.join(clash)} (the files go "
                "to --out-dir DIR).",
                param="batch",
            )
        if args.out_dir is None:
            raise InvalidRequestError(
                "--batch needs --out-dir DIR, the folder for its audio files.", param="out_dir"
            )
    elif args.out_dir is not None:
        raise InvalidRequestError(
            "--out-dir is for --batch FILE; to speak one text give --out FILE instead.",
            param="out_dir",
        )
    elif args.out is None:
        raise InvalidRequestError(
            "Say where to write the audio: --out FILE (or --batch FILE --out-dir DIR for many).",
            param="out",
        )
    if args.requests_per_second is not None and args.batch is None:
        raise InvalidRequestError(
            "--requests-per-second is for --batch.", param="requests_per_second"
        )
    if args.scheduler is not None and args.batch is None:
        raise InvalidRequestError("--scheduler is for --batch.", param="scheduler")


def _speak_batch(args: argparse.Namespace) -> int:
    """``speak --batch``: progress on stderr, a summary and each failure's reason at the end."""
    import signal
    import threading

    from .batch import speak_many
    from .core.batch import read_batch_file

    items = read_batch_file(args.batch)
    previous = signal.getsignal(signal.SIGTERM)
    in_main = threading.current_thread() is threading.main_thread()

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # stop like Ctrl-C: what was sent is finished and written

    if in_main:
        signal.signal(signal.SIGTERM, on_term)
    try:
        report = speak_many(
            items,
            out_dir=args.out_dir,
            voice=args.voice,
            model=args.model,
            format=args.response_format or "mp3",
            concurrency=args.concurrency,
            requests_per_second=args.requests_per_second,
            speed=args.speed,
            progress_file=sys.stderr,
            scheduler=args.scheduler,
        )
    except KeyboardInterrupt:
        print(
            "venice-nb: interrupted; the files written are complete, run the same command again "
            "to speak the rest",
            file=sys.stderr,
        )
        return 130
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    for item in report.failed:
        print(f"venice-nb: {item.name} failed: {item.reason}", file=sys.stderr)
    print(f"{report} -> {args.out_dir}")
    if report.ok:
        return 0
    errors = [r.error for r in report.items if r.error is not None]
    return next((code for cls, code, _ in EXIT_CODES if errors and isinstance(errors[0], cls)), 7)


def _transcribe_batch(args: argparse.Namespace) -> int:
    """``transcribe --batch``: progress on stderr, a summary and each failure at the end."""
    from .transcribe_batch import transcribe_many

    if args.batch is None:
        raise InvalidRequestError(
            "Give the audio FILE to transcribe, or --batch FOLDER|GLOB --out-dir DIR for many.",
            param="file",
        )
    if args.file is not None:
        raise InvalidRequestError(
            f"--batch reads its sources from {args.batch!r}; drop the FILE argument.",
            param="batch",
        )
    if args.out_dir is None:
        raise InvalidRequestError(
            "--batch needs --out-dir DIR, the folder for its transcripts.", param="out_dir"
        )
    try:
        report = transcribe_many(
            args.batch,
            out_dir=args.out_dir,
            model=args.model,
            language=args.language,
            format="txt" if args.out_format == "text" else args.out_format,
            scheduler=args.scheduler,
            progress_file=sys.stderr,
        )
    except KeyboardInterrupt:
        print(
            "venice-nb: interrupted; the transcripts written are complete, run the same command "
            "again to do the rest",
            file=sys.stderr,
        )
        return 130
    for item in report.failed:
        print(f"venice-nb: {item.source} failed: {item.reason}", file=sys.stderr)
    print(f"{report} -> {args.out_dir}")
    return 0 if report.ok else 7


async def _speak(args: argparse.Namespace) -> int:
    from .core.files import atomic_write
    from .core.segments import finalize
    from .session import get_backend, new_client

    assert args.out is not None
    if args.file is not None:
        text = args.file.read_text(encoding="utf-8")
    elif args.text in (None, "-"):
        text = sys.stdin.read()
    else:
        text = args.text
    _check_writable(args.out)
    fmt = args.response_format or _format_from_path(args.out) or "mp3"
    backend = get_backend()
    print(
        f"Speaking {len(text.split())} words with {args.model}/{args.voice} on the {backend.kind} backend…",
        file=sys.stderr,
    )

    def progress(p: Any) -> None:
        print(f"\r  segment {p.completed}/{p.total}", end="", file=sys.stderr, flush=True)

    async with new_client() as client:
        chunks = [
            c
            async for c in client.audio.stream_long_text(
                input=text,
                model=args.model,
                voice=args.voice,
                response_format=fmt,
                speed=args.speed,
                max_concurrency=args.concurrency,
                on_segment_complete=progress,
            )
        ]
    print(file=sys.stderr)
    data = finalize(fmt, b"".join(chunks))
    atomic_write(args.out, data)
    from .core.audioinfo import probe

    info = probe(data, fmt)
    dur = f", {info.duration:.1f} s" if info.duration else ""
    print(f"Wrote {args.out} ({len(data):,} bytes {fmt}{dur}).")
    return 0


def _transcript_text(result: AudioTranscriptionResponse, out_format: str) -> str:
    if out_format == "json":
        return result.model_dump_json(indent=2)
    if out_format in ("srt", "vtt"):
        from .core.subtitles import to_srt, to_vtt

        return (to_srt if out_format == "srt" else to_vtt)(result)
    return result.text.strip()


async def _transcribe(args: argparse.Namespace) -> int:
    from .core.files import atomic_write
    from .longform import ProgressBar, transcribe_file
    from .session import new_client

    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    bar = ProgressBar(args.file.name, file=sys.stderr) if show else None
    code = 0
    try:
        async with new_client() as client:
            result = await transcribe_file(
                client,
                args.file,
                model=args.model,
                language=args.language,
                timestamps=args.out_format != "text",
                track=args.track,
                max_piece_seconds=args.max_piece_seconds,
                concurrency=args.concurrency,
                cache=not args.no_cache,
                on_progress=bar.show if bar is not None else None,
            )
    except IncompleteTranscriptionError as exc:
        result = exc.transcript
        code = INCOMPLETE_EXIT
        for gap in exc.missing:
            print(
                f"venice-nb: missing {_clock(gap.start)}-{_clock(gap.end)}: {gap.reason}",
                file=sys.stderr,
            )
        print(f"venice-nb: {exc}", file=sys.stderr)
    finally:
        if bar is not None:
            bar.close()
    for warning in getattr(result, "warnings", []):
        print(f"venice-nb: warning: {warning}", file=sys.stderr)
    text = _transcript_text(result, args.out_format)
    if args.out is not None:
        atomic_write(args.out, (text.rstrip("\n") + "\n").encode("utf-8"))
        state = "partial transcript" if code else "transcript"
        print(f"Wrote the {state} to {args.out}.", file=sys.stderr)
    else:
        print(text)
    return code


def _clock(seconds: float) -> str:
    total = int(seconds)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


async def _voices(args: argparse.Namespace) -> int:
    from .session import new_client

    async with new_client() as client:
        voices = await client.audio.get_voices(
            model_id=args.model, gender=args.gender, region_code=args.region
        )
    for v in voices:
        print(f"{v.model_id:28} {v.label}")
    print(f"{len(voices)} voices", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``venice-nb`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        from .local.cli import main as serve_main

        return serve_main(argv[1:])  # handles a closed pipe itself
    args = _parser().parse_args(argv)
    runner = {"speak": _speak, "transcribe": _transcribe, "voices": _voices}[args.command]
    from .session import BackendUnavailableError

    try:
        if args.command == "speak":
            _check_speak_args(args)
            if args.batch is not None:
                return _speak_batch(args)
        if args.command == "transcribe" and (args.batch is not None or args.file is None):
            return _transcribe_batch(args)
        code = asyncio.run(runner(args))
        sys.stdout.flush()  # a closed pipe shows here, not in Python's last flush
        return code
    except BackendUnavailableError as exc:
        print(f"venice-nb: {exc}", file=sys.stderr)
        return 5
    except (APIError, OSError) as exc:
        if isinstance(exc, OSError) and exc.filename is not None:
            message = f"{exc.filename}: {exc.strerror or exc}"
        else:
            message = str(exc)
        print(f"venice-nb: {message}", file=sys.stderr)
        return next(code for cls, code, _ in EXIT_CODES if isinstance(exc, cls))
    except KeyboardInterrupt:
        print("venice-nb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `venice-nb voices | head`: the reader left; stop quietly
        from .local.cli import stdout_closed  # stdlib only: no engine is imported

        return stdout_closed()


if __name__ == "__main__":
    raise SystemExit(main())
