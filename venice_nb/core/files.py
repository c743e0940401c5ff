"""Audio inputs for uploads (path, bytes or binary file object) and atomic file writes."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import InvalidRequestError

__all__ = [
    "MAX_UPLOAD_BYTES",
    "AudioInput",
    "atomic_create",
    "atomic_write",
    "default_cache_dir",
    "open_audio_input",
]

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
_SNIFF_BYTES = 64 * 1024  # enough to see past a typical ID3v2 tag to the first frames
_CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "opus": "audio/ogg",
    "ogg": "audio/ogg",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "mp4": "audio/mp4",
    "webm": "audio/webm",
}
# Container names as the contract spells them, mapped to what sniffing reports.
TRANSCRIBE_CONTAINERS = frozenset({"wav", "flac", "m4a", "mp4", "aac", "mp3", "opus", "webm"})


def default_cache_dir() -> Path:
    """``$VENICE_NB_CACHE_DIR``, else ``~/.cache/venice_nb/speech`` (honouring XDG_CACHE_HOME):
    the speech cache; long-audio transcription keeps its finished pieces in ``transcripts/``
    inside it."""
    env = os.environ.get("VENICE_NB_CACHE_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "venice_nb" / "speech"


@dataclass
class AudioInput:
    """An upload checked up front: where its bytes come from, its container and its size."""

    filename: str
    container: str
    size: int
    data: bytes | None = None
    path: Path | None = None
    fileobj: IO[bytes] | None = None
    _start: int = 0

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES.get(self.container, "application/octet-stream")

    def payload(self) -> Any:
        """A fresh body for one attempt: the path is streamed from disk, never read whole."""
        if self.data is not None:
            return self.data
        if self.path is not None:
            return self.path.open("rb")
        assert self.fileobj is not None
        # Read it (at most 25 MB): aiohttp closes file payloads after sending, which would break
        # the retry and close a file the caller owns.
        self.fileobj.seek(self._start)
        return self.fileobj.read(self.size)


def _sniff(head: bytes) -> str | None:
    from .containers import sniff_format

    return sniff_format(head)


def open_audio_input(
    file: str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes],
    *,
    param: str = "file",
    accepted: Iterable[str] = TRANSCRIBE_CONTAINERS,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> AudioInput:
    """Check an audio upload before any request: present, non-empty, small enough, real audio."""
    accepted = frozenset(accepted)
    if isinstance(file, bytes | bytearray | memoryview):
        data = bytes(file)
        src = AudioInput(filename="audio", container="", size=len(data), data=data)
        head = data[:_SNIFF_BYTES]
        what = "the audio data"
    elif isinstance(file, str | os.PathLike):
        path = Path(file).expanduser()
        if not path.exists():
            raise InvalidRequestError(
                f"No such audio file: {str(path)!r}; check the path.", param=param
            )
        if not path.is_file():
            raise InvalidRequestError(
                f"{str(path)!r} is not a file; pass an audio file.", param=param
            )
        size = path.stat().st_size
        with path.open("rb") as disk:
            head = disk.read(_SNIFF_BYTES)
        src = AudioInput(filename=path.name, container="", size=size, path=path)
        what = f"{path.name!r}"
    elif hasattr(file, "read"):
        fh: IO[bytes] = file
        if isinstance(fh, io.TextIOBase):
            raise InvalidRequestError(
                f"The {param} object is open in text mode; open it with 'rb'.", param=param
            )
        try:
            start = fh.tell()
            fh.seek(0, os.SEEK_END)
            size = fh.tell() - start
            fh.seek(start)
            head = fh.read(_SNIFF_BYTES)
            fh.seek(start)
        except (OSError, ValueError) as exc:
            raise InvalidRequestError(
                f"The {param} object cannot be read and rewound ({exc}); pass a path or bytes.",
                param=param,
            ) from exc
        name = Path(str(getattr(fh, "name", "audio"))).name or "audio"
        src = AudioInput(filename=name, container="", size=size, fileobj=fh, _start=start)
        what = f"{name!r}"
    else:
        raise InvalidRequestError(
            f"{param} must be a path, bytes or a binary file object, not {type(file).__name__}.",
            param=param,
        )
    if src.size == 0:
        raise InvalidRequestError(
            f"{what} is empty (0 bytes); record or pick a real audio file.", param=param
        )
    if src.size > max_bytes:
        raise InvalidRequestError(
            f"{what} is {src.size / 1_048_576:.1f} MB, over the {max_bytes // 1_048_576} MB upload "
            "limit; trim it or re-encode it smaller (e.g. mp3 or opus).",
            param=param,
        )
    container = _sniff(head)
    if container is None:
        raise InvalidRequestError(
            f"{what} is not audio in a container the service reads (its first bytes match none of "
            f"{', '.join(sorted(accepted))}); convert it, e.g. to wav or mp3.",
            param=param,
        )
    if container not in accepted:
        raise InvalidRequestError(
            f"{what[0].upper() + what[1:]} holds {container} audio, which this call does not "
            f"accept; convert it to one of {', '.join(sorted(accepted))}.",
            param=param,
        )
    src.container = container
    if src.filename == "audio" or "." not in src.filename:
        src.filename = f"{src.filename}.{container}"
    return src


def atomic_write(path: str | os.PathLike[str], data: bytes | Iterable[bytes]) -> Path:
    """Write ``data`` to ``path`` via a temporary file and a rename: never a partial file."""
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, bytes | bytearray | memoryview):
                fh.write(data)
            else:
                for chunk in data:
                    fh.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_create(path: str | os.PathLike[str], data: bytes) -> bool:
    """Create ``path`` whole, only if it does not exist: False (nothing written) if it does.

    The data goes to a temporary file that is then hard-linked to ``path``; the link fails if the
    name exists, so of two writers racing for one file exactly one wins and no reader ever sees it
    partial. On a file system without hard links it falls back to a checked rename.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError:  # no hard links here (some network or FAT file systems)
            if target.exists():
                return False
            os.replace(tmp, target)
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)
