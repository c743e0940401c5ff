"""How each catalog voice is rendered offline: which local engine and voice, at which pitch.

English voices (Kokoro ``a``/``b`` voices and every other model's voices) go through the one
neural piper voice (a male speaker). To keep a voice's gender and to make voices differ, the
engine shifts pitch by a per-voice factor: the samples are labelled ``factor`` times their true
rate and resampled, which raises pitch *and formants* by ``factor`` (a chipmunk-style shift,
not a true female voice), and a pitch-preserving stretch (FFmpeg ``atempo``) restores the
duration. Female voices get 1.40-1.60, neutral 1.18-1.28, male 0.90-1.08, chosen from a CRC of
``model/voice`` so the choice is stable across runs and machines; a per-voice tempo within
±5 % varies the delivery too. Non-English Kokoro voices go through espeak-ng in their
language, with a male or female espeak variant and a base pitch (0.8-1.2 times espeak's
default) chosen the same way.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Literal

from .catalog import KOKORO, Catalog, Gender, VoiceInfo

Engine = Literal["piper", "espeak"]

PIPER_F0_HZ = 93.0
"""Median pitch of the bundled en_US-joe-medium voice, measured with ``audio.estimate_f0``."""

_PITCH_RANGES: dict[Gender, tuple[float, float]] = {
    "female": (1.40, 1.60),
    "neutral": (1.18, 1.28),
    "male": (0.90, 1.08),
}
MAX_CLONE_PITCH = 1.6
"""Highest shift given to a cloned voice: beyond about x1.6 the shifted voice loses intelligibility."""
_TEMPO_RANGE = (0.95, 1.05)
_ESPEAK_PITCH_RANGE = (0.8, 1.2)  # times espeak's base pitch 50 (its 0-100 scale)
_ESPEAK_VARIANTS: dict[Gender, tuple[str, ...]] = {
    "female": ("f1", "f2", "f3", "f4", "f5"),
    "male": ("m1", "m2", "m3", "m4", "m5", "m6", "m7"),
    "neutral": ("m3", "f2"),
}
_CUSTOM_VOICE_ID = re.compile(r"^[A-Za-z0-9]{20}$")
CLONE_PREFIX = "vv_"


@dataclass(frozen=True)
class VoicePlan:
    """One way to render a voice: engine, local voice name, pitch factor, tempo factor."""

    engine: Engine
    local_voice: str
    pitch: float = 1.0
    tempo: float = 1.0

    def label(self) -> str:
        """What the ``x-venice-nb-local-voice`` header says, e.g. ``piper:en_US-joe-medium;pitch=1.462;tempo=1.010``."""
        return f"{self.engine}:{self.local_voice};pitch={self.pitch:.3f};tempo={self.tempo:.3f}"


def _unit(key: str, salt: str) -> float:
    """A stable pseudo-random number in [0, 1] from a string (CRC32, not Python's salted hash)."""
    return (zlib.crc32(f"{salt}:{key}".encode()) % 10007) / 10006


def _between(bounds: tuple[float, float], u: float) -> float:
    low, high = bounds
    return round(low + (high - low) * u, 3)


def plan_for_info(info: VoiceInfo, piper_voice: str) -> VoicePlan:
    """The rendering plan of a catalog voice (deterministic)."""
    key = f"{info.model}/{info.voice}"
    tempo = _between(_TEMPO_RANGE, _unit(key, "tempo"))
    if info.language.startswith("en"):
        pitch = _between(_PITCH_RANGES[info.gender], _unit(key, "pitch"))
        return VoicePlan("piper", piper_voice, pitch, tempo)
    variants = _ESPEAK_VARIANTS[info.gender]
    variant = variants[zlib.crc32(key.encode()) % len(variants)]
    pitch = _between(_ESPEAK_PITCH_RANGE, _unit(key, "pitch"))
    return VoicePlan("espeak", f"{info.language}+{variant}", pitch, tempo)


def plan_for_pitch(f0_hz: float | None, piper_voice: str) -> VoicePlan:
    """The plan for a cloned voice: the piper voice shifted towards the sample's measured pitch
    (between x0.75 and x1.6, so a typical female sample lands at the top of that range)."""
    if f0_hz is None:
        return VoicePlan("piper", piper_voice, 1.0, 1.0)
    pitch = min(MAX_CLONE_PITCH, max(0.75, f0_hz / PIPER_F0_HZ))
    return VoicePlan("piper", piper_voice, round(pitch, 3), 1.0)


def is_custom_voice_id(voice: str) -> bool:
    """True for a raw ElevenLabs-style provider Voice ID (20 letters and digits)."""
    return bool(_CUSTOM_VOICE_ID.match(voice))


def plan_for_custom_id(model_id: str, voice: str, piper_voice: str) -> VoicePlan:
    """A provider Voice ID the engine cannot know: a stable neutral-pitched variant of piper."""
    return plan_for_info(VoiceInfo(model_id, voice, "neutral", "en-us"), piper_voice)


def voice_table(catalog: Catalog, piper_voice: str) -> list[tuple[str, str, str, str, str]]:
    """Rows of ``--list-voices``: model, catalog voice, gender, language, local rendering."""
    rows: list[tuple[str, str, str, str, str]] = []
    for model_id in catalog.ids("tts"):
        for voice in catalog.voices(model_id):
            info = catalog.voice_info(model_id, voice)
            plan = plan_for_info(info, piper_voice)
            if plan.engine == "piper":
                how = f"piper {plan.local_voice}  pitch x{plan.pitch:.2f}  tempo x{plan.tempo:.2f}"
            else:
                how = f"espeak-ng {plan.local_voice}  pitch x{plan.pitch:.2f}  tempo x{plan.tempo:.2f}"
            rows.append((model_id, voice, info.gender, info.language, how))
    return rows


__all__ = [
    "CLONE_PREFIX",
    "KOKORO",
    "PIPER_F0_HZ",
    "VoicePlan",
    "is_custom_voice_id",
    "plan_for_custom_id",
    "plan_for_info",
    "plan_for_pitch",
    "voice_table",
]
