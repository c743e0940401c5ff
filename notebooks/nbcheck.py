"""Compare a re-executed notebook with its saved outputs, the way a reader would: same structure,
same text, numbers within a tolerance.

Written by hand because nbval's strict mode (which this replaces; ``pytest --nbval-lax notebooks``
still runs nbval on the cells tagged ``nbval-check-output``) only masks volatile text with regexes
and then compares strictly: speech and recognition models give slightly different numbers on other
CPUs and thread counts (word times moved by 0.02 s on another machine and failed 14 cells), and
masking every number would check nothing. Here:

- structure is exact: the number of outputs, their types, stream names and mimetypes;
- volatile text is masked first (embedded audio, element ids, ports, handles, request ids, times);
- the rest is split into words, symbols and numbers; words and symbols must match up to a small
  budget of changed tokens (``MAX_TEXT_CHANGES``: a recogniser may hear one word differently),
  numbers must match within ``ABS_TOL`` / ``REL_TOL``;
- a cell tagged ``volatile-output`` (timings, cache paths) must run without error; its output is
  not compared.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

VOLATILE_TAG = "volatile-output"
ABS_TOL = 0.5
"""Numbers may differ by this much (seconds, mostly; whole numbers and [mm:ss] stamps by 1) ..."""
REL_TOL = 0.1
"""... or by this fraction of their size (byte counts, durations of long audio)."""
MAX_TEXT_CHANGES = 3
REL_TEXT_CHANGES = 0.02
"""Tokens that may change in one output: at least ``MAX_TEXT_CHANGES``, or 2 % of its tokens."""

MASKS = [
    (
        re.compile(r"data:audio/([a-z0-9.+-]+);base64,[A-Za-z0-9+/=]+"),
        r"data:audio/\1;base64,AUDIO",
    ),
    (re.compile(r"vnb-tr-[0-9a-f]{12}"), "vnb-tr-ID"),
    (re.compile(r"vv_[0-9a-f]{24}"), "vv_ID"),
    (re.compile(r"request [0-9a-f]{32}"), "request ID"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r'"created": \d+'), '"created": TIME'),
    (re.compile(r'"model_id": "[0-9a-f]{32}"'), '"model_id": "ID"'),
]
# Numbers: clock stamps, numbers with thousands separators ("2,151,213" is one number), others.
_NUM = r"\d+(?::\d\d)+|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_TOKEN = re.compile(_NUM + r"|[^\W\d]+|[^\w\s]")
_NUMBER = re.compile(_NUM)


def sanitize(text: str) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, indent=1)


@dataclass
class TextDiff:
    """Where two texts differ beyond the tolerances; empty when they agree."""

    changed_tokens: list[tuple[str, str]]
    far_numbers: list[tuple[str, str]]
    budget: int

    @property
    def ok(self) -> bool:
        return not self.far_numbers and len(self.changed_tokens) <= self.budget

    def describe(self) -> str:
        parts = []
        if len(self.changed_tokens) > self.budget:
            shown = "; ".join(f"{a!r} -> {b!r}" for a, b in self.changed_tokens[:6])
            parts.append(
                f"{len(self.changed_tokens)} changed tokens (budget {self.budget}): {shown}"
            )
        if self.far_numbers:
            shown = ", ".join(f"{a} -> {b}" for a, b in self.far_numbers[:6])
            parts.append(f"numbers out of tolerance: {shown}")
        return "; ".join(parts)


def _value(token: str) -> float:
    """A number token's value; ``mm:ss`` and ``h:mm:ss`` stamps in seconds."""
    seconds = 0.0
    for part in token.replace(",", "").split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def _close(a: str, b: str) -> bool:
    x, y = _value(a), _value(b)
    whole = "." not in a and "." not in b
    return abs(x - y) <= max(1.0 if whole else ABS_TOL, REL_TOL * max(abs(x), abs(y)))


def compare_text(expected: str, actual: str) -> TextDiff:
    """Token-level comparison: words and symbols exact up to a budget, numbers within tolerance."""
    a = _TOKEN.findall(sanitize(expected))
    b = _TOKEN.findall(sanitize(actual))
    skel_a = ["#" if _NUMBER.fullmatch(t) else t for t in a]
    skel_b = ["#" if _NUMBER.fullmatch(t) else t for t in b]
    changed: list[tuple[str, str]] = []
    far: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, skel_a, skel_b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            far += [
                (x, y)
                for x, y in zip(a[i1:i2], b[j1:j2], strict=True)
                if x != y and not _close(x, y)
            ]
        else:
            left, right = " ".join(a[i1:i2]), " ".join(b[j1:j2])
            changed += [(left, right)] * max(i2 - i1, j2 - j1)
    budget = max(MAX_TEXT_CHANGES, int(REL_TEXT_CHANGES * max(len(a), len(b))))
    return TextDiff(changed, far, budget)


def _shape(output: dict[str, Any]) -> tuple[Any, ...]:
    kind = output.get("output_type")
    if kind == "stream":
        return (kind, output.get("name"))
    if kind in ("display_data", "execute_result"):
        return (kind, tuple(sorted(output.get("data", {}))))
    return (kind, output.get("ename"))


def _texts(output: dict[str, Any]) -> dict[str, str]:
    if output.get("output_type") == "stream":
        return {"stream": _as_text(output.get("text", ""))}
    if output.get("output_type") == "error":
        return {"error": f"{output.get('ename')}: {output.get('evalue')}"}
    return {mime: _as_text(value) for mime, value in output.get("data", {}).items()}


def compare_cell(saved: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> list[str]:
    """Problems between a cell's saved outputs and the ones it gives now (empty: they agree)."""
    problems = []
    errors = [o for o in fresh if o.get("output_type") == "error"]
    if errors and not any(o.get("output_type") == "error" for o in saved):
        e = errors[0]
        return [f"raised {e.get('ename')}: {e.get('evalue')}"]
    shapes_saved = [_shape(o) for o in saved]
    shapes_fresh = [_shape(o) for o in fresh]
    if shapes_saved != shapes_fresh:
        return [f"outputs differ in structure: saved {shapes_saved}, now {shapes_fresh}"]
    for index, (old, new) in enumerate(zip(saved, fresh, strict=True)):
        old_texts, new_texts = _texts(old), _texts(new)
        for key, text in old_texts.items():
            diff = compare_text(text, new_texts[key])
            if not diff.ok:
                problems.append(f"output {index} ({key}): {diff.describe()}")
    return problems


def compare_notebook(saved: Any, fresh: Any) -> list[str]:
    """Problems cell by cell; ``saved`` and ``fresh`` are nbformat notebooks of the same cells."""
    problems = []
    code = [(i, c) for i, c in enumerate(saved.cells) if c.cell_type == "code"]
    fresh_code = [c for c in fresh.cells if c.cell_type == "code"]
    for (index, old), new in zip(code, fresh_code, strict=True):
        if VOLATILE_TAG in old.metadata.get("tags", []):
            errors = [o for o in new.outputs if o.get("output_type") == "error"]
            problems += [
                f"cell {index}: raised {e.get('ename')}: {e.get('evalue')}" for e in errors
            ]
            continue
        problems += [f"cell {index}: {p}" for p in compare_cell(old.outputs, new.outputs)]
    return problems
