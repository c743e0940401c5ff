"""Batch rows: :class:`BatchItem`, read from Python collections (list, dict, pandas Series or
DataFrame) or from CSV / JSON Lines files, with errors that name the row and the fix."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ..errors import InvalidRequestError

__all__ = ["COLUMNS", "BatchItem", "batch_items", "read_batch_file"]

COLUMNS = ("text", "name", "voice", "model")
"""The fields of a batch row (CSV header, JSON Lines keys, DataFrame columns); only text is required."""


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
