"""Property and schema fuzzing of the offline server: zero 5xx, zero crashes, bounded memory.

Bodies come from ``openapi-audio.yaml``: valid ``CreateSpeechRequestSchema`` objects built from
the schema's own types, enums and bounds, then mutated (wrong types, out of range, extra fields,
huge strings, unicode, missing fields, not an object, not JSON); multipart forms for
transcriptions and voice cloning carry random bytes, truncated real audio, real audio and random
fields. Everything goes over aiohttp to a ``LocalServer`` on 127.0.0.1 in this process, whose
resident memory (VmRSS) is read before and after each run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("piper")
pytest.importorskip("faster_whisper")

import aiohttp
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkit.audio_fixtures import encode, tone
from testkit.standin import load_contract, shared_dir
from venice_nb.local import LocalConfig, LocalServer

pytestmark = [
    pytest.mark.local,
    pytest.mark.slow,
    # the server's multipart parser warns about the broken headers it is fed here, as it should
    pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionHeader"),
]

SPEECH = "/audio/speech"
TRANSCRIBE = "/audio/transcriptions"
VOICES = "/audio/voices"
EXAMPLES = 60
MEMORY_BOUND_MB = 100.0
"""Growth of resident memory allowed over one fuzz run, once the engines are loaded."""
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run, so a CI failure reproduces locally
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

OPENAPI = yaml.safe_load(
    (shared_dir() / "venice-api" / "openapi-audio.yaml").read_text(encoding="utf-8")
)
SCHEMAS: dict[str, Any] = OPENAPI["components"]["schemas"]
SPEECH_SCHEMA: dict[str, Any] = SCHEMAS["CreateSpeechRequestSchema"]
SPEECH_PROPS: dict[str, Any] = SPEECH_SCHEMA["properties"]
CATALOG = load_contract(shared_dir())
VOICES_BY_MODEL: dict[str, list[str]] = {
    m["id"]: list(m["model_spec"].get("voices", [])) for m in CATALOG.models if m["type"] == "tts"
}
MAX_SPOKEN_CHARS = 120
"""Valid inputs are kept short (the schema allows 4096) so each example speaks in well under 1 s."""

# NUL is refused with 400 (tests/test_bad_input.py, test_server_never_answers_5xx_to_pathological_json);
# kept out of the generated "valid" text so valid examples stay speakable.
KNOWN_CRASHERS = "\x00"
CHARS = st.characters(codec="utf-8", exclude_characters=KNOWN_CRASHERS)  # no lone surrogates
HEADER_CHARS = st.characters(codec="utf-8", min_codepoint=32, exclude_characters="\x7f")
"""What aiohttp lets into a header (control characters are covered by the hand-made bodies)."""
ASCII = st.characters(min_codepoint=32, max_codepoint=126)
"""aiohttp's FormData writes other field names as name*=, which its own writer then refuses."""
# A control character in a part's header makes aiohttp raise InvalidHeader, which the server
# answers with 500: pinned by test_a_control_character_in_a_part_header_is_a_4xx below.
PART_HEADER_CHARS = st.characters(codec="utf-8", exclude_categories=["Cc"])
JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(CHARS, max_size=20)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def vm_rss_mb() -> float:
    """This process's resident memory in MB, from /proc/self/status (the server runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


# --------------------------------------------------------------------------- strategies


def from_property(name: str, prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the schema accepts for one property (types, enums, bounds, lengths)."""
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    kind = prop.get("type")
    if kind == "boolean":
        return st.booleans()
    if kind in ("number", "integer"):
        return st.floats(
            min_value=prop.get("minimum"),
            max_value=prop.get("maximum"),
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == "string":
        high = prop.get("maxLength", 64)
        high = min(high, MAX_SPOKEN_CHARS if name == "input" else 600)
        return st.text(CHARS, min_size=prop.get("minLength", 0), max_size=high)
    raise AssertionError(f"unexpected schema type {kind!r} for {name}")


def _huge(length: tuple[int, int]) -> st.SearchStrategy[str]:
    """A long string cheaply: one drawn character (any plane) repeated, or a repeated word."""
    unit = st.text(CHARS, min_size=1, max_size=5)
    return st.tuples(unit, st.integers(*length)).map(lambda t: (t[0] * t[1])[: t[1]])


@st.composite
def valid_speech(draw: st.DrawFn) -> dict[str, Any]:
    """A body CreateSpeechRequestSchema accepts; the voice is usually one of the model's own."""
    required = set(SPEECH_SCHEMA.get("required", []))
    body: dict[str, Any] = {}
    for name, prop in SPEECH_PROPS.items():
        if name in required or draw(st.booleans()):
            body[name] = draw(from_property(name, prop))
    model = body.get("model", SPEECH_PROPS["model"].get("default", "tts-kokoro"))
    voices = VOICES_BY_MODEL.get(model) or []
    if voices and draw(st.integers(0, 3)) > 0:
        body["voice"] = draw(st.sampled_from(voices))
    return body


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


MUTATIONS = (
    "wrong_type",
    "out_of_range",
    "extra_field",
    "huge_string",
    "unicode",
    "missing_input",
    "not_an_object",
    "not_json",
)


@st.composite
def mutated_speech(draw: st.DrawFn) -> bytes:
    """A speech body broken in one way the schema forbids (or stretched to its edges)."""
    body = draw(valid_speech())
    how = draw(st.sampled_from(MUTATIONS))
    if how == "wrong_type":
        key = draw(st.sampled_from(sorted(SPEECH_PROPS)))
        expected = SPEECH_PROPS[key].get("type")
        body[key] = draw(
            JSON_VALUES.filter(
                lambda v: (
                    _type_of(v) != expected
                    and not (expected == "number" and isinstance(v, int | float))
                )
            )
        )
    elif how == "out_of_range":
        key = draw(st.sampled_from(["speed", "temperature", "top_p"]))
        low, high = SPEECH_PROPS[key]["minimum"], SPEECH_PROPS[key]["maximum"]
        body[key] = draw(
            st.floats(max_value=low, exclude_max=True)
            | st.floats(min_value=high, exclude_min=True)
            | st.sampled_from([float("nan"), 10**400])
        )
    elif how == "extra_field":
        key = draw(st.text(CHARS, min_size=1, max_size=30).filter(lambda k: k not in SPEECH_PROPS))
        body[key] = draw(JSON_VALUES)
    elif how == "huge_string":
        key = draw(st.sampled_from(["input", "voice", "prompt", "language"]))
        limit = SPEECH_PROPS[key].get("maxLength", 64)
        body[key] = draw(_huge((limit + 1, limit + 20_000)))
    elif how == "unicode":
        # Any code point, NUL and unpaired surrogates included (JSON escapes them): 200 or 400.
        body["input"] = draw(st.text(st.characters(), min_size=1, max_size=MAX_SPOKEN_CHARS))
    elif how == "missing_input":
        body.pop("input", None)
    elif how == "not_an_object":
        return json.dumps(draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))).encode()
    else:
        return draw(st.binary(max_size=2048))
    return json.dumps(body).encode()


