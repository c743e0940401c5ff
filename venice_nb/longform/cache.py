"""Finished pieces of long audio, kept on disk so a run that was stopped (killed, interrupted,
or left with failed pieces) sends only what is missing when it runs again.

A piece's key hashes its samples with everything that changes the answer: model, language,
the timestamp flag and the encoding. Entries are the service's JSON answer for the piece (its
times relative to the piece), written atomically, in ``transcripts/`` inside the speech cache
directory (``$VENICE_NB_CACHE_DIR``, else ``~/.cache/venice_nb/speech``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from pydantic import ValidationError

from venice_nb.core.files import atomic_write, default_cache_dir
from venice_nb.core.types import AudioTranscriptionResponse

__all__ = ["PieceCache", "default_piece_cache_dir"]

FORMAT = 1
"""Bumped when what a piece's answer means changes, so old entries stop matching."""


def default_piece_cache_dir() -> Path:
    """``<speech cache>/transcripts``: where finished pieces are kept by default."""
    return default_cache_dir() / "transcripts"


class PieceCache:
    """Transcribed pieces by key; unreadable entries count as missing."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_piece_cache_dir()

    @staticmethod
    def key(
        digest: str, *, model: str, language: str | None, timestamps: bool, encoding: str
    ) -> str:
        """The key of a piece whose samples hash to ``digest``, asked of ``model``."""
        spec = json.dumps([FORMAT, digest, model, language, timestamps, encoding])
        return hashlib.sha256(spec.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> AudioTranscriptionResponse | None:
        try:
            text = self._path(key).read_text(encoding="utf-8")
            return AudioTranscriptionResponse.model_validate_json(text)
        except (OSError, ValueError, ValidationError):
            return None

    def put(self, key: str, response: AudioTranscriptionResponse) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, response.model_dump_json(exclude_none=True).encode("utf-8"))

    def entries(self) -> tuple[int, int]:
        """Number of pieces kept and their bytes on disk."""
        count = size = 0
        if self.directory.is_dir():
            for path in self.directory.glob("??/*.json"):
                count += 1
                size += path.stat().st_size
        return count, size

    def clear(self) -> int:
        """Delete every kept piece; returns how many there were."""
        count, _ = self.entries()
        if self.directory.is_dir():
            shutil.rmtree(self.directory, ignore_errors=True)
        return count
