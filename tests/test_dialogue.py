"""Multi-voice scripts (issue 14): ``%%venice_speak --cast`` and ``venice_nb.dialogue``.

The pieces (script and cast parsing, silence, joining with pauses) are checked on their own; the
whole goes through real servers on 127.0.0.1: the strict stand-in (tones whose pitch is the
voice's and whose length follows the text, so order and timing can be read back from the audio),
a small stub that holds requests to prove lines are in flight together, and the offline engine.
Audio is compared within tolerances, never exactly."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiohttp import web
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from testkit.loopback import LoopbackServer
from testkit.standin import (
    CONTENT_TYPES,
    StandIn,
    load_contract,
    shared_dir,
    synthesize,
    tone_frequency,
)
from venice_nb import VeniceClient, session
from venice_nb.core.containers import AudioJoinError, join_with_pauses, silence
from venice_nb.core.dialogue import (
    CastMember,
    DialogueError,
    ScriptLine,
    parse_cast,
    parse_script,
    pauses_between,
    plan_dialogue,
    script_lines,
)
from venice_nb.notebook import runner
from venice_nb.notebook.dialogue import Dialogue, dialogue
from venice_nb.notebook.display import VNB_MIME
from venice_nb.notebook.embed import pcm_to_wav

CAST = "Ana=af_heart,Ben=tts-xai-v1:ara"
SCRIPT = """Ana: Good morning, Ben. Did you sleep well?
Ben: Not really. The neighbours had a party until 2:30.