def _real_audio() -> list[bytes]:
    return [
        encode("wav", tone(1.6, freq=220.0)),
        encode("mp3", tone(1.5, freq=330.0)),
        encode("flac", tone(1.7, freq=250.0)),
        encode("opus", tone(1.5, freq=300.0)),
    ]


REAL_AUDIO = _real_audio()
UPLOAD_FIELDS = {
    TRANSCRIBE: SCHEMAS["CreateTranscriptionRequestSchema"]["properties"],
    VOICES: SCHEMAS["CreateClonedVoiceRequestSchema"]["properties"],
}


@st.composite
def upload_file(draw: st.DrawFn) -> bytes | None:
    """No file, random bytes, a real file cut anywhere, or a real file."""
    kind = draw(st.sampled_from(["real", "truncated", "random", "none"]))
    if kind == "none":
        return None
    if kind == "random":
        return draw(st.binary(max_size=4096))
    audio = draw(st.sampled_from(REAL_AUDIO))
    if kind == "truncated":
        return audio[: draw(st.integers(0, len(audio) - 1))]
    return audio


@st.composite
def form_fields(draw: st.DrawFn, endpoint: str) -> list[tuple[str, str]]:
    """Form fields: the schema's names with valid, random or huge values, and unknown names."""
    props = UPLOAD_FIELDS[endpoint]
    known = st.sampled_from(sorted(set(props) - {"file"}))
    unknown = st.text(ASCII, min_size=1, max_size=12)
    fields = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(unknown if draw(st.integers(0, 4)) == 3 else known)
        prop = props.get(name, {})
        value = draw(
            (st.sampled_from(prop["enum"]) if "enum" in prop else st.nothing())
            | st.sampled_from(["true", "false", "en", ""])
            | st.text(CHARS, max_size=40)
            | _huge((1000, 80_000))
        )
        fields.append((name, value))
    return fields


