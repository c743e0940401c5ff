"""Speech quality measures shared by tests and benchmarks: word error rate after normalising
both sides (numbers, money and times read as words, so "$12.50" and "twelve dollars and fifty
cents" agree), character error rate for Chinese, and a WAV wrapper for float samples.

The edit distance is the dozen lines of textbook Levenshtein: the normalisation is the part that
matters here, and it is our own (``venice_nb.local.normalize``)."""

from __future__ import annotations

import io
import re
import wave

import numpy as np

ROMANCE = {
    "es": (
        "El viejo pescador caminaba cada mañana hasta el puerto para mirar el cielo. "
        "Los niños del pueblo querían sus historias más que nada en el mundo. "
        "Los días de tormenta se quedaba en casa y arreglaba sus redes."
    ),
    "fr": (
        "Le vieux pêcheur marchait chaque matin jusqu'au port pour regarder le ciel. "
        "Les enfants du village aimaient ses histoires plus que tout au monde. "
        "Les jours de tempête, il restait chez lui et réparait ses filets."
    ),
    "it": (
        "Il vecchio pescatore camminava ogni mattina fino al porto per guardare il cielo. "
        "I bambini del villaggio amavano le sue storie più di ogni altra cosa. "
        "Nei giorni di tempesta restava a casa e riparava le reti."
    ),
    "pt": (
        "O velho pescador caminhava todas as manhãs até o porto para olhar o céu. "
        "As crianças da aldeia adoravam as suas histórias mais do que tudo. "
        "Nos dias de tempestade ficava em casa e consertava as redes."
    ),
}
"""Three sentences per language for the round trip (one sentence is too few words for a stable rate)."""


_DOTTED = re.compile(r"\b(?:\w\.){2,}")
"""Initialisms written with dots ("a.m.", "U.S."), one word as "AM" and "US" are."""


def words(text: str, language: str = "en") -> list[str]:
    """Lower-case words of ``text`` with numbers and symbols spelled out, punctuation dropped
    ("a.m." and "AM" are one word either way)."""
    try:
        from venice_nb.local.normalize import normalize
    except ImportError:  # pragma: no cover - before normalisation existed
        spelled = text
    else:
        spelled = normalize(text, language)
    spelled = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), spelled.lower())
    return re.sub(r"[^\w' ]+", " ", spelled.replace("-", " ")).split()


def word_error_rate(reference: str, hypothesis: str, language: str = "en") -> float:
    """Word-level Levenshtein distance over the reference length, after ``words``."""
    ref, hyp = words(reference, language), words(hypothesis, language)
    return _edit_distance(ref, hyp) / max(1, len(ref))


MANDARIN = "老渔夫每天早上都走到港口去看天空。村里的孩子们最喜欢听他讲故事。暴风雨的日子里，他待在家里修补渔网。"
"""The fisherman text of ``ROMANCE`` in Mandarin (simplified characters), three sentences."""


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Character-level Levenshtein distance over the reference length, for Chinese: punctuation
    and spaces dropped, both sides in simplified characters (Whisper writes either script)."""
    import zhconv

    ref, hyp = (re.sub(r"[^\w]", "", zhconv.convert(t, "zh-cn")) for t in (reference, hypothesis))
    return _edit_distance(list(ref), list(hyp)) / max(1, len(ref))


def _edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r_item in enumerate(ref, 1):
        previous, row[0] = row[:], i
        for j, h_item in enumerate(hyp, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (r_item != h_item))
    return row[-1]


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """Mono float samples as a 16-bit WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()
