"""The client against a server that misbehaves on purpose (a small aiohttp app on 127.0.0.1): wait
hints it cannot honour never stall it, and success answers that are not what the API promises
(a captive portal's HTML, a JSON error body, nothing, JSON that breaks the schema) raise
:class:`APIResponseValidationError` instead of being taken for audio or transcripts."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import json
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from testkit.audio_fixtures import wav_bytes
from testkit.standin import shared_dir
from venice_nb import (
    APIConnectionError,
    APIResponseValidationError,
    ResponseTooLargeError,
    VeniceClient,
    cli,
    session,
)

PORTAL = b"<html><body>Please log in to the hotel wifi</body></html>"
AUDIO = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xf3\x84\xc4" + b"\x00" * 200


class Hostile:
    """Answers each path from a queue of (status, headers, body); the last entry repeats."""

    def __init__(self) -> None:
        self.plans: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self.hits: dict[str, int] = {}
        self.models: list[dict[str, Any]] = []
        self.base_url = ""

    def plan(self, path: str, *answers: tuple[int, dict[str, str], bytes]) -> None:
        self.plans[path] = list(answers)

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix("/api/v1")
        await request.read()
        if path == "/models":
            return web.json_response({"object": "list", "data": self.models})
        self.hits[path] = self.hits.get(path, 0) + 1
        queue = self.plans[path]
        status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
        return web.Response(status=status, headers=headers, body=body)


@contextlib.asynccontextmanager
async def serving(handler: Any) -> AsyncIterator[str]:
    """Serve every path with ``handler`` on 127.0.0.1; yields the API base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        await runner.cleanup()


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    server = Hostile()
    async with serving(server.handle) as base_url:
        server.base_url = base_url
        yield server


def _client(server: Hostile) -> VeniceClient:
    return VeniceClient(api_key="test-key", base_url=server.base_url, max_retries=2, backoff=0.01)


SPEAK = {"input": "Hello there.", "model": "tts-kokoro", "voice": "af_heart"}
MP3 = {"Content-Type": "audio/mpeg"}


@pytest.mark.parametrize("hint", ["nan", "soon", "3600", "-5", "inf"])
async def test_unusable_retry_after_falls_back_to_the_clients_backoff(
    hostile: Hostile, hint: str
) -> None:
    hostile.plan("/audio/speech", (503, {"Retry-After": hint}, b"busy"), (200, MP3, AUDIO))
    started = time.monotonic()
    async with _client(hostile) as client:
        audio = await asyncio.wait_for(client.audio.create_speech(**SPEAK), timeout=30)
    assert bytes(audio) == AUDIO and hostile.hits["/audio/speech"] == 2
    assert time.monotonic() - started < 20  # not the hinted hour, not forever


async def test_a_reset_hours_away_is_not_waited_for(hostile: Hostile) -> None:
    far = str(int(time.time()) + 7200)
    hostile.plan(
        "/audio/speech", (429, {"x-ratelimit-reset-requests": far}, b"slow down"), (200, MP3, AUDIO)
    )
    async with _client(hostile) as client:
        audio = await asyncio.wait_for(client.audio.create_speech(**SPEAK), timeout=30)
    assert bytes(audio) == AUDIO


@pytest.mark.parametrize(
    ("headers", "body", "says"),
    [
        ({"Content-Type": "text/html"}, PORTAL, "text/html instead of audio"),
        ({"Content-Type": "application/json"}, b'{"error": "quota"}', "application/json"),
        (MP3, b"", "empty body"),
    ],
    ids=["captive portal", "json error body", "empty"],
)
async def test_speech_that_is_not_audio_is_refused(
    hostile: Hostile, headers: dict[str, str], body: bytes, says: str
) -> None:
    hostile.plan("/audio/speech", (200, headers, body))
    async with _client(hostile) as client:
        with pytest.raises(APIResponseValidationError, match=says):
            await client.audio.create_speech(**SPEAK)


