"""How each catalog voice is rendered offline: which local engine and voice, at which pitch.

**Natural** (the default): every voice in a language Kokoro speaks (``kokoro.KOKORO_LANGUAGES``)
gets a Kokoro voice of its gender: a pack or a blend of packs. Kokoro's Spanish, French, Hindi,
Italian, Portuguese and Mandarin voices speak with their own packs (``kokoro.OWN_PACKS``).
Voices of one model, gender and language are numbered in id order and take the options of that
gender in turn, so two of them differ in timbre (another pack or blend), not only in pitch; a
per-voice tempo within ±5 % varies the delivery. With one male pack only three male options are
measurably different speakers (``speakers.DIFFERENT_SPEAKERS_DB``); ``VoiceBook.same_speaker``
names the earlier voices of a group that a voice cannot be told from, and ``--list-voices``
prints them. Japanese voices without pyopenjtalk-plus, and Mandarin ones without misaki[zh], use
espeak-ng as in fast mode.

**Fast** (``VENICE_NB_FAST=1``, ``serve --fast``): the previous rendering, 6-11 times cheaper.
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

import json
import math
import re
import zlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from .catalog import KOKORO, Catalog, Gender, VoiceInfo
from .kokoro import FEMALE_PACKS, KOKORO_LANGUAGES, MALE_PACK, OWN_PACKS, Blend
from .speakers import DIFFERENT_SPEAKERS_DB, speaker_distance

Engine = Literal["piper", "espeak", "kokoro"]

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
    """One way to render a voice: engine, local voice name (a Kokoro blend's recipe), pitch
    factor, tempo factor, and for Kokoro the blend and the language it speaks."""

    engine: Engine
    local_voice: str
    pitch: float = 1.0
    tempo: float = 1.0
    blend: Blend | None = None
    language: str = "en-us"

    def label(self) -> str:
        """What the ``x-venice-nb-local-voice`` header says, e.g. ``piper:en_US-joe-medium;pitch=1.462;tempo=1.010``."""
        return f"{self.engine}:{self.local_voice};pitch={self.pitch:.3f};tempo={self.tempo:.3f}"

    def describe(self) -> str:
        """One line for ``--list-voices`` and the docs."""
        if self.engine == "kokoro":
            return f"kokoro {self.local_voice} ({self.language})  tempo x{self.tempo:.2f}"
        name = "piper" if self.engine == "piper" else "espeak-ng"
        return f"{name} {self.local_voice}  pitch x{self.pitch:.2f}  tempo x{self.tempo:.2f}"


def _female_options() -> list[Blend]:
    packs = [Blend.pack(n) for n in FEMALE_PACKS]
    pairs = [(a, b) for i, a in enumerate(FEMALE_PACKS) for b in FEMALE_PACKS[i + 1 :]]
    halves = [Blend.mix((a, 0.5), (b, 0.5)) for a, b in pairs]
    leaning = [Blend.mix((a, 0.75), (b, 0.25)) for a, b in pairs]
    leaning += [Blend.mix((b, 0.75), (a, 0.25)) for a, b in pairs]
    return packs + halves + leaning


MALE_SPREAD = (
    # The order of the male options: each the farthest, by speaker distance
    # (``speakers.speaker_distance`` on the measured envelopes), from those before it, starting
    # with the pack. Only the first three are different speakers (>= 1.6 dB from one another);
    # the rest are the one male pack shifted a little (``--list-voices`` says so).
    "jm_kumo",
    "timbre(jm_kumo*0.5+jf_alpha*0.5)+prosody(jm_kumo)",
    "timbre(jm_kumo*0.5+jf_tebukuro*0.5)+prosody(jm_kumo)",
    "timbre(jm_kumo*0.5+jf_gongitsune*0.5)+prosody(jm_kumo)",
    "jm_kumo*0.7+jf_alpha*0.3",
    "jm_kumo*0.8+jf_alpha*0.1+jf_gongitsune*0.1",
    "timbre(jm_kumo*0.5+jf_nezumi*0.5)+prosody(jm_kumo)",
    "jm_kumo*1.15-jf_alpha*0.15",
    "jm_kumo*0.7+jf_tebukuro*0.3",
    "jm_kumo*0.7+jf_nezumi*0.3",
    "jm_kumo*0.85+jf_nezumi*0.15",
    "jm_kumo*1.15-jf_nezumi*0.15",
    "jm_kumo*0.7+jf_gongitsune*0.3",
    "jm_kumo*0.85+jf_gongitsune*0.15",
    "jm_kumo*1.15-jf_gongitsune*0.15",
    "jm_kumo*0.8+jf_nezumi*0.1+jf_tebukuro*0.1",
    "jm_kumo*0.8+jf_alpha*0.1+jf_tebukuro*0.1",
    "jm_kumo*0.8+jf_gongitsune*0.1+jf_tebukuro*0.1",
    "jm_kumo*1.15-jf_tebukuro*0.15",
    "jm_kumo*0.8+jf_alpha*0.1+jf_nezumi*0.1",
    "jm_kumo*0.8+jf_gongitsune*0.1+jf_nezumi*0.1",
    "jm_kumo*0.85+jf_alpha*0.15",
    "jm_kumo*0.85+jf_tebukuro*0.15",
)


def _male_options() -> list[Blend]:
    """The male pack; it moved 15 % or 30 % towards a female pack or 15 % away; 10 % of two;
    and its prosody (a male pitch, 94 Hz) under a timbre half-way to a female pack: in
    ``MALE_SPREAD`` order."""
    out = [Blend.pack(MALE_PACK)]
    for amount in (0.15, -0.15, 0.3):
        out += [Blend.towards(MALE_PACK, f, amount) for f in FEMALE_PACKS]
    pairs = [(a, b) for i, a in enumerate(FEMALE_PACKS) for b in FEMALE_PACKS[i + 1 :]]
    out += [Blend.mix((MALE_PACK, 0.8), (a, 0.1), (b, 0.1)) for a, b in pairs]
    out += [Blend.split(((MALE_PACK, 0.5), (f, 0.5)), MALE_PACK) for f in FEMALE_PACKS]
    by_recipe = {b.recipe(): b for b in out}
    return [by_recipe[r] for r in MALE_SPREAD]


def _neutral_options() -> list[Blend]:
    even = [Blend.mix((MALE_PACK, 0.5), (f, 0.5)) for f in FEMALE_PACKS]
    return even + [Blend.mix((MALE_PACK, 0.6), (f, 0.4)) for f in FEMALE_PACKS]


NATURAL_OPTIONS: dict[Gender, list[Blend]] = {
    "female": _female_options(),
    "male": _male_options(),
    "neutral": _neutral_options(),
}
"""The Kokoro voices of each gender, most intelligible first (packs before blends)."""

OWN_PACK_BLENDS: dict[str, Blend] = {
    # zf_xiaoni's pack alone is heard at 50 % character error rate ("明天早上" as "引田造商").
    # On ten selection sentences (not testkit.sentences): half zf_xiaoyi 11 %, 40 % zf_xiaoni
    # with 30 % each of the other two women 4.7 %, which is kept (it leans on neither); its
    # figure on testkit.sentences is in docs/offline-engine.md.
    "zf_xiaoni": Blend.mix(("zf_xiaoni", 0.4), ("zf_xiaoxiao", 0.3), ("zf_xiaoyi", 0.3)),
}
"""Voices of ``OWN_PACKS`` whose own pack alone is hard to understand, and the blend they use."""


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
    return VoicePlan("espeak", f"{info.language}+{variant}", pitch, tempo, language=info.language)


def natural_plan(
    info: VoiceInfo, slot: int, missing: frozenset[str] = frozenset()
) -> VoicePlan | None:
    """The Kokoro plan of a catalog voice, ``slot`` its index among the voices of its model,
    gender and language; None when Kokoro does not speak its language here (``missing``: the
    languages whose reader is not installed)."""
    language = info.language
    if language not in KOKORO_LANGUAGES or language in missing:
        return None
    if info.model == KOKORO and info.voice in OWN_PACKS:
        blend = OWN_PACK_BLENDS.get(info.voice) or Blend.pack(info.voice)
    else:
        options = NATURAL_OPTIONS[info.gender]
        blend = options[slot % len(options)]
    tempo = _between(_TEMPO_RANGE, _unit(f"{info.model}/{info.voice}", "tempo"))
    return VoicePlan("kokoro", blend.recipe(), 1.0, tempo, blend, language)


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


@dataclass(frozen=True)
class VoiceShape:
    """What a Kokoro option sounds like, measured: median pitch and first two formants (Hz)."""

    f0: float
    f1: float
    f2: float


@cache
def _measured() -> dict[str, Any]:
    """``data/kokoro_voices.json`` (written by ``python -m venice_nb.local.voices``), read once."""
    text = resources.files(__package__).joinpath("data", "kokoro_voices.json").read_text()
    return dict(json.loads(text))


@cache
def option_shapes() -> dict[str, VoiceShape]:
    """The measured shape of every natural option by recipe."""
    return {recipe: VoiceShape(**shape) for recipe, shape in _measured()["options"].items()}


@cache
def option_envelopes() -> dict[str, tuple[float, ...]]:
    """The measured spectral envelope of every natural option by recipe (``speakers.envelope``
    of ``MEASURE_TEXT``)."""
    return {recipe: tuple(values) for recipe, values in _measured().get("envelopes", {}).items()}


@cache
def option_distance(a: str, b: str) -> float:
    """Speaker distance (dB) between two options by recipe; infinite when one is unmeasured."""
    if a == b:
        return 0.0
    envelopes = option_envelopes()
    if a not in envelopes or b not in envelopes:
        return math.inf
    return speaker_distance(envelopes[a], envelopes[b])


def nearest_option(f0_hz: float | None, formants: tuple[float, float] | None) -> Blend:
    """The natural option closest to a sample's pitch and formants (in log-frequency terms)."""
    options = {b.recipe(): b for group in NATURAL_OPTIONS.values() for b in group}
    shapes = option_shapes()

    def distance(recipe: str) -> float:
        shape = shapes.get(recipe)
        if shape is None:
            return math.inf
        d = 0.0
        if f0_hz:
            d += (math.log(f0_hz / shape.f0) / 0.12) ** 2
        if formants:
            d += (math.log(formants[0] / shape.f1) / 0.15) ** 2
            d += (math.log(formants[1] / shape.f2) / 0.10) ** 2
        return d

    return options[min(options, key=distance)]


class VoiceBook:
    """Every voice's rendering plan in one mode (natural or fast), worked out once.

    Natural mode numbers the voices of each model, gender and language in id order (the
    ``slot`` that picks a Kokoro option); fast mode is ``plan_for_info``.
    """

    def __init__(
        self,
        catalog: Catalog,
        piper_voice: str,
        *,
        natural: bool,
        missing: frozenset[str] = frozenset(),
    ) -> None:
        self.catalog = catalog
        self.piper_voice = piper_voice
        self.natural = natural
        self.missing = missing
        """Languages whose reader is not installed (``KokoroEngine.missing_readers``)."""
        self._slots: dict[tuple[str, str], int] = {}
        self._groups: dict[tuple[str, str, str], list[str]] = {}
        for model_id in catalog.ids("tts"):
            for voice in sorted(catalog.voices(model_id)):
                info = catalog.voice_info(model_id, voice)
                group = self._groups.setdefault((model_id, info.gender, info.language), [])
                self._slots[(model_id, voice)] = len(group)
                group.append(voice)

    def plan(self, info: VoiceInfo) -> VoicePlan:
        """The plan of a catalog voice (or of a custom id, given neutral English info)."""
        if self.natural:
            slot = self._slots.get((info.model, info.voice))
            if slot is None:
                slot = zlib.crc32(f"{info.model}/{info.voice}".encode())
            plan = natural_plan(info, slot, self.missing)
            if plan is not None:
                return plan
        return plan_for_info(info, self.piper_voice)

    def same_speaker(self, info: VoiceInfo) -> list[str]:
        """The voices before this one (in id order) of its model, gender and language that the
        engine renders as the same speaker: a Kokoro option less than ``DIFFERENT_SPEAKERS_DB``
        from this voice's, nearest first. Empty outside natural mode."""
        if not self.natural:
            return []
        plan = self.plan(info)
        if plan.engine != "kokoro":
            return []
        near: list[tuple[float, str]] = []
        for other in self._groups.get((info.model, info.gender, info.language), []):
            if other == info.voice:
                break
            theirs = self.plan(self.catalog.voice_info(info.model, other))
            if theirs.engine != "kokoro":
                continue
            distance = option_distance(plan.local_voice, theirs.local_voice)
            if distance < DIFFERENT_SPEAKERS_DB:
                near.append((distance, other))
        return [voice for _distance, voice in sorted(near)]

    def custom(self, model_id: str, voice: str) -> VoicePlan:
        """A provider Voice ID the engine cannot know: a stable neutral voice."""
        return self.plan(VoiceInfo(model_id, voice, "neutral", "en-us"))

    def clone(self, f0_hz: float | None, formants: tuple[float, float] | None) -> VoicePlan:
        """A cloned voice: the option nearest the sample (natural), or piper at its pitch."""
        if not self.natural:
            return plan_for_pitch(f0_hz, self.piper_voice)
        blend = nearest_option(f0_hz, formants)
        return VoicePlan("kokoro", blend.recipe(), 1.0, 1.0, blend, "en-us")

    def table(self) -> list[tuple[str, str, str, str, str]]:
        """Rows of ``--list-voices``: model, catalog voice, gender, language, local rendering."""
        rows: list[tuple[str, str, str, str, str]] = []
        for model_id in self.catalog.ids("tts"):
            for voice in self.catalog.voices(model_id):
                info = self.catalog.voice_info(model_id, voice)
                how = self.plan(info).describe()
                shared = self.same_speaker(info)
                if shared:
                    more = f" (+{len(shared) - 3} more)" if len(shared) > 3 else ""
                    how += f"  same speaker as {', '.join(shared[:3])}{more}"
                rows.append((model_id, voice, info.gender, info.language, how))
        return rows


def voice_table(
    catalog: Catalog, piper_voice: str, natural: bool = True
) -> list[tuple[str, str, str, str, str]]:
    """Rows of ``--list-voices``: model, catalog voice, gender, language, local rendering."""
    return VoiceBook(catalog, piper_voice, natural=natural).table()


__all__ = [
    "CLONE_PREFIX",
    "KOKORO",
    "NATURAL_OPTIONS",
    "PIPER_F0_HZ",
    "VoiceBook",
    "VoicePlan",
    "VoiceShape",
    "is_custom_voice_id",
    "natural_plan",
    "nearest_option",
    "option_distance",
    "option_envelopes",
    "option_shapes",
    "plan_for_custom_id",
    "plan_for_info",
    "plan_for_pitch",
    "voice_table",
]


MEASURE_TEXT = (
    "The children of the village loved those stories more than anything else in the world, "
    "and they asked for them again on every rainy evening by the fire."
)


def measure_options(
    model_dir: Path | None = None,
    known: dict[str, dict[str, float]] | None = None,
    known_envelopes: dict[str, list[float]] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, list[float]]]:
    """Synthesise ``MEASURE_TEXT`` with every natural option not in ``known`` (and
    ``known_envelopes``) and measure it: shape (pitch, formants) and spectral envelope."""
    from .assets import default_model_dir
    from .audio import ASR_RATE, estimate_f0, estimate_formants, resample
    from .kokoro import SAMPLE_RATE, KokoroEngine
    from .speakers import envelope

    engine = KokoroEngine(model_dir or default_model_dir(), threads=2, cores=2)
    shapes: dict[str, dict[str, float]] = {}
    envelopes: dict[str, list[float]] = {}
    for blend in dict.fromkeys(b for group in NATURAL_OPTIONS.values() for b in group):
        recipe = blend.recipe()
        if known and recipe in known and known_envelopes and recipe in known_envelopes:
            shapes[recipe], envelopes[recipe] = known[recipe], known_envelopes[recipe]
            continue
        samples = engine.synthesize(MEASURE_TEXT, blend, "en-us", 1.0)
        f0 = estimate_f0(resample(samples, SAMPLE_RATE, ASR_RATE), ASR_RATE) or 0.0
        f1, f2 = estimate_formants(samples, SAMPLE_RATE) or (0.0, 0.0)
        shapes[recipe] = {"f0": round(f0, 1), "f1": round(f1), "f2": round(f2)}
        envelopes[recipe] = [round(float(v), 2) for v in envelope(samples, SAMPLE_RATE)]
    return shapes, envelopes


def main() -> None:
    """``python -m venice_nb.local.voices [--all]``: measure the options (the new ones, or
    ``--all``) into data/kokoro_voices.json."""
    import sys

    target = Path(__file__).with_name("data") / "kokoro_voices.json"
    old = {} if "--all" in sys.argv else json.loads(target.read_text())
    shapes, envelopes = measure_options(
        known=old.get("options"), known_envelopes=old.get("envelopes")
    )
    text = json.dumps({"text": MEASURE_TEXT, "options": shapes}, indent=1)[:-2]
    rows = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in envelopes.items())
    target.write_text(f'{text},\n "envelopes": {{\n{rows}\n }}\n}}\n')  # a line per envelope
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