And then the dog started barking.
Ana: Oh no. Coffee?
"""
DATA_URI = re.compile(r"data:audio/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]+")
FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]


# -- helpers ------------------------------------------------------------------------------------
def decode(data: bytes, fmt: str | None = None, rate: int = 24_000) -> tuple[np.ndarray, int]:
    """Mono float samples and their rate, as a player decodes them."""
    if fmt == "pcm":
        data = pcm_to_wav(data, rate)
    out: list[np.ndarray] = []
    got = 0
    with av.open(io.BytesIO(data)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono")
        for frame in container.decode(audio=0):
            for chunk in resampler.resample(frame):
                out.append(chunk.to_ndarray().ravel())
                got = chunk.sample_rate
    return np.concatenate(out), got


def onset(samples: np.ndarray, rate: int, after: float = 0.0, level: float = 0.05) -> float:
    """Seconds to the first sample louder than ``level`` at or after ``after``."""
    start = max(0, int(after * rate))
    loud = np.nonzero(np.abs(samples[start:]) > level)[0]
    assert loud.size, f"no sound after {after:.3f} s"
    return (start + int(loud[0])) / rate


def pitch(samples: np.ndarray, rate: int, start: float, end: float) -> float:
    """The dominant frequency (Hz) between ``start`` and ``end``."""
    part = samples[int(start * rate) : int(end * rate)]
    spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
    return float(np.fft.rfftfreq(len(part), 1 / rate)[int(np.argmax(spectrum))])


def text_without_markup(html: str) -> str:
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", "", html)


def run(sh: InteractiveShell, cell: str) -> tuple[Any, str, str]:
    with capture_output() as out:
        result = sh.run_cell(cell)
    assert result.error_in_exec is None, result.error_in_exec
    return result.result, out.stdout, out.stderr


# -- parsing ------------------------------------------------------------------------------------
def test_cast_reads_voices_and_per_entry_models() -> None:
    cast = parse_cast(" Ana=af_heart , Ben=tts-xai-v1:ara,")
    assert cast == {
        "Ana": CastMember("Ana", "af_heart"),
        "Ben": CastMember("Ben", "ara", "tts-xai-v1"),
    }
    assert str(cast["Ben"]) == "Ben=tts-xai-v1:ara"
    assert parse_cast({"Ana": "af_heart", "Ben": "tts-xai-v1:ara"}) == cast
    assert parse_cast(list(cast.values())) == cast


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Ana", r"Cast entry 'Ana' has no '='; write NAME=VOICE"),
        ("Ana=af_heart,Ben=", r"gives Ben no voice; write Ben=VOICE"),
        ("Ana=af_heart,Ben=  ", r"gives Ben no voice"),
        ({"Ben": ""}, r"gives Ben no voice"),
        ("=af_heart", r"has no name before '='"),
        ("Ana=af_heart,Ana=af_sky", r"Ana is cast twice \(Ana=af_heart and Ana=af_sky\)"),
        ("Ana=:af_heart", r"empty model before ':'"),
        ("", r"The cast is empty"),
        ({"Ana": 3}, r"gives Ana a int"),
    ],
)
def test_bad_casts_are_one_clear_error(spec: Any, message: str) -> None:
    with pytest.raises(DialogueError, match=message):
        parse_cast(spec)


def test_script_lines_continuations_blank_lines_and_colons_in_text() -> None:
    lines = parse_script(SCRIPT, ["Ana", "Ben"])
    assert lines == [
        ScriptLine(1, "Ana", "Good morning, Ben. Did you sleep well?"),
        ScriptLine(2, "Ben", "Not really. The neighbours had a party until 2:30."),
        ScriptLine(4, "Ben", "And then the dog started barking."),  # no name: same speaker
        ScriptLine(5, "Ana", "Oh no. Coffee?"),
    ]
    # A colon inside the text, with or without a speaker's name first, stays text.
    colons = parse_script("Ben: Note: the train leaves at 10:30.\nThe time is 10:15 now.", ["Ben"])
    assert [line.text for line in colons] == [
        "Note: the train leaves at 10:30.",
        "The time is 10:15 now.",
    ]
    assert [line.speaker for line in colons] == ["Ben", "Ben"]


@pytest.mark.parametrize(
    ("script", "message", "line", "speaker"),
    [
        (
            "Ana: Hi.\nCara: Hello!",
            r"Line 2 \('Cara: Hello!'\) is spoken by Cara, who is not in the cast \(Ana, Ben\)"
            r".*Add Cara=VOICE to the cast",
            2,
            "Cara",
        ),
        ("ana: Hi.", r"is spoken by ana.*Did you mean Ana\?", 1, "ana"),
        ("Ana: Hi.\nBen:\nAna: Bye.", r"Line 2 \('Ben:'\) is empty; write what Ben says", 2, "Ben"),
        (
            "\n\nHello there.",
            r"Line 3 \('Hello there.'\) has no speaker; start it with a name",
            3,
            None,
        ),
        (
            "Ana: Hi.\nTime check: 10:45",
            r"is spoken by Time check.*start the line with 'Ana: '",
            2,
            "Time check",
        ),
        ("  \n\n", r"The script has no lines", None, None),
    ],
)
def test_bad_scripts_name_the_line_and_the_fix(
    script: str, message: str, line: int | None, speaker: str | None
) -> None:
    with pytest.raises(DialogueError, match=message) as caught:
        script_lines(script, ["Ana", "Ben"])
    assert (caught.value.line, caught.value.speaker) == (line, speaker)


def test_pairs_continue_the_previous_speaker_and_refuse_empty_lines() -> None:
    lines = script_lines(
        [("Ana", "Hi."), (None, "Anyone?"), ("Ben", "Here."), ("", "Hi.")], ["Ana", "Ben"]
    )
    assert [(line.number, line.speaker) for line in lines] == [
        (1, "Ana"),
        (2, "Ana"),
        (3, "Ben"),
        (4, "Ben"),
    ]
    with pytest.raises(DialogueError, match=r"Line 2 \(Ben\) is empty") as caught:
        script_lines([("Ana", "Hi."), ("Ben", "  ")], ["Ana", "Ben"])
    assert caught.value.line == 2
    with pytest.raises(DialogueError, match=r"Line 1 .* has no speaker"):
        script_lines([(None, "Hi.")], ["Ana"])
    with pytest.raises(DialogueError, match=r"Line 2 .*Cara, who is not in the cast"):
        script_lines([("Ana", "Hi."), ("Cara", "Yo.")], ["Ana"])
    as_strings = script_lines(["Ana: Hi.", "Anyone?", "Ben: Here."], ["Ana", "Ben"])
    assert [(line.number, line.speaker, line.text) for line in as_strings] == [
        (1, "Ana", "Hi."),
        (2, "Ana", "Anyone?"),
        (3, "Ben", "Here."),
    ]
    with pytest.raises(DialogueError, match=r"each line must be a \(name, text\) pair"):
        script_lines([("Ana", "Hi.", "extra")], ["Ana"])  # type: ignore[list-item]


def test_pauses_are_longer_where_the_speaker_changes() -> None:
    lines = script_lines("Ana: a\nAna: b\nBen: c\nAna: d", ["Ana", "Ben"])
    assert pauses_between(lines) == [0.4, 0.6, 0.6]
    assert pauses_between(lines, 0.2, 1.0) == [0.2, 1.0, 1.0]
    assert pauses_between(lines, 0) == [0.0, 0.0, 0.0]
    with pytest.raises(DialogueError, match="pause must be from 0 to 10"):
        pauses_between(lines, -1)
    with pytest.raises(DialogueError, match="turn_pause must be a number"):
        pauses_between(lines, 0.3, "long")  # type: ignore[arg-type]


# -- silence and joining (stdlib core) ----------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("rate", [24_000, 48_000])
def test_silence_is_silent_and_shaped_like_its_reference(fmt: str, rate: int) -> None:
    like = synthesize(fmt, rate, 50, 300)
    quiet = silence(fmt, 0.5, like=like, sample_rate=rate)
    samples, got = decode(quiet, fmt, rate)
    assert float(np.max(np.abs(samples))) == 0.0
    frame = {"mp3": 0.024, "aac": 0.043, "opus": 0.02}.get(fmt, 0.001)
    assert len(samples) / got == pytest.approx(0.5, abs=frame + 0.007)  # opus: pre-skip
    join_with_pauses(fmt, [like, like], [0.5], sample_rate=rate)  # the joiner accepts it


@pytest.mark.parametrize("fmt", FORMATS)
def test_joined_spans_are_where_each_part_sounds(fmt: str) -> None:
    """Each span starts where its part's sound begins in the joined audio, and the joined
    duration is the parts' plus the pauses (codec priming aside)."""
    freqs = (220, 330, 440)
    parts = [synthesize(fmt, 24_000, c, f) for c, f in zip((80, 130, 60), freqs, strict=True)]
    pauses = [0.4, 0.7]
    joined = join_with_pauses(fmt, parts, pauses, sample_rate=24_000)
    samples, rate = decode(joined.data, fmt)
    own = [decode(p, fmt) for p in parts]
    assert len(samples) / rate == pytest.approx(joined.duration, abs=0.002)
    slack = {"mp3": 0.07, "aac": 0.05, "opus": 0.03}.get(fmt, 0.002)
    assert len(samples) / rate == pytest.approx(
        sum(len(x) / r for x, r in own) + sum(pauses), abs=slack * len(parts)
    )
    for (start, end), (x, r), freq in zip(joined.spans, own, freqs, strict=True):
        heard = onset(samples, rate, after=start - 0.1)
        assert heard == pytest.approx(start + onset(x, r), abs=0.025), (start, heard)
        assert end - start == pytest.approx(len(x) / r, abs=0.07 if fmt == "aac" else 0.03)
        assert pitch(samples, rate, start + 0.1, end - 0.1) == pytest.approx(freq, abs=5)


