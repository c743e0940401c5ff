"""The bad-input matrix: every mistake gives one clear typed error (client) or a 4xx JSON error
body (server); the server never answers 5xx to bad input; no partial output file is left behind.

Client cases run against the strict stand-in and must be refused before any request is sent
(or, when only the server can know, come back as one typed error after one attempt). Server
cases speak raw HTTP to a ``LocalServer`` on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from testkit.audio_fixtures import encode, tone
from testkit.standin import Fault, StandIn
from venice_nb import VeniceClient
from venice_nb.core.errors import (
    BadRequestError,
    InvalidRequestError,
    UnprocessableEntityError,
)
from venice_nb.core.files import atomic_write
from venice_nb.core.types import AudioResponse

SPEECH = "/audio/speech"
TRANSCRIBE = "/audio/transcriptions"
VOICES = "/audio/voices"
SAY: dict[str, Any] = {"input": "Hello there.", "model": "tts-kokoro", "voice": "af_heart"}
MB = 1024 * 1024


def _one_clear_sentence(err: BaseException) -> str:
    """The error's text, checked to be one line, not huge, saying nothing twice, ending like a
    sentence (before the status suffix ``(HTTP 400, CODE, request ...)``)."""
    text = str(err)
    message = str(getattr(err, "message", text))
    assert "\n" not in text, text
    assert 10 < len(text) < 700, text
    assert message.rstrip().endswith((".", "?", "!")), message
    sentences = [s.strip() for s in message.replace("?", ".").split(". ") if len(s.strip()) > 20]
    assert len(sentences) == len(set(sentences)), f"repeated: {message}"
    return text


@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    """Files for the upload cases: real, empty, truncated, non-audio, huge, flac, a folder."""
    files = {
        "wav": tmp_path / "real.wav",
        "flac": tmp_path / "real.flac",
        "empty": tmp_path / "empty.wav",
        "truncated": tmp_path / "truncated.mp3",
        "text": tmp_path / "notes.mp3",
        "huge": tmp_path / "huge.wav",
        "folder": tmp_path / "folder.wav",
    }
    wav = encode("wav", tone(5.5))
    files["wav"].write_bytes(wav)
    files["flac"].write_bytes(encode("flac", tone(5.5)))
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(encode("mp3", tone(5.5))[:300])
    files["text"].write_text("These are meeting notes, not a recording.\n" * 20)
    with files["huge"].open("wb") as fh:  # a real WAV header, then 26 MB (sparse on disk)
        fh.write(wav[:44])
        fh.truncate(26 * MB)
    files["folder"].mkdir()
    return files


# --------------------------------------------------------------------------- client: refused up front

# (case id, method, keyword arguments over the method's base, the param named, a message fragment)
CLIENT_CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("empty text", "create_speech", {"input": ""}, "input", "empty"),
    ("whitespace-only text", "create_speech", {"input": " \n\t "}, "input", "whitespace"),
    ("4097-character text", "create_speech", {"input": "a" * 4097}, "input", "stream_long_text"),
    ("text not a string", "create_speech", {"input": 42}, "input", "string"),
    ("speed too low", "create_speech", {"speed": 0.1}, "speed", "0.25"),
    ("speed too high", "create_speech", {"speed": 4.5}, "speed", "4.0"),
    ("speed NaN", "create_speech", {"speed": float("nan")}, "speed", "speed"),
    ("speed infinite", "create_speech", {"speed": float("inf")}, "speed", "speed"),
    ("speed a string", "create_speech", {"speed": "fast"}, "speed", "number"),
    ("speed a bool", "create_speech", {"speed": True}, "speed", "number"),
    ("temperature negative", "create_speech", {"temperature": -0.5}, "temperature", "0.0"),
    ("top_p over one", "create_speech", {"top_p": 1.01}, "top_p", "1.0"),
    ("prompt over 500", "create_speech", {"prompt": "p" * 501}, "prompt", "500"),
    ("language one letter", "create_speech", {"language": "e"}, "language", "language"),
    ("stream not a bool", "create_speech", {"stream": "yes"}, "stream", "True or False"),
    ("model not a string", "create_speech", {"model": 42}, "model", "model"),
    ("unknown model", "create_speech", {"model": "tts-kokoroo"}, "model", "tts-kokoro"),
    ("ASR model for speech", "create_speech", {"model": "openai/whisper-large-v3"}, "model", "Unknown"),
    ("voice missing", "create_speech", {"voice": None}, "voice", "voice id"),
    ("voice blank", "create_speech", {"voice": "  "}, "voice", "voice id"),
    ("voice of another model", "create_speech", {"voice": "altair"}, "voice", "tts-kokoro"),
    ("voice in the wrong case", "create_speech", {"voice": "AF_HEART"}, "voice", "af_heart"),
    ("format unknown", "create_speech", {"response_format": "ogg"}, "response_format", "mp3"),
    ("format not a string", "create_speech", {"response_format": 3}, "response_format", "string"),
    (
        "format the model lacks",
        "create_speech",
        {"model": "tts-xai-v1", "voice": "ara", "response_format": "flac"},
        "response_format",
        "mp3, wav, pcm",
    ),
    ("long text empty", "stream_long_text", {"input": "   "}, "input", "empty"),
    ("long text concurrency 0", "stream_long_text", {"max_concurrency": 0}, "max_concurrency", ">= 1"),
    ("long text words 0", "stream_long_text", {"max_words_per_segment": 0}, "max_words_per_segment", ">= 1"),
    ("long text callback", "stream_long_text", {"on_segment_complete": 5}, "on_segment_complete", "callable"),
    ("long text foreign voice", "stream_long_text", {"voice": "Achernar"}, "voice", "tts-kokoro"),
    ("transcribe missing file", "transcribe", {"file": "@missing"}, "file", "No such audio file"),
    ("transcribe a folder", "transcribe", {"file": "@folder"}, "file", "not a file"),
    ("transcribe empty file", "transcribe", {"file": "@empty"}, "file", "empty"),
    ("transcribe empty bytes", "transcribe", {"file": b""}, "file", "empty"),
    ("transcribe non-audio file", "transcribe", {"file": "@text"}, "file", "not audio"),
    ("transcribe non-audio bytes", "transcribe", {"file": b"%PDF-1.7 not audio" * 10}, "file", "not audio"),
    ("transcribe 26 MB file", "transcribe", {"file": "@huge"}, "file", "25 MB"),
    ("transcribe 26 MB bytes", "transcribe", {"file": b"RIFF" + bytes(26 * MB)}, "file", "25 MB"),
    ("transcribe text-mode file", "transcribe", {"file": "@textmode"}, "file", "'rb'"),
    ("transcribe wrong type", "transcribe", {"file": 12345}, "file", "path, bytes"),
    ("transcribe format srt", "transcribe", {"response_format": "srt"}, "response_format", "'text'"),
    ("transcribe timestamps str", "transcribe", {"timestamps": "yes"}, "timestamps", "True or False"),
    ("transcribe language name", "transcribe", {"language": "english"}, "language", "ISO 639-1"),
    ("transcribe unknown model", "transcribe", {"model": "whisper-9"}, "model", "Unknown asr model"),
    ("transcribe TTS model", "transcribe", {"model": "tts-kokoro"}, "model", "Unknown asr model"),
    ("clone with a model that cannot", "create_voice", {"model": "tts-kokoro"}, "model", "cannot clone"),
    ("clone flac for minimax", "create_voice", {"file": "@flac", "model": "tts-minimax-speech-02-hd"}, "file", "mp3, wav"),
    ("clone non-audio", "create_voice", {"file": "@text"}, "file", "not audio"),
    ("clone empty bytes", "create_voice", {"file": b""}, "file", "empty"),
    ("clone model not a string", "create_voice", {"model": 7}, "model", "model"),
    ("voices unknown gender", "get_voices", {"gender": "robot"}, "gender", "'male'"),
    ("voices unknown region", "get_voices", {"region_code": "q"}, "region_code", "region_code"),
    ("voices unknown model", "get_voices", {"model_id": "tts-nope"}, "model_id", "tts-kokoro"),
    ("models unknown type", "models.list", {"type": "sounds"}, "type", "tts"),
]  # fmt: skip

BASES: dict[str, dict[str, Any]] = {
    "create_speech": SAY,
    "stream_long_text": SAY,
    "transcribe": {"file": "@wav"},
    "create_voice": {"file": "@wav"},
    "get_voices": {},
    "models.list": {},
}


async def _call(client: VeniceClient, method: str, kwargs: dict[str, Any]) -> Any:
    if method == "stream_long_text":
        return [c async for c in client.audio.stream_long_text(**kwargs)]
    if method == "models.list":
        return await client.models.list(**kwargs)
    return await getattr(client.audio, method)(**kwargs)


def _resolve(kwargs: dict[str, Any], media: dict[str, Path], stack: list[Any]) -> dict[str, Any]:
    out = dict(kwargs)
    file = out.get("file")
    if isinstance(file, str) and file.startswith("@"):
        name = file[1:]
        if name == "missing":
            out["file"] = media["wav"].parent / "nowhere.wav"
        elif name == "textmode":
            fh = media["wav"].open("r", encoding="latin-1")
            stack.append(fh)
            out["file"] = fh
        else:
            out["file"] = media[name]
    return out


@pytest.mark.parametrize(
    ("method", "kwargs", "param", "fragment"),
    [pytest.param(m, k, p, f, id=i) for i, m, k, p, f in CLIENT_CASES],
)
async def test_client_refuses_bad_input_before_any_request(
    client: VeniceClient,
    standin: StandIn,
    media: dict[str, Path],
    method: str,
    kwargs: dict[str, Any],
    param: str,
    fragment: str,
) -> None:
    opened: list[Any] = []
    try:
        args = _resolve({**BASES[method], **kwargs}, media, opened)
        with pytest.raises(InvalidRequestError) as info:
            await _call(client, method, args)
    finally:
        for fh in opened:
            fh.close()
    err = info.value
    assert err.param == param
    text = _one_clear_sentence(err)
    assert fragment.lower() in text.lower(), text
    assert isinstance(err, ValueError)  # as the seed says: bad arguments are ValueErrors too
    for path in (SPEECH, TRANSCRIBE, VOICES):
        assert standin.count(path) == 0  # refused before anything was sent
    assert standin.violations == []


def test_client_matrix_has_at_least_40_cases() -> None:
    assert len(CLIENT_CASES) >= 40


def test_bad_client_options_are_typed_errors() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"timeout": 0}, "timeout"),
        ({"timeout": "10"}, "timeout"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"base_url": "ftp://example.org"}, "base_url"),
        ({"backoff": -1}, "backoff"),
    ]
    for kwargs, param in cases:
        with pytest.raises(InvalidRequestError) as info:
            VeniceClient(api_key="k", **{"base_url": "http://127.0.0.1:9/api/v1", **kwargs})
        assert info.value.param == param
        _one_clear_sentence(info.value)


# --------------------------------------------------------------------------- client: the server decides


async def test_a_foreign_vv_handle_is_one_bad_request_error(
    client: VeniceClient, standin: StandIn, media: dict[str, Path]
) -> None:
    cloned = await client.audio.create_voice(file=media["wav"])  # made for tts-chatterbox-hd
    with pytest.raises(BadRequestError) as info:
        await client.audio.create_speech(input="Hi.", model="tts-kokoro", voice=cloned.id)
    text = _one_clear_sentence(info.value)
    assert "tts-kokoro" in text and text.count(cloned.id) == 1  # the details do not repeat it
    assert standin.count(SPEECH) == 1  # not retried


async def test_an_unknown_vv_handle_is_one_bad_request_error(
    client: VeniceClient, standin: StandIn
) -> None:
    with pytest.raises(BadRequestError) as info:
        await client.audio.create_speech(
            input="Hi.", model="tts-chatterbox-hd", voice="vv_0000000000000000dead"
        )
    assert "vv_0000000000000000dead" in _one_clear_sentence(info.value)
    assert standin.count(SPEECH) == 1


async def test_truncated_audio_is_one_unprocessable_error(
    client: VeniceClient, standin: StandIn, media: dict[str, Path]
) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        await client.audio.transcribe(file=media["truncated"])
    _one_clear_sentence(info.value)
    assert standin.count(TRANSCRIBE) == 1


# --------------------------------------------------------------------------- no partial files


def test_atomic_write_leaves_nothing_when_the_source_fails(tmp_path: Path) -> None:
    def broken() -> Iterator[bytes]:
        yield b"ID3" + bytes(1000)
        raise ConnectionResetError("the stream broke")

    target = tmp_path / "out" / "speech.mp3"
    with pytest.raises(ConnectionResetError):
        atomic_write(target, broken())
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no .part file either


def test_atomic_write_keeps_the_old_file_when_the_new_one_fails(tmp_path: Path) -> None:
    def broken() -> Iterator[bytes]:
        yield b"new" * 100
        raise OSError("disk full")

    target = tmp_path / "speech.mp3"
    target.write_bytes(b"old audio")
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken())
    assert target.read_bytes() == b"old audio"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.mp3"]


def test_audio_save_onto_a_folder_fails_cleanly(tmp_path: Path) -> None:
    audio = AudioResponse(b"ID3" + bytes(500), content_type="audio/mpeg")
    folder = tmp_path / "taken.mp3"
    folder.mkdir()
    with pytest.raises(OSError):
        audio.save(folder)
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.mp3"]


async def test_a_broken_stream_leaves_no_file(
    client: VeniceClient, standin: StandIn, tmp_path: Path
) -> None:
    from venice_nb.core.audio import SpeechStream
    from venice_nb.core.errors import StreamInterruptedError

    standin.inject(SPEECH, Fault.reset_mid_body(after_bytes=400))
    target = tmp_path / "speech.mp3"
    stream = await client.audio.create_speech(
        input="One. Two. Three. Four. Five.", model="tts-kokoro", voice="af_heart", stream=True
    )
    assert isinstance(stream, SpeechStream)
    with pytest.raises(StreamInterruptedError):
        audio = await stream.read()
        audio.save(target)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the local server, raw HTTP

local = pytest.mark.local


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A LocalServer (no token, loopback) whose clone store holds one expired handle."""
    pytest.importorskip("piper")
    pytest.importorskip("faster_whisper")
    from venice_nb.local import LocalConfig, LocalServer

    data_dir = tmp_path_factory.mktemp("bad-input-local")
    now = time.time()
    expired = {
        "id": "vv_expired00000000000000",
        "model": "tts-chatterbox-hd",
        "created": now - 9 * 86400,
        "expires": now - 2 * 86400,
        "f0_hz": 120.0,
        "sample_seconds": 6.0,
    }
    (data_dir / "cloned_voices.json").write_text(json.dumps({"voices": [expired]}), "utf-8")
    with LocalServer(LocalConfig(data_dir=data_dir)) as srv:
        yield srv


