"""Settings of the offline engine: model locations, the data directory, the token, pool size."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
"""Largest accepted upload, as the cloud service enforces it (HTTP 413 above)."""


def default_data_dir() -> Path:
    """Where cloned voices are kept: ``$VENICE_NB_DATA_DIR``, else the user's cache directory."""
    env = os.environ.get("VENICE_NB_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "venice_nb" / "local"


def default_workers() -> int:
    """One engine thread per core the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _env_or_none(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


@dataclass
class LocalConfig:
    """Everything the local server needs; every field has a working default.

    ``piper_model`` is a path to a piper ``.onnx`` voice (its ``.onnx.json`` beside it), or a
    piper voice name such as ``en_US-lessac-medium`` downloaded into the data dir when the machine
    has network; None means the bundled ``en_US-joe-medium``. ``whisper_model`` is a
    CTranslate2 model directory or a faster-whisper size name (``base.en``); None means the
    bundled ``tiny.en``.
    """

    piper_model: str | None = field(default_factory=lambda: _env_or_none("VENICE_NB_PIPER_MODEL"))
    whisper_model: str | None = field(
        default_factory=lambda: _env_or_none("VENICE_NB_WHISPER_MODEL")
    )
    data_dir: Path = field(default_factory=default_data_dir)
    token: str | None = None
    workers: int = field(default_factory=default_workers)
    max_upload_bytes: int = MAX_UPLOAD_BYTES

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        self.workers = max(1, int(self.workers))

    def __repr__(self) -> str:
        token = "set" if self.token else "None"
        return (
            f"LocalConfig(piper_model={self.piper_model!r}, whisper_model={self.whisper_model!r}, "
            f"data_dir={str(self.data_dir)!r}, token={token}, workers={self.workers})"
        )
