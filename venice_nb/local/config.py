"""Settings of the offline engine: model locations, the data directory, the token, pool size."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .assets import default_model_dir

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
"""Largest accepted upload, as the cloud service enforces it (HTTP 413 above)."""


def default_data_dir() -> Path:
    """Where cloned voices are kept: ``$VENICE_NB_DATA_DIR``, else the user's cache directory."""
    env = os.environ.get("VENICE_NB_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "venice_nb" / "local"


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}.") from None


def default_workers() -> int:
    """``$VENICE_NB_WORKERS``, else one engine thread per core the process may use."""
    env = _env_int("VENICE_NB_WORKERS")
    if env is not None:
        return env
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _env_flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be 1 or 0 (true/false), not {value!r}.")


def _env_or_none(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def origins(values: list[str]) -> tuple[str, ...]:
    """Web origins as the Origin header carries them: no trailing slash, empty entries dropped."""
    return tuple(v.strip().rstrip("/") for v in values if v.strip())


WHISPER_COMPUTE_TYPES = ("int8", "int8_float32", "int16", "float32", "default", "auto")


@dataclass
class LocalConfig:
    """Everything the local server needs; every field has a working default.

    ``piper_model`` is a path to a piper ``.onnx`` voice (its ``.onnx.json`` beside it), or a
    piper voice name such as ``en_US-lessac-medium`` downloaded into the data dir when the machine
    has network; None means the bundled ``en_US-joe-medium``. ``whisper_model`` is a
    CTranslate2 model directory or a faster-whisper size name (``base.en``); None means the
    bundled ``tiny.en``. ``threads`` caps the threads each model may use (default: every core;
    ``$VENICE_NB_THREADS``); ``whisper_compute_type`` is CTranslate2's (``int8`` by default,
    ``$VENICE_NB_WHISPER_COMPUTE_TYPE``). Both change results only in the last decimals, which is
    how the test suite checks that saved notebooks hold on other machines.
    """

    piper_model: str | None = field(default_factory=lambda: _env_or_none("VENICE_NB_PIPER_MODEL"))
    whisper_model: str | None = field(
        default_factory=lambda: _env_or_none("VENICE_NB_WHISPER_MODEL")
    )
    data_dir: Path = field(default_factory=default_data_dir)
    token: str | None = None
    workers: int = field(default_factory=default_workers)
    model_dir: Path = field(default_factory=default_model_dir)
    """Where model files assembled from package parts are kept (shared by every server)."""
    fast: bool = field(default_factory=lambda: _env_flag("VENICE_NB_FAST"))
    """Fast mode: piper and espeak-ng instead of the natural Kokoro voices (6-11x cheaper)."""
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_audio_seconds: float = 30 * 60
    """Longest audio transcribed, decoded (a 300 KB FLAC can hold hours): 413 past it."""
    allow_origins: tuple[str, ...] = field(
        default_factory=lambda: origins(os.environ.get("VENICE_NB_ALLOW_ORIGINS", "").split(","))
    )
    """Web origins (``https://app.example``) allowed besides the server's own; others get 403."""
    threads: int | None = field(default_factory=lambda: _env_int("VENICE_NB_THREADS"))
    rate_limit: int = field(default_factory=lambda: _env_int("VENICE_NB_RATE_LIMIT") or 1200)
    """Requests per minute before 429 ``RATE_LIMIT_EXCEEDED`` (the ``x-ratelimit-*`` figures)."""
    token_limit: int = 1_000_000
    """Speech input characters per minute (the offline engine's "tokens")."""
    max_active: int | None = None
    """Requests at engine work at once (default two per worker); they share the workers."""
    max_waiting: int | None = field(default_factory=lambda: _env_int("VENICE_NB_MAX_WAITING"))
    """Requests waiting for a slot (default four per worker); more are refused at once (429)."""
    max_wait_s: float = 30.0
    """Longest expected wait in line; a request that would wait longer is refused at once."""
    header_timeout: float = 60.0
    """Seconds a connection may take to send a request's headers (or stay idle) before it is
    closed, as nginx's ``client_header_timeout``."""
    body_timeout: float = 120.0
    """Seconds a request may take to send its whole body before 408."""
    whisper_compute_type: str = field(
        default_factory=lambda: _env_or_none("VENICE_NB_WHISPER_COMPUTE_TYPE") or "int8"
    )

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        self.model_dir = Path(self.model_dir).expanduser()
        self.workers = max(1, int(self.workers))
        if self.whisper_compute_type not in WHISPER_COMPUTE_TYPES:
            raise ValueError(
                f"Unknown Whisper compute type {self.whisper_compute_type!r}; use one of "
                f"{', '.join(WHISPER_COMPUTE_TYPES)}."
            )

    def __repr__(self) -> str:
        token = "set" if self.token else "None"
        return (
            f"LocalConfig(piper_model={self.piper_model!r}, whisper_model={self.whisper_model!r}, "
            f"data_dir={str(self.data_dir)!r}, token={token}, workers={self.workers}, "
            f"fast={self.fast}, threads={self.threads}, whisper_compute_type={self.whisper_compute_type!r}, "
            f"rate_limit={self.rate_limit}, max_waiting={self.max_waiting})"
        )
