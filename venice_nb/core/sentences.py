"""Sentence-aligned splitting of long text into segments that fit a model's word budget.

Used by ``stream_long_text``: every segment is synthesised by its own request, and the per-segment
audio is joined by :mod:`venice_nb.core.containers`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_WORDS", "QWEN3_MAX_WORDS", "max_words_for_model", "split_text"]

DEFAULT_MAX_WORDS: int = 100
QWEN3_MAX_WORDS: int = 25


def max_words_for_model(model: str) -> int:
    """Words per segment for ``model``: the Qwen3 voices cut off after ~25 words, others do not."""
    return QWEN3_MAX_WORDS if model.strip().lower().startswith("tts-qwen3") else DEFAULT_MAX_WORDS


# Scripts written without spaces between words: kana, CJK ideographs, halfwidth katakana.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_ATOM_RE = re.compile(rf"[^\w\s]*[{_CJK}][^\w\s]*|[^{_CJK}]+")
_CLOSERS = "\"')]}»”’」』）】》"
_LATIN_ENDS = ".!?…"
_CJK_ENDS = "。！？｡"
_LATIN_CLAUSE = ",;:—–"
_CJK_CLAUSE = "，、；：､"
_DASHES = frozenset({"-", "--", "—", "–"})
# Abbreviations after which a period never ends a sentence.
_TITLES = frozenset(
    "mr mrs ms mx dr prof sr jr st rev fr gen col capt cpt lt sgt cmdr adm gov sen rep hon "
    "pres mt ft e.g i.e cf viz vs approx ca".split()
)
# Abbreviations that do not end a sentence when a number follows ("No. 5", "Fig. 3").
_NUMBERED = frozenset("no nos fig figs vol vols p pp ch chap sec art eq ref op ex".split())


@dataclass(frozen=True)
class _Atom:
    """One word (or one CJK character) and the separator that preceded it in the text."""

    text: str
    sep: str


def _atoms(text: str) -> list[_Atom]:
    atoms: list[_Atom] = []
    for token in text.split():
        for i, match in enumerate(_ATOM_RE.finditer(token)):
            atoms.append(_Atom(match.group(), "" if i else " "))
    return atoms


def _first_letter(text: str) -> str:
    for ch in text:
        if ch.isalnum():
            return ch
    return ""


def _is_sentence_end(atoms: list[_Atom], i: int) -> bool:
    atom = atoms[i]
    nxt = atoms[i + 1] if i + 1 < len(atoms) else None
    stripped = atom.text.rstrip(_CLOSERS)
    last = stripped[-1:]
    if last and last in _CJK_ENDS:
        return True
    if not last or last not in _LATIN_ENDS:
        return False
    if nxt is None:
        return True
    if nxt.sep != " ":
        return False
    if last in "!?":
        return True
    following = _first_letter(nxt.text)
    if following.islower():
        return False  # "e.g. this", "approx. ten", "wait... then"
    if last == "…" or stripped.endswith(".."):
        return True
    word = stripped[:-1].lstrip("\"'([{«“‘").lower()
    if word in _TITLES:
        return False
    if word in _NUMBERED and following.isdigit():
        return False
    return not (len(word) == 1 and word.isalpha() and stripped[-2:-1].isupper())  # initials


def _is_clause_end(atoms: list[_Atom], i: int) -> bool:
    atom = atoms[i]
    if atom.text in _DASHES:
        return True
    last = atom.text.rstrip(_CLOSERS)[-1:]
    if last and last in _CJK_CLAUSE:
        return True
    nxt_sep = atoms[i + 1].sep if i + 1 < len(atoms) else " "
    return bool(last) and last in _LATIN_CLAUSE and nxt_sep == " "


def _groups(atoms: list[_Atom], ends: list[bool]) -> list[list[_Atom]]:
    groups: list[list[_Atom]] = []
    current: list[_Atom] = []
    for atom, end in zip(atoms, ends, strict=True):
        current.append(atom)
        if end:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _chars(unit: Sequence[_Atom]) -> int:
    return sum(len(a.text) for a in unit) + sum(len(a.sep) for a in unit[1:])


def split_text(text: str, *, max_words: int, max_chars: int = 4096) -> list[str]:
    """Sentence-aligned segments, each <= max_words words and <= max_chars characters, in order, none empty.

    Whole sentences are packed greedily; a sentence over the budget is cut at clause punctuation,
    then between words, and a word longer than ``max_chars`` between characters. Whitespace is
    normalised to single spaces; CJK ideographs and kana count as one word each because those
    scripts do not put spaces between words. Segments cut at a space rejoin with one space, cuts
    inside space-less CJK text rejoin with nothing.
    """
    if max_words < 1 or max_chars < 1:
        raise ValueError(
            f"max_words ({max_words}) and max_chars ({max_chars}) must both be at least 1."
        )
    atoms = _atoms(text)
    if not atoms:
        return []

    def fits(unit: Sequence[_Atom]) -> bool:
        return len(unit) <= max_words and _chars(unit) <= max_chars

    # (atoms, starts_fresh): an over-long sentence, and an over-long clause within it, starts a
    # new segment, so cuts fall on sentence and clause boundaries wherever the budget allows.
    units: list[tuple[list[_Atom], bool]] = []
    sentence_ends = [_is_sentence_end(atoms, i) for i in range(len(atoms))]
    for sentence in _groups(atoms, sentence_ends):
        if fits(sentence):
            units.append((sentence, False))
            continue
        clause_ends = [_is_clause_end(sentence, i) for i in range(len(sentence))]
        fresh = True
        for clause in _groups(sentence, clause_ends):
            if fits(clause):
                units.append((clause, fresh))
                fresh = False
                continue
            fresh = True  # an over-long clause also starts its own segment
            for atom in clause:
                for start in range(0, max(len(atom.text), 1), max_chars):
                    piece = atom.text[start : start + max_chars]
                    units.append(([_Atom(piece, atom.sep if start == 0 else "")], fresh))
                    fresh = False

    segments: list[str] = []
    current: list[_Atom] = []
    chars = 0
    for unit, fresh in units:
        size = _chars(unit)
        if current and (
            fresh
            or len(current) + len(unit) > max_words
            or chars + len(unit[0].sep) + size > max_chars
        ):
            segments.append(_render(current))
            current, chars = [], 0
        chars += size + (len(unit[0].sep) if current else 0)
        current.extend(unit)
    if current:
        segments.append(_render(current))
    return segments


def _render(atoms: Sequence[_Atom]) -> str:
    return atoms[0].text + "".join(a.sep + a.text for a in atoms[1:])
