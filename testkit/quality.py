"""Speech quality measures shared by tests and benchmarks: word error rate after normalising
both sides (numbers, money and times read as words, so "$12.50" and "twelve dollars and fifty
cents" agree) and a WAV wrapper for float samples."""

from __future__ import annotations

import io
import re
import wave

import numpy as np

_DOTTED_TIME = re.compile(r"\b(\d{1,2})\.(\d{2})(\s*[ap]\.?m\b)", re.IGNORECASE)


def words(text: str, language: str = "en") -> list[str]:
    """Lower-case words of ``text`` with numbers and symbols spelled out, punctuation dropped
    (Whisper's British "7.30 pm" counts as the time it is)."""
    text = _DOTTED_TIME.sub(r"\1:\2\3", text)
    try:
        from venice_nb.local.normalize import normalize
    except ImportError:  # pragma: no cover - before normalisation existed
        spelled = text
    else:
        spelled = normalize(text, language)
    return re.sub(r"[^\w' ]+", " ", spelled.lower().replace("-", " ")).split()


def word_error_rate(reference: str, hypothesis: str, language: str = "en") -> float:
    """Word-level Levenshtein distance over the reference length, after ``words``."""
    ref, hyp = words(reference, language), words(hypothesis, language)
    row = list(range(len(hyp) + 1))
    for i, r_word in enumerate(ref, 1):
        previous, row[0] = row[:], i
        for j, h_word in enumerate(hyp, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (r_word != h_word))
    return row[-1] / max(1, len(ref))


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """Mono float samples as a 16-bit WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()
