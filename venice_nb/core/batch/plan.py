"""Planning a batch without the network: every item checked, named and given its file; and the
files themselves (complete only once renamed into place)."""

from __future__ import annotations

import glob
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audio import MAX_INPUT_CHARS
from ..errors import InvalidRequestError
from ..files import atomic_create, atomic_write
from ..sentences import max_words_for_model
from ..types import ResponseFormat
from .items import batch_items

__all__ = [
    "DEFAULT_FORMAT",
    "DEFAULT_MODEL",
    "DEFAULT_VOICE",
    "BatchPlan",
    "PlannedItem",
    "is_complete",
    "plan_batch",
    "sanitize_name",
    "write_complete",
]

DEFAULT_MODEL = "tts-kokoro"
DEFAULT_VOICE = "af_heart"
DEFAULT_FORMAT = "mp3"
FORMATS = tuple(f.value for f in ResponseFormat)
MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w.\-]+")
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


def sanitize_name(name: str, *, extension: str | None = None) -> str:
    """A safe file stem from ``name``: letters, digits, ``-``, ``_`` and ``.`` only, no leading dot,
    no path separators, no reserved device name; ``''`` when nothing usable is left."""
    stem = unicodedata.normalize("NFC", name).strip()
    if extension and stem.lower().endswith(f".{extension}"):
        stem = stem[: -len(extension) - 1]
    stem = _UNSAFE.sub("_", stem).strip("._-")
    stem = re.sub(r"_{2,}", "_", stem)[:MAX_NAME_CHARS].rstrip("._-")
    if stem.split(".")[0].lower() in _RESERVED:
        stem = f"_{stem}"
    return stem


def _auto_name(number: int, text: str, width: int) -> str:
    words = sanitize_name(" ".join(text.split()[:5])).lower()[:32].rstrip("._-")
    return f"{number:0{width}d}-{words}" if words else f"{number:0{width}d}"


def is_complete(path: Path) -> bool:
    """A finished file of this batch: present and not empty (files only appear once complete)."""
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def write_complete(path: Path, data: bytes, *, overwrite: bool = True) -> bool:
    """Write ``path`` atomically, first deleting temporary files a killed run left for it.

    With ``overwrite=False`` the file is created only if absent (a hard link from the temporary
    file, which fails when the name exists): returns False, writing nothing, when it was there.
    """
    pattern = os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.part")
    for leftover in glob.glob(pattern):
        try:
            os.unlink(leftover)
        except OSError:
            pass
    if overwrite:
        atomic_write(path, data)
        return True
    return atomic_create(path, data)


# -- plan ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedItem:
    """An item with everything resolved: its position, file, model and voice."""

    index: int
    name: str
    text: str
    model: str
    voice: str
    path: Path


@dataclass(frozen=True)
class BatchPlan:
    """Validated items, their files in ``out_dir`` and the speech options shared by all."""

    items: tuple[PlannedItem, ...]
    out_dir: Path
    format: str
    options: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def pending(self) -> list[PlannedItem]:
        """The items whose file is not complete yet."""
        return [item for item in self.items if not is_complete(item.path)]


def _check_out_dir(out_dir: Any) -> Path:
    if not isinstance(out_dir, str | os.PathLike) or not str(out_dir).strip():
        raise InvalidRequestError(
            "out_dir must be the path of a folder for the audio files (created if missing).",
            param="out_dir",
        )
    folder = Path(out_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InvalidRequestError(
            f"out_dir {str(folder)!r} is a file; give a folder (it is created if missing).",
            param="out_dir",
        )
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidRequestError(
            f"out_dir {str(folder)!r} cannot be created: {str(existing)!r} is a file.",
            param="out_dir",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidRequestError(
            f"out_dir {str(folder)!r} cannot be written (permission denied on {str(existing)!r}); "
            "pick another folder.",
            param="out_dir",
        )
    return folder


def _words(text: str) -> int:
    return len(text.split())


def plan_batch(
    texts: Any,
    *,
    out_dir: str | os.PathLike[str],
    voice: str = DEFAULT_VOICE,
    model: str = DEFAULT_MODEL,
    format: str = DEFAULT_FORMAT,
    names: Sequence[Any] | None = None,
    **options: Any,
) -> BatchPlan:
    """Check a batch without the network and give each item its file ``out_dir/<name>.<format>``.

    ``texts`` is anything :func:`batch_items` takes, or rows already read by
    :func:`read_batch_file`. ``voice`` and ``model`` are the defaults for rows that name none;
    ``options`` (``speed``, ``language``, ``prompt``, ``temperature``, ``top_p``) go to every
    request. Raises :class:`InvalidRequestError` naming the item and the fix.
    """
    fmt = format.value if isinstance(format, ResponseFormat) else format
    if fmt not in FORMATS:
        raise InvalidRequestError(
            f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.", param="format"
        )
    for param, value in (("voice", voice), ("model", model)):
        if not isinstance(value, str) or not value.strip():
            raise InvalidRequestError(
                f"{param} must be a non-empty string such as "
                f"{DEFAULT_VOICE if param == 'voice' else DEFAULT_MODEL!r}.",
                param=param,
            )
    allowed = {"speed", "language", "prompt", "temperature", "top_p"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InvalidRequestError(
            f"Unknown option {', '.join(unknown)}; speech options are {', '.join(sorted(allowed))}.",
            param=unknown[0],
        )
    folder = _check_out_dir(out_dir)
    rows = batch_items(texts, names)
    if not rows:
        raise InvalidRequestError(
            "There are no texts in the batch; give at least one.", param="texts"
        )
    width = max(4, len(str(len(rows))))
    planned: list[PlannedItem] = []
    taken: dict[str, int] = {}
    for index, row in enumerate(rows):
        label = repr(row.name) if row.name is not None else f"{index + 1}"
        where = f"item {label}"
        text = row.text
        if not text.strip():
            raise InvalidRequestError(
                f"{where} has no text (empty or only spaces); give it words or drop it.",
                param="texts",
            )
        if len(text) > MAX_INPUT_CHARS:
            raise InvalidRequestError(
                f"{where} is {len(text):,} characters, over the {MAX_INPUT_CHARS}-character limit "
                "of one request; split it into several items (or speak it with "
                "venice_nb.speak(text, out=...), which joins the parts).",
                param="texts",
            )
        item_model = row.model or model
        budget = max_words_for_model(item_model)
        if budget < 100 and _words(text) > budget:
            raise InvalidRequestError(
                f"{where} has {_words(text)} words; {item_model} stops speaking after about "
                f"{budget} words, so split it into shorter items.",
                param="texts",
            )
        if row.name is None:
            stem = _auto_name(index + 1, text, width)
        else:
            stem = sanitize_name(row.name, extension=fmt)
            if not stem:
                raise InvalidRequestError(
                    f"{where}: the name {row.name!r} has no letters or digits to make a file "
                    "name from; give it one.",
                    param="names",
                )
        key = stem.casefold()
        if key in taken:
            first = planned[taken[key]]
            raise InvalidRequestError(
                f"Items {first.index + 1} and {index + 1} would both be written to "
                f"{first.path.name} (names {first.name!r} and {row.name or stem!r}); names must be "
                "unique (letter case and characters other than letters, digits, '-', '_' and '.' "
                "do not count): rename one.",
                param="names",
            )
        taken[key] = index
        planned.append(
            PlannedItem(
                index=index,
                name=row.name if row.name is not None else stem,
                text=text,
                model=item_model,
                voice=row.voice or voice,
                path=folder / f"{stem}.{fmt}",
            )
        )
    return BatchPlan(tuple(planned), folder, fmt, dict(options))
