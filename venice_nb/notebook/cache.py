"""A content-addressed cache of speech on disk, so re-running a notebook sends no request twice.

An entry's key is the sha256 of everything that shapes the audio: the backend (its kind and
URL), model, voice, text, format and every other parameter. The API key is never part of the
key, the file names or the stored metadata. Entries are ``<key>.<format>`` plus a ``<key>.json``
sidecar written last, so a half-written entry is never read.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from venice_nb.core.files import atomic_write
from venice_nb.core.types import AudioResponse

__all__ = ["CacheInfo", "SpeechCache", "speech_key"]

KEY_VERSION = 1
_KEPT_HEADERS = ("content-type", "x-venice-nb-engine", "x-venice-nb-voice", "x-request-id")


def speech_key(**params: Any) -> str:
    """The hex sha256 of ``params`` in canonical JSON (sorted keys, None kept)."""
    blob = json.dumps(
        {"v": KEY_VERSION, **params}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheInfo:
    """How much the cache holds."""

    path: Path
    entries: int
    nbytes: int

    def __str__(self) -> str:
        return f"{self.entries} cached speech files, {self.nbytes / 1e6:.1f} MB in {self.path}"


class SpeechCache:
    """Speech audio on disk keyed by :func:`speech_key`."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()

    def _meta_path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> AudioResponse | None:
        """The cached audio for ``key``, or None (a damaged entry counts as missing)."""
        meta_path = self._meta_path(key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            data = (meta_path.parent / meta["file"]).read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if len(data) != meta.get("nbytes"):
            return None
        return AudioResponse(
            data,
            content_type=meta.get("content_type") or "application/octet-stream",
            format=meta.get("format"),
            model=meta.get("model"),
            voice=meta.get("voice"),
            request_id=meta.get("request_id"),
            headers=meta.get("headers") or {},
            sample_rate=meta.get("sample_rate"),
        )

    def put(self, key: str, audio: AudioResponse) -> None:
        """Store ``audio`` under ``key`` (atomic: the sidecar is written after the audio)."""
        fmt = audio.format or "bin"
        name = f"{key}.{fmt}"
        folder = self.directory / key[:2]
        atomic_write(folder / name, audio.content)
        meta = {
            "file": name,
            "nbytes": len(audio),
            "content_type": audio.content_type,
            "format": audio.format,
            "model": audio.model,
            "voice": audio.voice,
            "request_id": audio.request_id,
            "sample_rate": audio.sample_rate if audio.format == "pcm" else None,
            "headers": {k: v for k, v in audio.headers.items() if k.lower() in _KEPT_HEADERS},
        }
        atomic_write(self._meta_path(key), json.dumps(meta, indent=1).encode("utf-8"))

    def __contains__(self, key: str) -> bool:
        return self._meta_path(key).is_file()

    def info(self) -> CacheInfo:
        """Number of entries and bytes on disk."""
        entries, nbytes = 0, 0
        if self.directory.is_dir():
            for path in self.directory.glob("??/*"):
                if path.is_file():
                    nbytes += path.stat().st_size
                    entries += path.suffix == ".json"
        return CacheInfo(self.directory, entries, nbytes)

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        removed = self.info().entries
        if self.directory.is_dir():
            for sub in self.directory.glob("??"):
                if sub.is_dir():
                    shutil.rmtree(sub, ignore_errors=True)
        return removed
