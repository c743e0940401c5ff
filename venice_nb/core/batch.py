"""Many texts to many audio files: one file per item, written atomically, resumable, paced by the
service's rate limits. The engine behind ``venice_nb.speak_many`` and ``venice-nb speak --batch``.

Three steps, each usable alone:

- :func:`batch_items` / :func:`read_batch_file` turn a list, dict, pandas Series or DataFrame, or
  a CSV / JSON Lines file into validated :class:`BatchItem` rows;
- :func:`plan_batch` checks everything that can be checked without the network (empty text, text
  over one request's limit, names that collide as files, an unknown format, an ``out_dir`` that is
  a file) and gives each item its file;
- :func:`run_batch` speaks the items whose file is not there yet, ``concurrency`` at a time.

A file exists only once complete (temporary file + ``os.replace``), so a rerun skips what is done
and sends the rest. Cancelling :func:`run_batch` stops sending at once but lets requests already
sent finish and be written, so a stopped batch loses no paid answer and a rerun sends no item twice.
A 429 or 5xx delays its item (429s hold the whole batch until the window resets); any other 4xx
fails only its item; 401, 402 and 403 stop the batch (every item would fail the same way).
"""

from __future__ import annotations

import asyncio
import csv
import glob
import json
import math
import os
import re
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .audio import MAX_INPUT_CHARS
from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    InternalServerError,
    InvalidRequestError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
)
from .files import atomic_write
from .ratelimit import RateLimitPacer, RateLimitState
from .sentences import max_words_for_model
from .types import ResponseFormat

if TYPE_CHECKING:
    from .client import Timeout, VeniceClient
    from .types import ModelInfo

__all__ = [
    "COLUMNS",
    "DEFAULT_FORMAT",
    "DEFAULT_MODEL",
    "DEFAULT_VOICE",
    "BatchItem",
    "BatchPlan",
    "BatchProgress",
    "BatchResult",
    "ItemResult",
    "PlannedItem",
    "batch_items",
    "check_run_options",
    "format_usd",
    "plan_batch",
    "read_batch_file",
    "run_batch",
    "sanitize_name",
    "speak_many_async",
]

DEFAULT_MODEL = "tts-kokoro"
DEFAULT_VOICE = "af_heart"
DEFAULT_FORMAT = "mp3"
COLUMNS = ("text", "name", "voice", "model")
"""The fields of a batch row (CSV header, JSON Lines keys, DataFrame columns); only text is required."""
FORMATS = tuple(f.value for f in ResponseFormat)
MAX_NAME_CHARS = 120
MAX_RATE_LIMITED = 50
"""429 answers one item may meet before it is failed (a server that never lets it through)."""
ENGINE_HEADER = "x-venice-nb-engine"
"""Set to ``offline`` by venice_nb's offline engine: its speech costs nothing."""
_FATAL = (AuthenticationError, PaymentRequiredError, PermissionDeniedError)
_UNSAFE = re.compile(r"[^\w.\-]+")
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)

Status = Literal["done", "skipped", "failed", "pending"]


# -- items ---------------------------------------------------------------------------------------
class BatchItem(BaseModel):
    """One row of a batch: the text, and optionally its file name, voice and model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    name: str | None = None
    voice: str | None = None
    model: str | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _name_from_number(cls, value: Any) -> Any:
        """Names may be numbers (a DataFrame's default index, a JSON row's id); blank means none."""
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("voice", "model", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any) -> Any:
        """An empty CSV cell means 'the batch default'."""
        return None if isinstance(value, str) and not value.strip() else value


def _missing(value: Any) -> bool:
    """None, or pandas' missing value (NaN / NA) in a column."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def _item(row: Mapping[str, Any], where: str) -> BatchItem:
    """A :class:`BatchItem` from a mapping; an unknown column or a wrong type says where and how."""
    unknown = [str(k) for k in row if k not in COLUMNS]
    if unknown:
        raise InvalidRequestError(
            f"{where}: unknown column {', '.join(repr(k) for k in unknown)}; a batch has the "
            f"columns {', '.join(COLUMNS)} (only text is required): rename or drop it.",
            param="texts",
        )
    values = {k: (None if k != "text" and _missing(v) else v) for k, v in row.items()}
    if "text" not in values:
        raise InvalidRequestError(f"{where} has no text; every row needs a 'text'.", param="texts")
    try:
        return BatchItem.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        column = ".".join(str(p) for p in err["loc"]) or "row"
        got = values.get(column)
        hint = " (a missing value?)" if column == "text" and _missing(got) else ""
        raise InvalidRequestError(
            f"{where}: {column} must be a string, got {type(got).__name__}{hint}.",
            param="texts",
        ) from None