async def test_a_streamed_web_page_is_refused_before_any_chunk(hostile: Hostile) -> None:
    hostile.plan("/audio/speech", (200, {"Content-Type": "text/html"}, PORTAL))
    async with _client(hostile) as client:
        with pytest.raises(APIResponseValidationError, match="instead of audio"):
            await client.audio.create_speech(**SPEAK, stream=True)


async def test_long_text_with_a_portal_segment_is_a_typed_error(hostile: Hostile) -> None:
    hostile.plan("/audio/speech", (200, {"Content-Type": "text/html"}, PORTAL))
    text = "One sentence here. " * 40
    async with _client(hostile) as client:
        with pytest.raises(APIResponseValidationError):
            async for _ in client.audio.stream_long_text(
                input=text, model="tts-kokoro", voice="af_heart", max_words_per_segment=20
            ):
                pass


async def test_long_text_with_garbage_audio_is_a_typed_error(hostile: Hostile) -> None:
    hostile.plan("/audio/speech", (200, MP3, b"not an mp3 at all" * 10))
    async with _client(hostile) as client:
        with pytest.raises(APIResponseValidationError, match="Segment 1 of"):
            async for _ in client.audio.stream_long_text(
                input="One. Two. Three.", model="tts-kokoro", voice="af_heart"
            ):
                pass


CALLS: dict[str, Callable[[VeniceClient], Any]] = {
    "transcribe": lambda c: c.audio.transcribe(file=wav_bytes(1.0)),
    "create_voice": lambda c: c.audio.create_voice(file=wav_bytes(6.0)),
    "models": lambda c: c.models.list("tts"),
}
PATHS = {"transcribe": "/audio/transcriptions", "create_voice": "/audio/voices", "models": None}


async def test_a_portal_page_is_not_taken_for_a_transcript(hostile: Hostile) -> None:
    hostile.plan("/audio/transcriptions", (200, {"Content-Type": "text/html"}, PORTAL))
    async with _client(hostile) as client:
        with pytest.raises(APIResponseValidationError, match="web page"):
            await client.audio.transcribe(file=wav_bytes(1.0))


@pytest.mark.parametrize("call", ["transcribe", "create_voice"])
async def test_answers_that_break_the_schema_are_typed(hostile: Hostile, call: str) -> None:
    json_ct = {"Content-Type": "application/json"}
    hostile.plan(str(PATHS[call]), (200, json_ct, b'{"text": 5, "id": ["x"]}'))
    async with _client(hostile) as client:
        with pytest.raises(APIResponseValidationError, match="does not match the API"):
            await CALLS[call](client)


def test_cli_refuses_an_unwritable_out_before_speaking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert cli.main(["speak", "Hello.", "--out", str(tmp_path / "missing" / "a.mp3")]) == 8
    assert cli.main(["speak", "Hello.", "--out", str(tmp_path)]) == 8
    err = capsys.readouterr().err
    assert "does not exist" in err and "is a directory" in err and ".part" not in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 2
    assert time.monotonic() - started < 5  # refused before any synthesis