def test_parts_of_different_layouts_are_refused_by_the_stdlib_joiner() -> None:
    parts = [synthesize("wav", 24_000, 50, 300), synthesize("wav", 48_000, 50, 300)]
    with pytest.raises(AudioJoinError, match="48000 Hz"):
        join_with_pauses("wav", parts, [0.3])


# -- planning against the catalog (the stand-in) ------------------------------------------------
async def test_plan_picks_one_format_every_speaking_model_offers(
    client: VeniceClient, standin: StandIn
) -> None:
    lines = script_lines(SCRIPT, ["Ana", "Ben"])
    plan = await plan_dialogue(client, lines, parse_cast(CAST), model="tts-kokoro")
    assert (plan.response_format, plan.reencode) == ("mp3", False)
    assert plan.models == ["tts-kokoro", "tts-xai-v1"]
    assert plan.cast["Ana"].model == "tts-kokoro"
    # Gradium has no mp3: opus is what both offer (and Opus is 48 kHz whatever the model's rate).
    gradium = parse_cast("Ana=af_heart,Ben=tts-gradium-v1:Emma")
    plan = await plan_dialogue(client, lines, gradium, model="tts-kokoro")
    assert (plan.response_format, plan.reencode) == ("opus", False)
    # ElevenLabs speaks only mp3, Gradium no mp3: each gets its own, to be re-encoded.
    apart = parse_cast("Ana=tts-elevenlabs-turbo-v2-5:Rachel,Ben=tts-gradium-v1:Emma")
    plan = await plan_dialogue(client, lines, apart, model="tts-kokoro")
    assert plan.reencode and plan.formats == {
        "tts-elevenlabs-turbo-v2-5": "mp3",
        "tts-gradium-v1": "opus",
    }
    # PCM at 24 and 48 kHz cannot be joined as it is.
    plan = await plan_dialogue(client, lines, gradium, model="tts-kokoro", response_format="pcm")
    assert plan.reencode
    assert standin.count("/audio/speech") == 0