def _is_dataframe(value: Any) -> bool:
    return hasattr(value, "columns") and hasattr(value, "to_dict") and hasattr(value, "index")


def _is_series(value: Any) -> bool:
    return hasattr(value, "index") and hasattr(value, "items") and hasattr(value, "dtype")


def batch_items(texts: Any, names: Sequence[Any] | None = None) -> list[BatchItem]:
    """Validated rows from a list of texts (``names`` optional), a dict (names from its keys), a
    pandas Series (names from its index), a DataFrame (columns text / name / voice / model; names
    from its index when there is no name column) or a list of :class:`BatchItem` / row dicts."""
    if isinstance(texts, str | bytes):
        raise InvalidRequestError(
            "texts is one string; give a list of texts (e.g. [text]), a dict of name -> text or a "
            "pandas Series.",
            param="texts",
        )
    keyed = isinstance(texts, Mapping) or _is_series(texts) or _is_dataframe(texts)
    if names is not None:
        if keyed:
            raise InvalidRequestError(
                "names= is only for a list of texts; a dict, Series or DataFrame names its items "
                "by its keys / index (or a name column).",
                param="names",
            )
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise InvalidRequestError(
                "names must be a list of file names, one per text.", param="names"
            )
    items: list[BatchItem] = []
    if _is_dataframe(texts):
        frame = texts
        columns = [str(c) for c in frame.columns]
        if "text" not in columns:
            raise InvalidRequestError(
                f"The DataFrame has no 'text' column (columns: {', '.join(columns) or 'none'}); "
                "rename the column that holds the texts to 'text'.",
                param="texts",
            )
        for label, row in zip(frame.index, frame.to_dict("records"), strict=True):
            row = {str(k): v for k, v in row.items()}
            if _missing(row.get("name")):
                row["name"] = label if isinstance(label, str | int) else str(label)
            items.append(_item(row, f"row {label!r}"))
    elif isinstance(texts, Mapping) or _is_series(texts):
        for key, text in texts.items():
            label = key if isinstance(key, str | int) else str(key)
            items.append(_item({"text": text, "name": label}, f"item {key!r}"))
    elif isinstance(texts, Iterable):
        for number, entry in enumerate(texts, start=1):
            where = f"item {number}"
            if isinstance(entry, BatchItem):
                items.append(entry)
            elif isinstance(entry, Mapping):
                items.append(_item({str(k): v for k, v in entry.items()}, where))
            else:
                items.append(_item({"text": entry}, where))
    else:
        raise InvalidRequestError(
            f"texts must be a list, dict or pandas Series of strings, not {type(texts).__name__}.",
            param="texts",
        )
    if names is not None:
        if len(names) != len(items):
            raise InvalidRequestError(
                f"names has {len(names)} entries for {len(items)} texts; give one name per text.",
                param="names",
            )
        items = [
            item.model_copy(update={"name": None if _missing(n) else str(n)})
            for item, n in zip(items, names, strict=True)
        ]
    return items