def _multipart(fields: dict[str, str], *files: bytes) -> tuple[str, bytes]:
    """A multipart/form-data body by hand: (content type, body) with text fields and file parts."""
    boundary = "venicenbboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for file in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + file + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


WAV = encode("wav", tone(2.0))
JSON_CT = "application/json"
MULTI_CT, MULTI_BODY = _multipart({"model": "nvidia/parakeet-tdt-0.6b-v3"}, WAV)

# (case id, method, path, content type, body, expected status)
SERVER_CASES: list[tuple[str, str, str, str | None, bytes, int]] = [
    ("malformed JSON", "POST", SPEECH, JSON_CT, b'{"input": "hi",', 400),
    ("JSON array", "POST", SPEECH, JSON_CT, b"[1, 2, 3]", 400),
    ("JSON string", "POST", SPEECH, JSON_CT, b'"speak this"', 400),
    ("JSON null", "POST", SPEECH, JSON_CT, b"null", 400),
    ("empty body", "POST", SPEECH, JSON_CT, b"", 400),
    ("invalid UTF-8", "POST", SPEECH, JSON_CT, b'{"input": "caf\xe9"}', 400),
    ("NaN speed", "POST", SPEECH, JSON_CT, b'{"input": "hi", "speed": NaN}', 400),
    ("5000-digit number", "POST", SPEECH, JSON_CT, b'{"input": "hi", "speed": ' + b"9" * 5000 + b"}", 400),
    ("400-digit number (over a float)", "POST", SPEECH, JSON_CT, b'{"input": "hi", "speed": 1' + b"0" * 400 + b"}", 400),
    ("unknown field", "POST", SPEECH, JSON_CT, b'{"input": "hi", "volume": 11}', 400),
    ("input a number", "POST", SPEECH, JSON_CT, b'{"input": 5}', 400),
    ("input missing", "POST", SPEECH, JSON_CT, b'{"voice": "af_heart"}', 400),
    ("input empty", "POST", SPEECH, JSON_CT, b'{"input": ""}', 400),
    ("input 4097 chars", "POST", SPEECH, JSON_CT, json.dumps({"input": "a" * 4097}).encode(), 400),
    ("speed a string", "POST", SPEECH, JSON_CT, b'{"input": "hi", "speed": "fast"}', 400),
    ("speed out of range", "POST", SPEECH, JSON_CT, b'{"input": "hi", "speed": 10}', 400),
    ("streaming a string", "POST", SPEECH, JSON_CT, b'{"input": "hi", "streaming": "yes"}', 400),
    ("voice an object", "POST", SPEECH, JSON_CT, b'{"input": "hi", "voice": {"id": 1}}', 400),
    ("model a list", "POST", SPEECH, JSON_CT, b'{"input": "hi", "model": ["tts-kokoro"]}', 400),
    ("unknown model", "POST", SPEECH, JSON_CT, b'{"input": "hi", "model": "tts-nope"}', 404),
    ("ASR model for speech", "POST", SPEECH, JSON_CT, b'{"input": "hi", "model": "openai/whisper-large-v3"}', 400),
    ("voice of another model", "POST", SPEECH, JSON_CT, b'{"input": "hi", "voice": "altair"}', 400),
    ("unsupported format", "POST", SPEECH, JSON_CT, b'{"input": "hi", "model": "tts-xai-v1", "voice": "ara", "response_format": "flac"}', 400),
    ("unknown format", "POST", SPEECH, JSON_CT, b'{"input": "hi", "response_format": "ogg"}', 400),
    ("unknown vv_ handle", "POST", SPEECH, JSON_CT, b'{"input": "hi", "model": "tts-chatterbox-hd", "voice": "vv_nobody"}', 400),
    ("expired vv_ handle", "POST", SPEECH, JSON_CT, b'{"input": "hi", "model": "tts-chatterbox-hd", "voice": "vv_expired00000000000000"}', 400),
    ("vv_ handle of another model", "POST", SPEECH, JSON_CT, b'{"input": "hi", "model": "tts-minimax-speech-02-hd", "voice": "vv_expired00000000000000"}', 400),
    ("2 MB JSON body", "POST", SPEECH, JSON_CT, json.dumps({"input": "a" * 2 * MB}).encode(), 413),
    ("speech as text/plain", "POST", SPEECH, "text/plain", b'{"input": "hi"}', 415),
    ("speech as multipart", "POST", SPEECH, MULTI_CT, MULTI_BODY, 415),
    ("speech without content type", "POST", SPEECH, None, b'{"input": "hi"}', 415),
    ("transcription as JSON", "POST", TRANSCRIBE, JSON_CT, b'{"file": "a.wav"}', 415),
    ("multipart without boundary", "POST", TRANSCRIBE, "multipart/form-data", MULTI_BODY, 400),
    ("multipart garbage", "POST", TRANSCRIBE, MULTI_CT, b"this is not multipart\r\n", 400),
    ("multipart truncated", "POST", TRANSCRIBE, MULTI_CT, MULTI_BODY[: len(MULTI_BODY) // 2], 400),
    ("multipart without file", "POST", TRANSCRIBE, *_multipart({"model": "nvidia/parakeet-tdt-0.6b-v3"}), 400),
    ("multipart unknown field", "POST", TRANSCRIBE, *_multipart({"colour": "blue"}, WAV), 400),
    ("multipart huge field", "POST", TRANSCRIBE, *_multipart({"language": "e" * 70_000}, WAV), 400),
    ("multipart two files", "POST", TRANSCRIBE, *_multipart({}, WAV, WAV), 400),
    ("transcription format srt", "POST", TRANSCRIBE, *_multipart({"response_format": "srt"}, WAV), 400),
    ("transcription timestamps maybe", "POST", TRANSCRIBE, *_multipart({"timestamps": "maybe"}, WAV), 400),
    ("transcription unknown model", "POST", TRANSCRIBE, *_multipart({"model": "whisper-9"}, WAV), 404),
    ("transcription TTS model", "POST", TRANSCRIBE, *_multipart({"model": "tts-kokoro"}, WAV), 400),
    ("transcription empty file", "POST", TRANSCRIBE, *_multipart({}, b""), 422),
    ("transcription non-audio", "POST", TRANSCRIBE, *_multipart({}, b"meeting notes " * 100), 422),
    ("transcription truncated audio", "POST", TRANSCRIBE, *_multipart({}, WAV[:60]), 422),
    ("transcription 26 MB", "POST", TRANSCRIBE, *_multipart({}, WAV[:44] + bytes(26 * MB)), 413),
    ("clone as JSON", "POST", VOICES, JSON_CT, b"{}", 415),
    ("clone with kokoro", "POST", VOICES, *_multipart({"model": "tts-kokoro"}, WAV), 400),
    ("clone unknown model", "POST", VOICES, *_multipart({"model": "tts-nope"}, WAV), 404),
    ("clone non-audio", "POST", VOICES, *_multipart({}, b"meeting notes " * 100), 400),
    ("clone empty file", "POST", VOICES, *_multipart({}, b""), 422),
    ("clone truncated audio", "POST", VOICES, *_multipart({}, WAV[:60]), 422),
    ("clone unknown field", "POST", VOICES, *_multipart({"name": "Bob"}, WAV), 400),
    ("models unknown type", "GET", "/models?type=sounds", None, b"", 400),
    ("GET on speech", "GET", SPEECH, None, b"", 405),
    ("unknown endpoint", "POST", "/audio/music", JSON_CT, b"{}", 404),
]  # fmt: skip


async def _send(
    base_url: str, method: str, path: str, content_type: str | None, body: bytes
) -> tuple[int, str, bytes]:
    headers = {"Content-Type": content_type} if content_type else {}
    async with (
        aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as session,
        session.request(method, base_url + path, data=body, headers=headers) as resp,
    ):
        return resp.status, resp.content_type, await resp.read()


@local
@pytest.mark.parametrize(
    ("method", "path", "content_type", "body", "status"),
    [pytest.param(m, p, c, b, s, id=i) for i, m, p, c, b, s in SERVER_CASES],
)
async def test_server_answers_bad_input_with_a_4xx_json_error(
    server: Any, method: str, path: str, content_type: str | None, body: bytes, status: int
) -> None:
    got, ctype, raw = await _send(server.base_url, method, path, content_type, body)
    assert got == status, raw[:300]
    assert ctype == "application/json"
    answer = json.loads(raw)
    assert isinstance(answer["error"], str) and answer["error"].strip()
    assert "\n" not in answer["error"]
    assert "Traceback" not in raw.decode("utf-8", "replace")


def test_server_matrix_has_at_least_40_cases() -> None:
    assert len(SERVER_CASES) >= 40


# Inputs that are valid JSON of the right types but cannot be spoken: the server must answer 4xx.
PATHOLOGICAL_JSON = [
    pytest.param(b"[" * 100_000, id="deeply nested JSON"),
    pytest.param(
        json.dumps({"input": "hi \ud800 there"}).encode(),
        id="lone surrogate in input",
    ),
    pytest.param(
        json.dumps({"input": "hi\u0000there"}).encode(),
        id="NUL character in input",
    ),
]


@local
@pytest.mark.parametrize("body", PATHOLOGICAL_JSON)
async def test_server_never_answers_5xx_to_pathological_json(server: Any, body: bytes) -> None:
    status, ctype, raw = await _send(server.base_url, "POST", SPEECH, JSON_CT, body)
    assert 400 <= status < 500, raw[:300]
    assert ctype == "application/json"


@local
async def test_server_errors_do_not_reveal_server_file_paths(server: Any) -> None:
    content_type, body = _multipart({}, b"meeting notes " * 100)
    status, _, raw = await _send(server.base_url, "POST", TRANSCRIBE, content_type, body)
    assert status == 422
    assert "/tmp" not in json.loads(raw)["error"] and "venice-nb-upload" not in raw.decode()


@local
async def test_server_still_serves_after_the_bad_input(server: Any) -> None:
    status, _, raw = await _send(server.base_url, "GET", "/models?type=tts", None, b"")
    assert status == 200 and json.loads(raw)["data"]


@local
async def test_client_on_the_local_server_gets_typed_errors_for_handles(server: Any) -> None:
    async with VeniceClient(base_url=server.base_url, max_retries=2) as client:
        with pytest.raises(BadRequestError) as info:
            await client.audio.create_speech(
                input="Hi.", model="tts-chatterbox-hd", voice="vv_expired00000000000000"
            )
        assert "expired" in _one_clear_sentence(info.value)
        with pytest.raises(BadRequestError) as info:
            await client.audio.create_speech(
                input="Hi.", model="tts-minimax-speech-02-hd", voice="vv_expired00000000000000"
            )
        assert "tts-chatterbox-hd" in _one_clear_sentence(info.value)
        with pytest.raises(UnprocessableEntityError):
            await client.audio.transcribe(file=WAV[:60])


# --------------------------------------------------------------------------- magics


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """A real IPython shell with ``%load_ext venice_nb`` on the embedded offline engine, in a
    working folder two levels below tmp_path."""
    pytest.importorskip("piper")
    pytest.importorskip("faster_whisper")
    from IPython.core.interactiveshell import InteractiveShell

    from venice_nb import session

    monkeypatch.delenv("VENICE_API_KEY", raising=False)
    monkeypatch.delenv("VENICE_BASE_URL", raising=False)
    monkeypatch.setenv("VENICE_NB_CACHE_DIR", str(tmp_path / "cache"))
    if session._backend is not None and not session.get_backend().is_local:
        session.reset_backend()
    work = tmp_path / "project" / "notebooks"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "venice_nb")
    yield sh
    sh.run_line_magic("unload_ext", "venice_nb")


def _run_cell(sh: Any, cell: str) -> tuple[str, str]:
    from IPython.utils.capture import capture_output

    with capture_output() as out:
        result = sh.run_cell(cell)
    assert result.error_in_exec is None, result.error_in_exec
    return out.stdout, out.stderr


def _one_line(stdout: str, stderr: str) -> str:
    assert "Traceback" not in stdout + stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("venice_nb: ")
    return lines[0]


@local
def test_magic_with_an_empty_cell_prints_one_line(shell: Any) -> None:
    line = _one_line(*_run_cell(shell, "%%venice_speak --voice af_sky\n   \n"))
    assert "empty" in line


@local
def test_magic_with_an_unknown_voice_prints_one_line_and_writes_nothing(
    shell: Any, tmp_path: Path
) -> None:
    line = _one_line(*_run_cell(shell, "%%venice_speak --voice af_nobody --out hi.mp3\nHello."))
    assert "af_nobody" in line
    assert not (Path.cwd() / "hi.mp3").exists()


@local
def test_magic_refuses_an_out_path_escaping_the_working_folder(shell: Any, tmp_path: Path) -> None:
    stdout, stderr = _run_cell(shell, "%%venice_speak --voice af_sky --out ../../etc/x.mp3\nHi.")
    escaped = tmp_path / "etc" / "x.mp3"
    assert not escaped.exists()
    _one_line(stdout, stderr)


def test_error_details_add_only_what_the_message_does_not_say() -> None:
    from venice_nb.core.errors import error_for_status

    body = {
        "error": "Voice 'x' is not available.",
        "details": {
            "_errors": ["Unrecognized key(s) in object: 'volume'"],
            "voice": {"_errors": ["Voice 'x' is not available."]},
            "speed": {"_errors": ["Number must be less than or equal to 4"]},
        },
    }
    err = error_for_status(400, body)
    assert isinstance(err, BadRequestError)
    assert err.message.count("Voice 'x' is not available.") == 1
    assert "Unrecognized key(s) in object: 'volume'" in err.message
    assert "speed: Number must be less than or equal to 4" in err.message


def test_an_invalid_request_error_survives_pickling() -> None:
    import pickle

    err = InvalidRequestError("speed must be from 0.25 to 4.0, got 9.", param="speed")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is InvalidRequestError
    assert (copy.message, copy.param, copy.code) == (err.message, "speed", "INVALID_REQUEST")
    assert str(copy) == str(err)