@pytest.mark.parametrize(
    ("cast", "message"),
    [
        (
            "Ana=af_heart,Ben=tts-xai-v1:bm_george",
            r"Cast entry Ben=tts-xai-v1:bm_george: Voice 'bm_george' is not a voice of "
            r"tts-xai-v1.* bm_george is a voice of tts-kokoro; write Ben=tts-kokoro:bm_george\.",
        ),
        ("Ana=af_hart,Ben=bm_george", r"Cast entry Ana=af_hart: .*Did you mean af_heart"),
        ("Ana=af_heart,Ben=tts-nope:ara", r"Cast entry Ben=tts-nope:ara: Unknown tts model"),
    ],
)
async def test_plan_refuses_voices_their_model_lacks(
    client: VeniceClient, standin: StandIn, cast: str, message: str
) -> None:
    lines = script_lines(SCRIPT, ["Ana", "Ben"])
    with pytest.raises(DialogueError, match=message) as caught:
        await plan_dialogue(client, lines, parse_cast(cast), model="tts-kokoro")
    assert caught.value.param == "cast"
    assert standin.count("/audio/speech") == 0


# -- the notebook layer on the stand-in ---------------------------------------------------------
def test_magic_speaks_the_script_as_one_file_with_a_clickable_script(
    cloud_shell: tuple[InteractiveShell, StandIn],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sh, server = cloud_shell
    monkeypatch.chdir(tmp_path)
    result, _, err = run(sh, f'%%venice_speak --cast "{CAST}" --var d --out talk.mp3\n{SCRIPT}')
    assert err == ""
    assert isinstance(result, Dialogue) and sh.user_ns["d"] is result
    assert server.count("/audio/speech") == 4
    assert [(line.number, line.speaker, line.voice) for line in result.lines] == [
        (1, "Ana", "af_heart"),
        (2, "Ben", "ara"),
        (4, "Ben", "ara"),
        (5, "Ana", "af_heart"),
    ]
    assert result.format == "mp3" and (tmp_path / "talk.mp3").read_bytes() == result.data
    assert result.script.splitlines()[2] == "Ben: And then the dog started barking."
    assert result.cost_usd is not None and not result.offline
    # Each line is its speaker's voice, in script order, where the script says it is.
    samples, rate = decode(result.data)
    for line in result.lines:
        expected = tone_frequency(line.voice)
        assert pitch(samples, rate, line.start + 0.05, line.end - 0.05) == pytest.approx(
            expected, abs=5
        )
    starts = [line.start for line in result.lines]
    assert starts == sorted(starts)
    saved = result.save(tmp_path / "again.mp3")
    assert saved.read_bytes() == result.data


@pytest.mark.parametrize("fmt", FORMATS)
def test_lines_start_where_their_audio_begins_and_durations_add_up(
    cloud_shell: tuple[InteractiveShell, StandIn], fmt: str
) -> None:
    d = dialogue(SCRIPT, cast=CAST, format=fmt, pause=0.3, turn_pause=0.8, progress=False)
    assert d.format == fmt
    samples, rate = decode(d.data, fmt)
    own = [decode(line.audio.content, fmt) for line in d.lines]
    pauses = [
        0.3 if a.speaker == b.speaker else 0.8 for a, b in zip(d.lines, d.lines[1:], strict=False)
    ]
    slack = {"mp3": 0.07, "aac": 0.05, "opus": 0.03}.get(fmt, 0.002)
    total = sum(len(x) / r for x, r in own) + sum(pauses)
    assert len(samples) / rate == pytest.approx(total, abs=slack * len(own))
    assert d.duration == pytest.approx(len(samples) / rate, abs=0.03)
    for line, (x, r) in zip(d.lines, own, strict=True):
        heard = onset(samples, rate, after=line.start - 0.1)
        assert heard == pytest.approx(line.start + onset(x, r), abs=0.025), line


def test_models_without_a_shared_format_are_joined_by_re_encoding(
    cloud_shell: tuple[InteractiveShell, StandIn],
) -> None:
    cast = {"Ana": "tts-elevenlabs-turbo-v2-5:Rachel", "Ben": "tts-gradium-v1:Emma"}
    d = dialogue([("Ana", "Hello, Ben."), ("Ben", "Hello, Ana. How are you?")], cast=cast)
    assert d.reencoded and d.format == "mp3"
    assert [line.audio.format for line in d.lines] == ["mp3", "opus"]
    samples, rate = decode(d.data)
    for line in d.lines:
        x, r = decode(line.audio.content, line.audio.format)
        assert onset(samples, rate, after=line.start - 0.1) == pytest.approx(
            line.start + onset(x, r), abs=0.03
        )
        assert pitch(samples, rate, line.start + 0.05, line.end - 0.05) == pytest.approx(
            tone_frequency(line.voice), abs=5
        )


def test_lines_are_cached_one_by_one(cloud_shell: tuple[InteractiveShell, StandIn]) -> None:
    _, server = cloud_shell
    first = dialogue(SCRIPT, cast=CAST, progress=False)
    assert server.count("/audio/speech") == 4 and not first.cached
    again = dialogue(SCRIPT, cast=CAST, progress=False)
    assert server.count("/audio/speech") == 4 and again.cached
    assert "cached" in [t for t, _ in again.badges()]
    assert again.data == first.data
    changed = dialogue(SCRIPT.replace("Coffee?", "Tea?"), cast=CAST, progress=False)
    assert server.count("/audio/speech") == 5
    assert [line.cached for line in changed.lines] == [True, True, True, False]


BAD_CELLS = [
    ("Ana: Hi.\nCara: Hello!", CAST, r"Line 2 \('Cara: Hello!'\) is spoken by Cara"),
    ("Ana: Hi.\nBen:\n", CAST, r"Line 2 \('Ben:'\) is empty"),
    ("Ana: Hi.\nBen: Hello.", "Ana=af_heart,Ben=", r"gives Ben no voice"),
    ("Hello.\nBen: Hi.", CAST, r"Line 1 \('Hello.'\) has no speaker"),
    (
        "Ana: Hi.\nBen: Hello.",
        "Ana=af_heart,Ben=tts-xai-v1:af_sky",
        r"Voice 'af_sky' is not a voice of tts-xai-v1.* Run %venice_voices --model tts-xai-v1",
    ),
]


@pytest.mark.parametrize(("cell", "cast", "message"), BAD_CELLS)
def test_bad_input_is_one_line_before_anything_is_spoken(
    cloud_shell: tuple[InteractiveShell, StandIn], cell: str, cast: str, message: str
) -> None:
    sh, server = cloud_shell
    result, _, err = run(sh, f'%%venice_speak --cast "{cast}"\n{cell}')
    assert result is None
    assert err.startswith("venice_nb: ") and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert server.count("/audio/speech") == 0


def test_magic_options_that_do_not_go_together(
    cloud_shell: tuple[InteractiveShell, StandIn],
) -> None:
    sh, server = cloud_shell
    _, _, err = run(sh, f'%%venice_speak --cast "{CAST}" --voice af_sky\nAna: Hi.')
    assert "--voice and --cast together" in err
    _, _, err = run(sh, "%%venice_speak --pause 1\nHello.")
    assert "--pause and --turn-pause go with --cast" in err
    _, _, err = run(sh, f'%%venice_speak --cast "{CAST}" --pause -2\nAna: Hi.\nBen: Yo.')
    assert "pause must be from 0 to 10" in err
    assert server.count("/audio/speech") == 0


def test_cast_from_a_variable_and_one_line_form(
    cloud_shell: tuple[InteractiveShell, StandIn],
) -> None:
    sh, server = cloud_shell
    assert server.count("/audio/speech") == 0
    sh.user_ns["cast"] = {"Ana": "af_heart", "Ben": "tts-xai-v1:ara"}
    sh.user_ns["place"] = "the harbour"
    try:
        d, _, err = run(
            sh, "%%venice_speak --cast cast --pause 0.2\nAna: Meet me at {place}.\nBen: OK."
        )
        assert err == "" and d.lines[0].text == "Meet me at the harbour."
        assert d.lines[1].start - d.lines[0].end == pytest.approx(0.3, abs=0.1)
        one, _, err = run(sh, f'%venice_speak --cast "{CAST}" Ben: Just one line.')
        assert err == "" and [line.speaker for line in one.lines] == ["Ben"]
        assert server.count("/audio/speech") == 3
    finally:
        sh.user_ns.pop("cast", None)
        sh.user_ns.pop("place", None)


def test_a_refused_line_names_itself(cloud_shell: tuple[InteractiveShell, StandIn]) -> None:
    from testkit.standin import Fault

    sh, server = cloud_shell
    server.inject("/audio/speech", Fault.status(422))
    _, _, err = run(sh, f'%%venice_speak --cast "{CAST}"\n{SCRIPT}')
    assert re.search(r"^venice_nb: Line \d \((Ana|Ben)\): ", err), err


def test_the_result_is_durable_data_with_the_audio_stored_once(
    cloud_shell: tuple[InteractiveShell, StandIn],
) -> None:
    d = dialogue(SCRIPT, cast=CAST, progress=False)
    bundle = d._repr_mimebundle_()
    payload = bundle[VNB_MIME]
    assert payload["kind"] == "transcript"  # drawn by the transcript view, old extensions too
    assert payload["audio"] == {"mime": "audio/mpeg", "ref": "text/html"}
    assert len(DATA_URI.findall(bundle["text/html"])) == 1
    assert not DATA_URI.search(json.dumps(payload))
    assert [g["speaker"] for g in payload["groups"]] == ["Ana", "Ben", "Ben", "Ana"]
    assert [g["start"] for g in payload["groups"]] == [line.start for line in d.lines]
    assert payload["groups"][1]["words"] == [[d.lines[1].text, d.lines[1].start, d.lines[1].end]]
    assert payload["summary"].endswith("4 lines · 2 speakers · tts-kokoro + tts-xai-v1")
    json.dumps(bundle)
    text = text_without_markup(bundle["text/html"])
    assert "[00:00] Ana: Good morning, Ben." in text
    assert re.search(r"\[00:0\d\] Ben: Not really\.", text)
    assert bundle["text/plain"].startswith("<Dialogue ") and "2 speakers" in bundle["text/plain"]
    html = bundle["text/html"]
    assert html.count('class="vnb-speaker vnb-speaker-0"') == 2
    assert html.count('class="vnb-speaker vnb-speaker-1"') == 2
    assert "autoplay" not in payload
    loud = dialogue(SCRIPT, cast=CAST, autoplay=True, progress=False)._repr_mimebundle_()
    assert loud[VNB_MIME]["autoplay"] is True and loud[VNB_MIME]["created"] > 1_700_000_000_000
    assert '<audio controls preload="metadata" autoplay src=' in loud["text/html"]
    srt = d.transcript.to_srt()
    assert "Ana: Good morning, Ben." in srt and "Ben: And then the dog" in srt


# -- lines in flight together, order kept -------------------------------------------------------
class HoldingStub(LoopbackServer):
    """A tiny Venice stand-in on 127.0.0.1: the catalog from the contract, and speech that
    holds the first ``width`` requests until all of them have arrived, then answers them
    last-come first-served, so the lines complete in reverse order."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.held: list[asyncio.Event] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.starved = False
        self.models = [m for m in load_contract(shared_dir()).models if m["type"] == "tts"]

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/models", self.list_models)
        app.router.add_post("/api/v1/audio/speech", self.speech)
        return app

    async def list_models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "type": "tts", "data": self.models})

    async def speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        gate: asyncio.Event | None = None
        if len(self.held) < self.width:
            gate = asyncio.Event()
            self.held.append(gate)
            if len(self.held) == self.width:
                self.held[-1].set()
            try:
                await asyncio.wait_for(gate.wait(), 30)
            except TimeoutError:
                self.starved = True  # the client never had `width` lines in flight
        fmt = body.get("response_format", "mp3")
        audio = synthesize(
            fmt, 24_000, max(30, 6 * len(body["input"])), tone_frequency(body["voice"])
        )
        response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPES[fmt]})
        await response.prepare(request)
        await response.write(audio)
        await response.write_eof()
        self.in_flight -= 1
        if gate is not None:
            index = self.held.index(gate)
            if index:
                self.held[index - 1].set()
        return response


@pytest.fixture
def holding_stub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HoldingStub]:
    stub = HoldingStub(width=3)
    with stub.in_thread() as base_url:
        monkeypatch.setenv("VENICE_BASE_URL", base_url)
        monkeypatch.setenv("VENICE_API_KEY", "test-key")
        monkeypatch.setenv("VENICE_NB_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setattr(session, "_backend", None)
        try:
            yield stub
        finally:
            runner.shutdown()


def test_lines_are_in_flight_together_and_kept_in_order(holding_stub: HoldingStub) -> None:
    lines = [
        ("Ana", "One, the first line, rather long to say."),
        ("Ben", "Two."),
        ("Cy", "Three, in a third voice."),
        ("Ana", "Four."),
        ("Ben", "Five, the last."),
    ]
    cast = {"Ana": "af_heart", "Ben": "bm_george", "Cy": "tts-xai-v1:ara"}
    d = dialogue(lines, cast=cast, max_concurrency=3, progress=False)
    assert not holding_stub.starved and holding_stub.most_in_flight == 3
    samples, rate = decode(d.data)
    assert [line.text for line in d.lines] == [text for _, text in lines]
    for line in d.lines:
        assert pitch(samples, rate, line.start + 0.05, line.end - 0.05) == pytest.approx(
            tone_frequency(line.voice), abs=5
        )
        assert line.end - line.start == pytest.approx(0.06 * len(line.text), abs=0.08)
    starts = [line.start for line in d.lines]
    assert starts == sorted(starts)


# -- the offline engine -------------------------------------------------------------------------
@pytest.mark.local
def test_offline_engine_speaks_a_dialogue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("piper")
    monkeypatch.delenv("VENICE_API_KEY", raising=False)
    monkeypatch.delenv("VENICE_BASE_URL", raising=False)
    monkeypatch.setenv("VENICE_NB_CACHE_DIR", str(tmp_path / "cache"))
    if session._backend is not None and not session.get_backend().is_local:
        session.reset_backend()
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "venice_nb")
    try:
        d, _, err = run(
            sh,
            '%%venice_speak --cast "Ana=af_heart,Ben=bm_george" --pause 0.5\n'
            "Ana: The lighthouse is dark tonight.\n"
            "Ben: Then we wait for the morning.\n",
        )
    finally:
        sh.run_line_magic("unload_ext", "venice_nb")
    assert err == "" and d.offline and "offline engine" in repr(d)
    samples, rate = decode(d.data, d.format)
    own = [decode(line.audio.content, line.audio.format) for line in d.lines]
    assert len(samples) / rate == pytest.approx(sum(len(x) / r for x, r in own) + 0.75, abs=0.15)
    for line, (x, r) in zip(d.lines, own, strict=True):
        assert line.end - line.start == pytest.approx(len(x) / r, abs=0.1)
        heard = onset(samples, rate, after=line.start - 0.1, level=0.02)
        assert heard == pytest.approx(line.start + onset(x, r, level=0.02), abs=0.05)