@st.composite
def multipart_request(draw: st.DrawFn, endpoint: str) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in draw(form_fields(endpoint)):
        form.add_field(name, value)
    file = draw(upload_file())
    if file is not None:
        form.add_field(
            "file",
            file,
            filename=draw(st.text(HEADER_CHARS, min_size=1, max_size=40)),
            content_type=draw(
                st.sampled_from(
                    ["audio/wav", "audio/mpeg", "application/octet-stream", "text/plain"]
                )
            ),
        )
    if file is not None and draw(st.integers(0, 9)) == 7:
        form.add_field("file", file, filename="again.wav")  # a second file part
    return form


@st.composite
def raw_multipart(draw: st.DrawFn) -> tuple[str, bytes]:
    """A hand-made multipart body with random boundary, headers and part names (may be broken)."""
    boundary = draw(
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=70)
    )
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(
            st.sampled_from(["file", "file", "model", "language", "timestamps"])
            | st.text(PART_HEADER_CHARS, max_size=20)
        )
        extra = draw(st.sampled_from(["", '; filename="x.wav"', "; filename=", "\r\nX-Junk: 1"]))
        payload = draw(upload_file()) or draw(st.binary(max_size=200))
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n'.encode(
                "utf-8", "surrogatepass"
            )
            + payload
            + b"\r\n"
        )
    ending = draw(st.sampled_from([f"--{boundary}--\r\n"] * 3 + [f"--{boundary}", ""]))
    declared = draw(st.sampled_from([boundary] * 3 + [boundary[:-1] or "x", f'"{boundary}"']))
    return f"multipart/form-data; boundary={declared}", b"".join(parts) + ending.encode()


# --------------------------------------------------------------------------- the server and checks


