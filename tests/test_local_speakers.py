"""Voices of one model, gender and language sound like different people, or ``--list-voices``
says they share a speaker: a speaker distance (warped spectral envelope, ``local/speakers.py``)
that keeps different packs apart and one pack shifted together, the male options spread as far
as the one male pack allows, and the pairs it cannot part marked."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from venice_nb.local.catalog import load_catalog
from venice_nb.local.speakers import DIFFERENT_SPEAKERS_DB, envelope, speaker_distance
from venice_nb.local.voices import NATURAL_OPTIONS, VoiceBook, option_distance, option_shapes

RATE = 24000
SENTENCE = "Every morning the old fisherman walked down to the harbor and looked at the sky."


def _book() -> VoiceBook:
    return VoiceBook(load_catalog(), "en_US-joe-medium", natural=True)


def _groups(book: VoiceBook) -> dict[tuple[str, str, str], list[str]]:
    groups: dict[tuple[str, str, str], list[str]] = {}
    for model in book.catalog.ids("tts"):
        for voice in sorted(book.catalog.voices(model)):
            info = book.catalog.voice_info(model, voice)
            groups.setdefault((model, info.gender, info.language), []).append(voice)
    return groups


def test_every_pair_of_a_group_is_two_speakers_or_listed_as_one() -> None:
    """bm_george and bm_lewis, am_adam and am_michael: either the measured distance of their
    options parts them, or the row of the later one in ``--list-voices`` names the earlier."""
    book = _book()
    rows = {(model, voice): how for model, voice, _g, _l, how in book.table()}
    marked = 0
    for (model, _gender, _language), voices in _groups(book).items():
        plans = {v: book.plan(book.catalog.voice_info(model, v)) for v in voices}
        if any(p.engine != "kokoro" for p in plans.values()):
            continue
        for first, second in combinations(voices, 2):
            distance = option_distance(plans[first].local_voice, plans[second].local_voice)
            shared = book.same_speaker(book.catalog.voice_info(model, second))
            if distance < DIFFERENT_SPEAKERS_DB:
                assert first in shared, (model, first, second, distance)
                marked += 1
            else:
                assert first not in shared, (model, first, second, distance)
        for voice in voices:
            shared = book.same_speaker(book.catalog.voice_info(model, voice))
            row = rows[(model, voice)]
            assert ("same speaker as " + shared[0] in row) if shared else "same speaker" not in row
    assert marked > 0  # the one male pack cannot give every man his own voice


def test_small_male_groups_are_all_different_speakers() -> None:
    """The first three male options are measured apart; a model with up to three men of one
    language (bm_daniel, bm_fable, bm_george; em_*, pm_*, hm_*) shares nobody."""
    males = [b.recipe() for b in NATURAL_OPTIONS["male"]]
    for a, b in combinations(males[:3], 2):
        assert option_distance(a, b) >= DIFFERENT_SPEAKERS_DB, (a, b, option_distance(a, b))
    book = _book()
    for (model, gender, _language), voices in _groups(book).items():
        if gender == "male" and len(voices) <= 3:
            for voice in voices:
                assert not book.same_speaker(book.catalog.voice_info(model, voice)), (model, voice)
    george = book.catalog.voice_info("tts-kokoro", "bm_george")
    assert not book.same_speaker(george)


def test_every_option_has_a_measured_envelope_and_men_stay_low() -> None:
    shapes = option_shapes()
    for gender, options in NATURAL_OPTIONS.items():
        for blend in options:
            assert option_distance(blend.recipe(), "jm_kumo") < float("inf"), blend.recipe()
            if gender == "male":
                assert shapes[blend.recipe()].f0 <= 165, blend.recipe()


@pytest.fixture(scope="module")
def spoken() -> dict[str, np.ndarray]:
    """One short sentence in the two closest packs, the male pack and the farthest man."""
    pytest.importorskip("kokoro_onnx")
    from venice_nb.local.assets import default_model_dir
    from venice_nb.local.kokoro import Blend, KokoroEngine

    engine = KokoroEngine(default_model_dir(), threads=None, cores=2)
    far_man = NATURAL_OPTIONS["male"][1]
    voices = {n: Blend.pack(n) for n in ("jm_kumo", "jf_nezumi", "jf_tebukuro")}
    voices[far_man.recipe()] = far_man
    return {name: engine.synthesize(SENTENCE, b, "en-us", 1.0) for name, b in voices.items()}


@pytest.mark.local
def test_the_distance_parts_speakers_and_keeps_a_shifted_voice_together(
    spoken: dict[str, np.ndarray],
) -> None:
    from venice_nb.local.audio import ASR_RATE, estimate_f0, resample, time_stretch

    env = {name: envelope(x, RATE) for name, x in spoken.items()}
    margin = 1.15  # other CPUs give slightly different audio
    for a, b in combinations(env, 2):  # every pair here is two speakers
        assert speaker_distance(env[a], env[b]) >= DIFFERENT_SPEAKERS_DB * margin, (a, b)
    for name in ("jm_kumo", "jf_nezumi"):
        x = spoken[name]
        for shifted in (
            resample(x, round(RATE * 0.89), RATE),  # pitch and formants down 11 %
            resample(x, round(RATE * 1.12), RATE),  # up 12 %
            time_stretch(x, RATE, 0.85),
        ):
            distance = speaker_distance(env[name], envelope(shifted, RATE))
            assert distance <= DIFFERENT_SPEAKERS_DB / margin, (name, distance)
    far_man = NATURAL_OPTIONS["male"][1].recipe()
    f0 = estimate_f0(resample(spoken[far_man], RATE, ASR_RATE), ASR_RATE)
    assert f0 is not None and f0 <= 165, (far_man, f0)