async def test_cli_exit_status_names_the_failure(
    hostile: Hostile, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hostile.plan("/audio/transcriptions", (200, {"Content-Type": "text/html"}, PORTAL))
    monkeypatch.setenv("VENICE_BASE_URL", hostile.base_url)
    clip = tmp_path / "clip.wav"
    clip.write_bytes(wav_bytes(1.0))
    session.reset_backend()
    try:
        code = await asyncio.to_thread(cli.main, ["transcribe", str(clip)])
    finally:
        session.reset_backend()
    assert code == 6  # an answer that is not the API's, not 0 with a web page printed


async def test_a_catalog_silent_on_cloning_lets_the_server_decide(hostile: Hostile) -> None:
    """The published catalog lists no ``voice_cloning`` for any model: cloning is still sent."""
    catalog = json.loads((shared_dir() / "venice-api" / "catalog.json").read_text())
    hostile.models = [m for m in catalog["data"] if m["id"] == "tts-chatterbox-hd"]
    assert hostile.models and "voice_cloning" not in hostile.models[0]["model_spec"]
    answer = b'{"id": "vv_1", "model": "tts-chatterbox-hd"}'
    hostile.plan("/audio/voices", (200, {"Content-Type": "application/json"}, answer))
    async with _client(hostile) as client:
        voice = await client.audio.create_voice(file=wav_bytes(6.0), model="tts-chatterbox-hd")
    assert voice.id == "vv_1" and hostile.hits["/audio/voices"] == 1


class Abusive:
    """A server whose speech answers are a gzip bomb, an endless body or a redirect loop
    (``kind``); counts requests per path."""

    def __init__(self) -> None:
        self.kind = "bomb"
        self.hits: dict[str, int] = {}
        self.base_url = ""
        self.bomb = gzip.compress(b"\0" * (40 * 1024 * 1024), compresslevel=9)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix("/api/v1")
        await request.read()
        if path == "/models":
            return web.json_response({"object": "list", "data": []})
        self.hits[path] = self.hits.get(path, 0) + 1
        if self.kind == "bomb":
            return web.Response(body=self.bomb, headers={"Content-Encoding": "gzip", **MP3})
        if self.kind == "loop":
            raise web.HTTPFound(request.path)
        response = web.StreamResponse(headers=MP3)
        await response.prepare(request)
        for _ in range(400):  # 400 x 64 KB: bounded, but far past the client's cap
            await response.write(b"\xff" * 65536)
        return response


@pytest.fixture
async def abusive() -> AsyncIterator[Abusive]:
    server = Abusive()
    async with serving(server.handle) as base_url:
        server.base_url = base_url
        yield server


@pytest.mark.parametrize("kind", ["bomb", "endless"])
@pytest.mark.parametrize("stream", [False, True])
async def test_oversized_answers_are_refused_at_the_cap(
    abusive: Abusive, kind: str, stream: bool
) -> None:
    abusive.kind = kind
    async with VeniceClient(
        api_key="k",
        base_url=abusive.base_url,
        max_retries=2,
        backoff=0.01,
        max_response_bytes=1_000_000,
    ) as client:
        with pytest.raises(APIResponseValidationError, match="max_response_bytes"):
            if stream:
                speech = await client.audio.create_speech(**SPEAK, stream=True)
                async for _ in speech:
                    pass
            else:
                await client.audio.create_speech(**SPEAK)
    assert abusive.hits["/audio/speech"] == 1  # refused, not retried


async def test_a_redirect_loop_is_not_retried(abusive: Abusive) -> None:
    abusive.kind = "loop"
    async with VeniceClient(
        api_key="k", base_url=abusive.base_url, max_retries=3, backoff=0.01
    ) as client:
        with pytest.raises(APIConnectionError, match="redirect"):
            await client.audio.create_speech(**SPEAK)
    assert abusive.hits["/audio/speech"] <= 6  # one request and its redirects, not 4 x 10


MiB = 1024 * 1024


@functools.cache
def gzip_bomb(size: int = 256 * MiB) -> bytes:
    """``size`` zero bytes gzip-compressed (256 MiB is 0.25 MB on the wire), built a MiB at a
    time so the test never holds the whole of it."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MiB)
    parts = [packer.compress(zeros) for _ in range(size // MiB)]
    parts.append(packer.flush())
    return b"".join(parts)


GZIP_WAV = {"Content-Type": "audio/wav", "Content-Encoding": "gzip"}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_256_mib_gzip_answer_to_a_short_speech_request_is_refused_early(
    hostile: Hostile, stream: bool
) -> None:
    """The answer is cut off once it passes what 12 characters can make (a MB or so), so the
    client's memory barely moves, and the error says what the request could produce and what
    came."""
    bomb = gzip_bomb()
    assert len(bomb) < 300_000
    hostile.plan("/audio/speech", (200, GZIP_WAV, bomb))
    async with _client(hostile) as client:
        await client.models.list("tts")  # the catalog answer is not what is measured
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLargeError) as caught:
                if stream:
                    speech = await client.audio.create_speech(
                        **SPEAK, response_format="wav", stream=True
                    )
                    await speech.read()
                else:
                    await client.audio.create_speech(**SPEAK, response_format="wav")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    err = caught.value
    assert isinstance(err, APIResponseValidationError)
    assert peak < 60 * MiB, f"memory grew by {peak / MiB:.0f} MiB"
    assert err.limit < 2 * MiB and err.limit < err.received < err.limit + 4 * MiB
    assert "12-character wav speech request" in str(err) and "bytes came" in str(err)
    assert hostile.hits["/audio/speech"] == 1  # refused, not retried


@pytest.mark.parametrize(("stream", "compressed"), [(False, True), (True, False)])
async def test_the_longest_speech_request_still_gets_its_whole_answer(
    hostile: Hostile, stream: bool, compressed: bool
) -> None:
    """4,096 characters as 24 kHz wav read at 10 characters a second (slower than speech):
    19.7 MB, accepted whole, gzip-compressed or not."""
    audio = wav_bytes(4096 / 10, rate=24_000)
    assert len(audio) > 18 * MiB
    headers = {"Content-Type": "audio/wav"}
    if compressed:
        headers["Content-Encoding"] = "gzip"
    hostile.plan("/audio/speech", (200, headers, gzip.compress(audio, 1) if compressed else audio))
    text = ("The keeper counted seven ships before the storm reached the harbor. " * 70)[:4096]
    async with _client(hostile) as client:
        if stream:
            speech = await client.audio.create_speech(
                input=text, model="tts-kokoro", voice="af_heart", response_format="wav", stream=True
            )
            got = await speech.read()
        else:
            got = await client.audio.create_speech(
                input=text, model="tts-kokoro", voice="af_heart", response_format="wav"
            )
    assert len(got) == len(audio) and got == audio


@pytest.mark.parametrize(
    ("path", "cap", "what"),
    [("/models", 8 * MiB, "model list"), ("/audio/transcriptions", 32 * MiB, "transcript")],
)
async def test_json_answers_are_read_under_small_caps(path: str, cap: int, what: str) -> None:
    """A model list or a transcript is a few MB at most: a bomb in their place is refused at
    that cap, not read to the client's 256 MiB ceiling."""
    bomb = gzip_bomb()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        if request.path.endswith(path):
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
            return web.Response(body=bomb, headers=headers)
        return web.json_response({"object": "list", "data": []})

    async with serving(handle) as base_url:
        async with VeniceClient(api_key="k", base_url=base_url, max_retries=0) as client:
            with pytest.raises(ResponseTooLargeError, match=what) as caught:
                if path == "/models":
                    await client.models.list("tts")
                else:
                    await client.audio.transcribe(file=wav_bytes(1.0))
    assert caught.value.limit == cap and caught.value.received < cap + 4 * MiB


async def test_the_cap_grows_with_what_the_request_can_make() -> None:
    """Longer input, slower speed, a higher-rate model or a heavier format raise the cap (a
    faster speed does not lower it); none passes the client's ceiling."""
    async with VeniceClient(api_key="k", base_url="http://127.0.0.1:9/api/v1") as client:

        def cap(**body: Any) -> int:
            return client.answer_limit(
                "POST", "/audio/speech", {"model": "tts-kokoro", **body}
            ).nbytes

        short, long = cap(input="Hi."), cap(input="x" * 4096)
        assert short < 2 * MiB < 20 * MiB < long < 100 * MiB
        assert cap(input="x" * 4096, speed=0.5) > 1.9 * long
        assert cap(input="x" * 4096, speed=4.0) == long  # a model may ignore the speed
        assert cap(input="x" * 4096, response_format="mp3") < long
        assert cap(input="x" * 4096, model="tts-gradium-v1", response_format="pcm") > 1.9 * long
        assert cap(input="x" * 4096, speed=0.25, model="tts-gradium-v1") == 256 * MiB