class Harness:
    """One event loop and aiohttp session reused across examples, and the answers' tally."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.runner = asyncio.Runner()
        self.session: aiohttp.ClientSession = self.runner.run(self._session())
        self.statuses: dict[int, int] = {}

    @staticmethod
    async def _session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))

    def send(
        self, path: str, *, data: Any, content_type: str | None = None, method: str = "POST"
    ) -> tuple[int, str, bytes]:
        async def go() -> tuple[int, str, bytes]:
            headers = {"Content-Type": content_type} if content_type else {}
            async with self.session.request(
                method, self.base_url + path, data=data, headers=headers
            ) as resp:
                return resp.status, resp.content_type, await resp.read()

        status, ctype, body = self.runner.run(go())
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return status, ctype, body

    def close(self) -> None:
        self.runner.run(self.session.close())
        self.runner.close()


def check_answer(status: int, ctype: str, body: bytes, what: str) -> None:
    """No 5xx; an error is a JSON body with an error message; a success is audio or JSON/text."""
    assert status < 500, f"{what} -> {status} {body[:300]!r}"
    if status >= 400:
        assert ctype == "application/json", f"{what} -> {status} {ctype}"
        answer = json.loads(body)
        assert isinstance(answer.get("error"), str) and answer["error"], answer
    else:
        assert ctype.startswith(("audio/", "application/json", "text/plain")), ctype


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A LocalServer on 127.0.0.1 with both engines loaded (so memory is measured warm)."""
    with LocalServer(LocalConfig(data_dir=tmp_path_factory.mktemp("fuzz-local"))) as server:
        h = Harness(server.base_url)
        try:
            # One voice of every model, at the longest valid input the fuzzing sends, streamed and
            # not: every engine, voice and buffer size is loaded before memory is measured.
            for i, (model, voices) in enumerate(sorted(VOICES_BY_MODEL.items())):
                body = {
                    "input": ("Warm up the engine with a sentence. " * 4)[:MAX_SPOKEN_CHARS],
                    "model": model,
                    "voice": voices[len(voices) // 2],
                    "streaming": i % 2 == 1,
                    "speed": 0.25 if i == 0 else 1.0,
                }
                status, _, raw = h.send(
                    SPEECH, data=json.dumps(body), content_type="application/json"
                )
                assert status == 200, raw[:200]
            form = aiohttp.FormData()
            form.add_field("file", REAL_AUDIO[0], filename="warm.wav")
            assert h.send(TRANSCRIBE, data=form)[0] == 200
            yield h
        finally:
            h.close()


@pytest.fixture
def bounded(harness: Harness) -> Iterator[Harness]:
    """Around one fuzz run: memory growth within the bound, and the server still answering."""
    before = vm_rss_mb()
    harness.statuses.clear()
    yield harness
    grown = vm_rss_mb() - before
    status, _, body = harness.send("/models?type=tts", data=None, method="GET")
    assert status == 200 and json.loads(body)["data"], "the server stopped answering"
    assert grown < MEMORY_BOUND_MB, f"resident memory grew by {grown:.0f} MB"


# --------------------------------------------------------------------------- the fuzz runs


def test_valid_speech_bodies_are_never_a_server_error(bounded: Harness) -> None:
    @FUZZ
    @given(body=valid_speech())
    def run(body: dict[str, Any]) -> None:
        status, ctype, raw = bounded.send(
            SPEECH, data=json.dumps(body), content_type="application/json"
        )
        check_answer(status, ctype, raw, f"valid {body!r}"[:300])

    run()
    assert bounded.statuses.get(200, 0) >= EXAMPLES // 4  # many were really spoken


def test_mutated_speech_bodies_are_4xx_never_5xx(bounded: Harness) -> None:
    @FUZZ
    @given(body=mutated_speech())
    def run(body: bytes) -> None:
        status, ctype, raw = bounded.send(SPEECH, data=body, content_type="application/json")
        check_answer(status, ctype, raw, f"mutated {body[:200]!r}")

    run()
    assert sum(n for s, n in bounded.statuses.items() if 400 <= s < 500) >= EXAMPLES // 2


@pytest.mark.parametrize("endpoint", [TRANSCRIBE, VOICES])
def test_random_multipart_uploads_are_never_a_server_error(bounded: Harness, endpoint: str) -> None:
    @FUZZ
    @given(form=multipart_request(endpoint))
    def run(form: aiohttp.FormData) -> None:
        status, ctype, raw = bounded.send(endpoint, data=form)
        check_answer(status, ctype, raw, f"{endpoint} form")

    run()


@pytest.mark.parametrize("endpoint", [TRANSCRIBE, VOICES])
def test_hand_made_multipart_bodies_are_never_a_server_error(
    bounded: Harness, endpoint: str
) -> None:
    @FUZZ
    @given(request=raw_multipart())
    def run(request: tuple[str, bytes]) -> None:
        content_type, body = request
        status, ctype, raw = bounded.send(endpoint, data=body, content_type=content_type)
        check_answer(status, ctype, raw, f"{endpoint} raw {content_type!r} {body[:120]!r}")

    run()


def test_a_control_character_in_a_part_header_is_a_4xx(harness: Harness) -> None:
    body = b'--0\r\nContent-Disposition: form-data; name="\x1f"\r\n\r\n\r\n--0--\r\n'
    for endpoint in (TRANSCRIBE, VOICES):
        status, ctype, raw = harness.send(
            endpoint, data=body, content_type="multipart/form-data; boundary=0"
        )
        check_answer(status, ctype, raw, f"{endpoint} control character in a part header")