def read_batch_file(path: str | os.PathLike[str]) -> list[BatchItem]:
    """Rows of a ``.csv`` file (header row with a ``text`` column) or a ``.jsonl`` file (one JSON
    object per line); optional columns ``name``, ``voice``, ``model``."""
    source = Path(path).expanduser()
    suffix = source.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise InvalidRequestError(
            f"{str(source)!r} is neither .csv nor .jsonl; give a CSV file with a header row or a "
            "JSON Lines file (one object per line).",
            param="batch",
        )
    if not source.is_file():
        what = "is a folder" if source.is_dir() else "does not exist"
        raise InvalidRequestError(
            f"The batch file {str(source)!r} {what}; check the path.", param="batch"
        )
    try:
        content = source.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            f"{source.name} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8.",
            param="batch",
        ) from None
    items = (
        _read_csv(content, source.name) if suffix == ".csv" else _read_jsonl(content, source.name)
    )
    if not items:
        raise InvalidRequestError(f"{source.name} has no rows; add some texts.", param="batch")
    return items


def _read_csv(content: str, label: str) -> list[BatchItem]:
    reader = csv.DictReader(content.splitlines(keepends=True))
    header = [h.strip() for h in reader.fieldnames or []]
    if "text" not in header:
        raise InvalidRequestError(
            f"{label} has no 'text' column (its header is {', '.join(map(repr, header)) or 'empty'}); "
            f"the first row must name the columns, e.g. text,name,voice,model.",
            param="batch",
        )
    reader.fieldnames = header
    items = []
    for row in reader:
        where = f"{label} line {reader.line_num}"
        if None in row:  # more cells than header columns
            raise InvalidRequestError(
                f"{where} has more cells than the header has columns; quote text that holds "
                'commas ("like, this").',
                param="batch",
            )
        items.append(_item({k: v for k, v in row.items() if k}, where))
    return items


def _read_jsonl(content: str, label: str) -> list[BatchItem]:
    items = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{label} line {number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InvalidRequestError(
                f"{where} is not JSON ({exc}); each line must be one object such as "
                '{"text": "Hello", "name": "greeting"}.',
                param="batch",
            ) from None
        if not isinstance(row, dict):
            raise InvalidRequestError(
                f"{where} is a JSON {type(row).__name__}, not an object; write "
                '{"text": "..."} on each line.',
                param="batch",
            )
        items.append(_item(row, where))
    return items


# -- names and files -----------------------------------------------------------------------------
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


def _write(path: Path, data: bytes) -> None:
    """Write ``path`` atomically, first deleting temporary files a killed run left for it."""
    pattern = os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.part")
    for leftover in glob.glob(pattern):
        try:
            os.unlink(leftover)
        except OSError:
            pass
    atomic_write(path, data)


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


# -- results -------------------------------------------------------------------------------------
def format_usd(amount: float) -> str:
    """Dollars with two significant digits below a cent: ``$1.25``, ``$0.50``, ``$0.000018``."""
    if amount <= 0:
        return "$0"
    digits = max(2, 1 - math.floor(math.log10(amount)))
    return f"${amount:.{digits}f}"


@dataclass
class ItemResult:
    """What happened to one item."""

    index: int
    name: str
    path: Path
    text: str
    model: str
    voice: str
    status: Status = "pending"
    reason: str | None = None
    """Why it failed (the server's message and status), or why it was skipped."""
    http_status: int | None = None
    attempts: int = 0
    """Requests sent for it in this run."""
    bytes: int = 0
    cost_usd: float | None = None
    """Estimated from the catalog's price; None when unpriced, skipped or spoken offline."""
    error: BaseException | None = field(default=None, repr=False, compare=False)

    def record(self) -> dict[str, Any]:
        """A flat dict (for tables)."""
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "http_status": self.http_status,
            "attempts": self.attempts,
            "bytes": self.bytes,
            "cost_usd": self.cost_usd,
            "path": str(self.path),
            "voice": self.voice,
            "model": self.model,
        }


@dataclass(frozen=True)
class BatchProgress:
    """A snapshot passed to ``on_progress``: counts so far and the rate-limit state."""

    total: int
    done: int
    skipped: int
    failed: int
    in_flight: int
    cost_usd: float | None
    """Estimated spend of the items done in this run (None: no priced item)."""
    estimated_usd: float | None
    """Estimated spend of every item this run had to speak, at the start."""
    rate: RateLimitState
    last: ItemResult | None = None
    """The item that just finished, if that is why this snapshot was sent."""

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed


@dataclass
class BatchResult:
    """Every item's outcome, in input order, and figures about the run."""

    items: list[ItemResult]
    out_dir: Path
    elapsed: float
    requests: int
    """Speech requests sent in this run (retries included)."""
    rate_limited: int
    """429 answers met."""
    slowdowns: int
    """Times the batch held back until a rate-limit window reset."""

    def _with(self, status: Status) -> list[ItemResult]:
        return [r for r in self.items if r.status == status]

    @property
    def done(self) -> list[ItemResult]:
        return self._with("done")

    @property
    def skipped(self) -> list[ItemResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[ItemResult]:
        return self._with("failed")

    @property
    def pending(self) -> list[ItemResult]:
        return self._with("pending")

    @property
    def ok(self) -> bool:
        """Every item's file exists (done now or before)."""
        return all(r.status in ("done", "skipped") for r in self.items)

    @property
    def counts(self) -> dict[str, int]:
        return {s: len(self._with(s)) for s in ("done", "skipped", "failed", "pending")}

    @property
    def cost_usd(self) -> float | None:
        """Estimated spend of this run; None when no item spoken had a price."""
        costs = [r.cost_usd for r in self.items if r.cost_usd is not None]
        return sum(costs) if costs else None

    def records(self) -> list[dict[str, Any]]:
        return [r.record() for r in self.items]

    def __str__(self) -> str:
        c = self.counts
        parts = [f"{c['done']} done", f"{c['skipped']} skipped", f"{c['failed']} failed"]
        if c["pending"]:
            parts.append(f"{c['pending']} not sent")
        cost = f", est. {format_usd(self.cost_usd)}" if self.cost_usd is not None else ""
        return f"{len(self.items)} items: {', '.join(parts)}{cost} ({self.elapsed:.1f} s)"


# -- engine --------------------------------------------------------------------------------------
def check_run_options(
    *, concurrency: int, max_attempts: int, requests_per_second: float | None
) -> None:
    """Refuse bad run options with :class:`InvalidRequestError` (before anything starts)."""
    for param, value in (("concurrency", concurrency), ("max_attempts", max_attempts)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequestError(
                f"{param} must be a whole number >= 1, got {value!r}.", param=param
            )
    RateLimitPacer(requests_per_second=requests_per_second)  # checks it


def _transient(exc: APIError) -> bool:
    if isinstance(exc, InternalServerError | APIConnectionError):
        return True
    return isinstance(exc, APIStatusError) and exc.status in (408, 425)


class _Engine:
    def __init__(
        self,
        client: VeniceClient,
        plan: BatchPlan,
        *,
        concurrency: int,
        max_attempts: int,
        pacer: RateLimitPacer,
        on_progress: Callable[[BatchProgress], Any] | None,
        timeout: Timeout,
    ) -> None:
        self.client = client
        self.plan = plan
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.pacer = pacer
        self.on_progress = on_progress
        self.timeout = timeout
        self.results = [
            ItemResult(i.index, i.name, i.path, i.text, i.model, i.voice) for i in plan.items
        ]
        self.bodies: dict[tuple[str, str], dict[str, Any]] = {}
        self.prices: dict[str, ModelInfo | None] = {}
        self.queue: deque[PlannedItem] = deque()
        self.sending: set[asyncio.Task[Any]] = set()
        self.stop = False
        self.fatal: BaseException | None = None
        self.requests = 0
        self.estimated: float | None = None

    def progress(self, last: ItemResult | None = None) -> None:
        if self.on_progress is None:
            return
        counts = {"done": 0, "skipped": 0, "failed": 0, "pending": 0}
        costs = []
        for r in self.results:
            counts[r.status] += 1
            if r.cost_usd is not None:
                costs.append(r.cost_usd)
        self.on_progress(
            BatchProgress(
                total=len(self.results),
                done=counts["done"],
                skipped=counts["skipped"],
                failed=counts["failed"],
                in_flight=len(self.sending),
                cost_usd=sum(costs) if costs else None,
                estimated_usd=self.estimated,
                rate=self.pacer.state,
                last=last,
            )
        )

    async def prepare(self) -> None:
        """Skip complete files; check each (model, voice) against the catalog before sending."""
        for item, result in zip(self.plan.items, self.results, strict=True):
            if is_complete(item.path):
                result.status, result.reason = "skipped", "file already exists"
            else:
                self.queue.append(item)
        by_combo: dict[tuple[str, str], list[PlannedItem]] = {}
        for item in self.queue:
            by_combo.setdefault((item.model, item.voice), []).append(item)
        estimate = []
        for (model, voice), items in by_combo.items():
            try:
                body, info = await self.client.audio._speech_body(
                    input=items[0].text,
                    model=model,
                    voice=voice,
                    response_format=self.plan.format,
                    **{k: self.plan.options.get(k) for k in _OPTIONS},
                )
            except InvalidRequestError as exc:
                names = ", ".join(repr(i.name) for i in items[:3])
                more = f" and {len(items) - 3} more" if len(items) > 3 else ""
                raise InvalidRequestError(
                    f"Item {names}{more}: {exc.message}", param=exc.param
                ) from None
            body.pop("input")
            self.bodies[(model, voice)] = body
            self.prices[model] = info
            for item in items:
                cost = info.usd_cost(characters=len(item.text)) if info is not None else None
                if cost is not None:
                    estimate.append(cost)
        self.estimated = sum(estimate) if estimate else None
        await asyncio.to_thread(self.plan.out_dir.mkdir, parents=True, exist_ok=True)

    async def run(self) -> None:
        workers = [
            asyncio.create_task(self.worker())
            for _ in range(min(self.concurrency, len(self.queue)))
        ]
        try:
            pending = set(workers)
            while pending:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if self.stop:
                    await self.halt(workers)
                    break
        except asyncio.CancelledError:
            self.stop = True
            await self.halt(workers)
            raise
        if self.fatal is not None:
            raise self.fatal

    async def halt(self, workers: list[asyncio.Task[None]]) -> None:
        """Cancel workers that have not sent their request; wait for those that have."""
        for worker in workers:
            if worker not in self.sending:
                worker.cancel()
        try:
            await asyncio.wait(workers)
        except asyncio.CancelledError:  # cancelled again while draining: abandon the answers
            for worker in workers:
                worker.cancel()
            await asyncio.wait(workers)
            raise

    async def worker(self) -> None:
        while self.queue and not self.stop:
            item = self.queue.popleft()
            result = self.results[item.index]
            try:
                await self.speak(item, result)
                if result.status != "pending":
                    self.progress(result)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # a fatal error: stop the batch, report it
                self.stop = True
                if self.fatal is None:
                    self.fatal = exc
                return

    async def speak(self, item: PlannedItem, result: ItemResult) -> None:
        """Send ``item`` until it is done, failed, or the batch stops; raises only fatal errors."""
        body = {**self.bodies[(item.model, item.voice)], "input": item.text}
        task = asyncio.current_task()
        assert task is not None
        transient = limited = 0
        while not self.stop:
            if is_complete(item.path):  # another run on the same folder wrote it meanwhile
                result.status, result.reason = "skipped", "written by another run"
                return
            ticket = await self.pacer.acquire()
            if self.stop:
                self.pacer.release(ticket)
                return
            self.sending.add(task)
            observed = False
            try:
                result.attempts += 1
                self.requests += 1
                try:
                    raw = await self.client.request(
                        "POST", "/audio/speech", json=body, timeout=self.timeout, retries=0
                    )
                except APIError as exc:
                    self.pacer.observe(ticket, exc.headers or None, exc.status)
                    observed = True
                    if isinstance(exc, _FATAL):
                        raise
                    if isinstance(exc, RateLimitError):
                        limited += 1
                        if limited < MAX_RATE_LIMITED:
                            self.progress()
                            continue
                    elif _transient(exc):
                        transient += 1
                        if transient < self.max_attempts:
                            self.sending.discard(task)
                            delay = self.client._backoff(transient, exc.headers or None, exc.status)
                            self.progress()
                            await asyncio.sleep(delay)
                            continue
                    self.fail(result, exc)
                    return
                self.pacer.observe(ticket, raw.headers, raw.status)
                observed = True
                try:
                    raw.audio_check()
                except APIResponseValidationError as exc:
                    self.fail(result, exc)
                    return
                await asyncio.to_thread(_write, item.path, raw.body)
                result.status, result.bytes = "done", len(raw.body)
                info = self.prices.get(item.model)
                if info is not None and raw.headers.get(ENGINE_HEADER) != "offline":
                    result.cost_usd = info.usd_cost(characters=len(item.text))
                return
            finally:
                if not observed:
                    self.pacer.observe(ticket, None, None)
                self.sending.discard(task)

    @staticmethod
    def fail(result: ItemResult, exc: APIError) -> None:
        result.status = "failed"
        result.http_status = exc.status
        result.error = exc
        note = f" (gave up after {result.attempts} attempts)" if result.attempts > 1 else ""
        result.reason = f"{exc}{note}"


_OPTIONS = ("speed", "language", "prompt", "temperature", "top_p")


async def run_batch(
    client: VeniceClient,
    plan: BatchPlan,
    *,
    concurrency: int = 4,
    max_attempts: int = 5,
    requests_per_second: float | None = None,
    on_progress: Callable[[BatchProgress], Any] | None = None,
    timeout: Timeout = None,
) -> BatchResult:
    """Speak every item of ``plan`` whose file is missing, ``concurrency`` requests at a time.

    ``max_attempts`` bounds the tries of an item meeting 5xx answers, timeouts or dropped
    connections (a 429 waits for the window and does not count). ``requests_per_second`` caps
    this run's own rate (for several processes sharing one key). ``on_progress`` is called with a
    :class:`BatchProgress` at the start, after each item and on each retry. Cancelling the call
    stops sending at once, waits for the requests already sent and writes their files, then
    raises :class:`asyncio.CancelledError` (cancelling it again abandons those too). A 401, 402 or
    403 answer stops the batch the same way and is raised. The client's own retries are not used
    (``retries=0``): the batch retries, so that a 429 holds every sender, not just one.
    """
    check_run_options(
        concurrency=concurrency,
        max_attempts=max_attempts,
        requests_per_second=requests_per_second,
    )
    if on_progress is not None and not callable(on_progress):
        raise InvalidRequestError("on_progress must be callable.", param="on_progress")
    engine = _Engine(
        client,
        plan,
        concurrency=concurrency,
        max_attempts=max_attempts,
        pacer=RateLimitPacer(requests_per_second=requests_per_second),
        on_progress=on_progress,
        timeout=timeout,
    )
    engine.pacer.on_hold = engine.progress
    started = time.monotonic()
    await engine.prepare()
    engine.progress()
    await engine.run()
    engine.progress()
    return BatchResult(
        engine.results,
        plan.out_dir,
        time.monotonic() - started,
        engine.requests,
        engine.pacer.rate_limited,
        engine.pacer.slowdowns,
    )


async def speak_many_async(
    client: VeniceClient,
    texts: Any,
    *,
    out_dir: str | os.PathLike[str],
    voice: str = DEFAULT_VOICE,
    model: str = DEFAULT_MODEL,
    format: str = DEFAULT_FORMAT,
    names: Sequence[Any] | None = None,
    concurrency: int = 4,
    max_attempts: int = 5,
    requests_per_second: float | None = None,
    on_progress: Callable[[BatchProgress], Any] | None = None,
    **options: Any,
) -> BatchResult:
    """:func:`plan_batch` then :func:`run_batch` with ``client``: the async ``speak_many``."""
    plan = plan_batch(
        texts, out_dir=out_dir, voice=voice, model=model, format=format, names=names, **options
    )
    return await run_batch(
        client,
        plan,
        concurrency=concurrency,
        max_attempts=max_attempts,
        requests_per_second=requests_per_second,
        on_progress=on_progress,
    )
