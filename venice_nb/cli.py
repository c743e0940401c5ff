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
from typing import Any

from .core.errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
)

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
        + "; 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    speak = sub.add_parser("speak", help="speak text (argument, file or stdin) into an audio file")
    speak.add_argument("text", nargs="?", help="text to speak; '-' or omitted reads stdin")
    speak.add_argument("--file", "-f", type=Path, help="read the text from this file")
    speak.add_argument("--out", "-o", type=Path, required=True, help="where to write the audio")
    speak.add_argument("--voice", default=DEFAULT_VOICE, help=f"voice id (default {DEFAULT_VOICE})")
    speak.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"TTS model (default {DEFAULT_MODEL})"
    )
    speak.add_argument(
        "--format",
        dest="response_format",
        help="mp3, opus, aac, flac, wav or pcm (default: from --out)",
    )
    speak.add_argument("--speed", type=float, help="0.25 to 4.0")
    speak.add_argument(
        "--concurrency", type=int, default=4, help="segments in flight for long text"
    )

    tr = sub.add_parser("transcribe", help="transcribe an audio file")
    tr.add_argument("file", type=Path, help="audio file (wav, mp3, flac, m4a, ogg, webm, aac)")
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


async def _speak(args: argparse.Namespace) -> int:
    from .core.files import atomic_write
    from .core.segments import finalize
    from .session import get_backend, new_client

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


async def _transcribe(args: argparse.Namespace) -> int:
    from .session import new_client

    async with new_client() as client:
        result = await client.audio.transcribe(
            file=args.file,
            model=args.model,
            language=args.language,
            timestamps=args.out_format != "text",
        )
    if isinstance(result, str):
        print(result)
    elif args.out_format == "json":
        print(result.model_dump_json(indent=2))
    elif args.out_format in ("srt", "vtt"):
        from .core.subtitles import to_srt, to_vtt

        print((to_srt if args.out_format == "srt" else to_vtt)(result))
    else:
        print(result.text.strip())
    return 0


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

        return serve_main(argv[1:])
    args = _parser().parse_args(argv)
    runner = {"speak": _speak, "transcribe": _transcribe, "voices": _voices}[args.command]
    from .session import BackendUnavailableError

    try:
        return asyncio.run(runner(args))
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


if __name__ == "__main__":
    raise SystemExit(main())
