"""The offline server under load and against clients that stall or leave: a bounded number of
requests at work and in line, the excess refused at once with 429 and ``Retry-After``; rate-limit
headers that count and are enforced; streamed requests sharing the engine with whole ones
sentence by sentence; work stopped when its client leaves; connections that never finish their
headers or body closed."""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import pytest

from venice_nb.core import VeniceClient
from venice_nb.local import LocalConfig, LocalServer
from venice_nb.local.admission import Admission, RateWindow
from venice_nb.local.errors import ApiError

pytestmark = [pytest.mark.local]

SENTENCES = " ".join(
    f"Sentence number {i} talks about the weather over the harbour." for i in range(1, 13)
)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., LocalServer]]:
    servers: list[LocalServer] = []

    def make(**settings: object) -> LocalServer:
        config = LocalConfig(data_dir=tmp_path / f"data{len(servers)}", **settings)  # type: ignore[arg-type]
        server = LocalServer(config)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


async def _until(condition: Callable[[], bool], what: str, bound: float = 120.0) -> None:
    """Wait for ``condition`` (checked every 20 ms) with a generous bound, for busy machines."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


def _speech(text: str, fmt: str = "pcm", **extra: object) -> dict[str, object]:
    return {
        "model": "tts-kokoro",
        "voice": "af_heart",
        "input": text,
        "response_format": fmt,
        **extra,
    }


# --------------------------------------------------------------------------- Admission itself


async def _hold(admission: Admission, release: asyncio.Event, order: list[str], name: str) -> None:
    """A request that takes a slot (waiting for one if need be) and keeps it until ``release``."""
    async with admission.slot():
        order.append(name)
        await release.wait()


async def test_admission_lets_a_bounded_number_work_and_wait_and_refuses_the_rest() -> None:
    admission = Admission(active=1, waiting=1)
    release = asyncio.Event()
    order: list[str] = []

    def hold(name: str) -> Awaitable[None]:
        return _hold(admission, release, order, name)

    first = asyncio.create_task(hold("first"))
    await _until(lambda: admission.active == 1, "the first request works")
    second = asyncio.create_task(hold("second"))
    await _until(lambda: admission.waiting == 1, "the second request waits")
    with pytest.raises(ApiError) as refused:
        async with admission.slot():
            pass
    assert refused.value.status == 429
    assert refused.value.code == "MODEL_OVERLOADED"
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    release.set()
    await asyncio.gather(first, second)
    assert order == ["first", "second"]
    assert admission.active == 0 and admission.waiting == 0


async def test_the_line_is_bounded_by_the_expected_wait_too() -> None:
    # A fresh Admission assumes a request holds its slot 2 s: with one slot busy, the next
    # request would wait about 2 s, past a 1 s budget, so it is refused although the line is
    # empty.
    admission = Admission(active=1, waiting=10, max_wait_s=1.0)
    release = asyncio.Event()

    def hold() -> Awaitable[None]:
        return _hold(admission, release, [], "")

    working = asyncio.create_task(hold())
    await _until(lambda: admission.active == 1, "one request works")
    assert admission.expected_wait() > 1.0 and admission.full()
    with pytest.raises(ApiError) as refused:
        async with admission.slot():
            pass
    assert refused.value.code == "MODEL_OVERLOADED"
    release.set()
    await working


async def test_a_request_that_leaves_the_line_frees_its_place() -> None:
    admission = Admission(active=1, waiting=1)
    release = asyncio.Event()

    def hold() -> Awaitable[None]:
        return _hold(admission, release, [], "")

    working = asyncio.create_task(hold())
    await _until(lambda: admission.active == 1, "one request works")
    waiting = asyncio.create_task(hold())
    await _until(lambda: admission.waiting == 1, "one request waits")
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert admission.waiting == 0
    third = asyncio.create_task(hold())  # takes the freed place in line instead of a 429
    await _until(lambda: admission.waiting == 1, "the third request waits")
    release.set()
    await asyncio.gather(working, third)
    assert admission.active == 0


def test_the_rate_window_counts_refuses_and_reports_the_same_numbers() -> None:
    window = RateWindow(requests=2, tokens=10)
    window.admit()
    assert window.headers()["x-ratelimit-remaining-requests"] == "1"
    window.admit()
    with pytest.raises(ApiError) as refused:
        window.admit()
    assert refused.value.code == "RATE_LIMIT_EXCEEDED"
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    headers = window.headers()
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    window.spend(7)
    assert window.headers()["x-ratelimit-remaining-tokens"] == "3"
    with pytest.raises(ApiError, match="10 input characters"):
        window.spend(4)


# --------------------------------------------------------------------------- over HTTP


async def test_excess_speech_requests_are_refused_at_once_with_retry_after(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(workers=1, max_active=1, max_waiting=1)
    finished: list[tuple[int, dict[str, str], dict[str, object] | None]] = []

    async def one(session: aiohttp.ClientSession) -> None:
        async with session.post(f"{server.base_url}/audio/speech", json=_speech(SENTENCES)) as r:
            body = await r.json() if r.status != 200 else None
            if r.status == 200:
                await r.read()
            finished.append((r.status, dict(r.headers), body))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session) for _ in range(6)))

    statuses = [status for status, _, _ in finished]
    assert statuses.count(200) >= 2, statuses
    assert statuses.count(429) >= 3, statuses
    first_ok = statuses.index(200)
    # Every refusal came back before the first admitted request was even done.
    assert all(status == 429 for status in statuses[:first_ok]) and first_ok >= 3, statuses
    for status, headers, body in finished:
        if status == 429:
            assert body is not None and body["code"] == "MODEL_OVERLOADED"
            assert 1 <= int(headers["Retry-After"]) <= 60
            assert "busy" in str(body["error"])


async def test_the_client_gets_every_answer_by_honouring_retry_after(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(workers=1, max_active=1, max_waiting=1)
    texts = [f"Request {i} waits for its turn politely." for i in range(6)]
    async with VeniceClient(api_key="unused", base_url=server.base_url, max_retries=12) as client:
        answers = await asyncio.gather(
            *(
                client.audio.create_speech(
                    input=t, model="tts-kokoro", voice="af_heart", response_format="wav"
                )
                for t in texts
            )
        )
    assert all(len(a.content) > 10_000 for a in answers)
    assert server.service.admission.refused >= 1  # the client really met refusals and retried


async def test_rate_limit_headers_are_true_and_enforced(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(rate_limit=3, token_limit=60)
    async with aiohttp.ClientSession() as session:
        remaining = []
        for _ in range(2):
            async with session.get(f"{server.base_url}/models") as r:
                assert r.status == 200
                remaining.append(int(r.headers["x-ratelimit-remaining-requests"]))
                assert r.headers["x-ratelimit-limit-requests"] == "3"
        assert remaining == [2, 1]
        text = "Forty characters of input go right here."
        async with session.post(f"{server.base_url}/audio/speech", json=_speech(text)) as r:
            assert r.status == 200
            assert r.headers["x-ratelimit-remaining-requests"] == "0"
            assert int(r.headers["x-ratelimit-remaining-tokens"]) == 60 - len(text)
            reset = int(r.headers["x-ratelimit-reset-requests"])
            assert time.time() < reset <= time.time() + 61
        async with session.get(f"{server.base_url}/models") as r:
            assert r.status == 429
            assert (await r.json())["code"] == "RATE_LIMIT_EXCEEDED"
            assert 1 <= int(r.headers["Retry-After"]) <= 60
            assert r.headers["x-ratelimit-remaining-requests"] == "0"


async def test_input_characters_past_the_token_window_are_refused(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(token_limit=60)
    text = "Forty characters of input go right here."
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.base_url}/audio/speech", json=_speech(text)) as r:
            assert r.status == 200
        async with session.post(f"{server.base_url}/audio/speech", json=_speech(text)) as r:
            body = await r.json()
            assert r.status == 429 and body["code"] == "RATE_LIMIT_EXCEEDED", body
            assert "input characters" in body["error"]


async def test_a_streamed_request_is_not_queued_behind_a_whole_one(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(workers=1)
    service = server.service
    events: list[str] = []

    async def whole(session: aiohttp.ClientSession) -> bytes:
        async with session.post(f"{server.base_url}/audio/speech", json=_speech(SENTENCES)) as r:
            assert r.status == 200
            data = await r.read()
        events.append("whole done")
        return data

    async def streamed(session: aiohttp.ClientSession) -> bytes:
        await _until(lambda: service.admission.active == 1, "the whole request works")
        body = _speech(SENTENCES, streaming=True)
        chunks = []
        async with session.post(f"{server.base_url}/audio/speech", json=body) as r:
            assert r.status == 200
            async for chunk in r.content.iter_any():
                if not chunks:
                    events.append("first streamed chunk")
                chunks.append(chunk)
        return b"".join(chunks)

    async with aiohttp.ClientSession() as session:
        whole_audio, streamed_audio = await asyncio.gather(whole(session), streamed(session))
    assert events[0] == "first streamed chunk", events
    # The same text sounds the same whole or streamed (same sentence pauses), within 2 %.
    assert len(streamed_audio) == pytest.approx(len(whole_audio), rel=0.02)


def _long_text(sentences: int) -> str:
    return " ".join(
        f"This is sentence {i} of a long story nobody will hear." for i in range(sentences)
    )


async def _leave_after_admission(
    server: LocalServer, head: str, body: bytes, until: Callable[[], bool]
) -> None:
    """Send a raw request, wait until ``until`` (the work started), then hang up."""
    url = urlsplit(server.base_url)
    _reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(head.encode("latin-1") + b"\r\n" + body)
    await writer.drain()
    await _until(until, "the request is at work")
    writer.close()
    await writer.wait_closed()


def _head(path: str, content_type: str, length: int, host: str) -> str:
    return (
        f"POST /api/v1{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n"
    )


async def test_a_client_that_leaves_a_whole_request_stops_the_work(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(workers=1)
    service = server.service
    body = json.dumps(_speech(_long_text(40), "wav")).encode()
    host = urlsplit(server.base_url).netloc
    await _leave_after_admission(
        server,
        _head("/audio/speech", "application/json", len(body), host),
        body,
        lambda: service.admission.active == 1,
    )
    # The engine notices at the next sentence: the request is counted as abandoned (it would
    # otherwise have rendered all 40 sentences and answered) and its slot is free again.
    await _until(lambda: service.abandoned == 1, "the server gives the work up")
    await _until(lambda: service.admission.active == 0, "the slot is released")


async def test_a_client_that_leaves_a_transcription_stops_the_work(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(workers=1)
    service = server.service
    async with VeniceClient(api_key="unused", base_url=server.base_url) as client:
        speech = await client.audio.create_speech(
            input=_long_text(8), model="tts-kokoro", voice="af_heart", response_format="wav"
        )
    with wave.open(io.BytesIO(speech.content)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    reps = max(1, int(240 * rate / samples.size))  # about four minutes of speech
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.tile(samples, reps).tobytes())
    boundary = "venicenbboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nnvidia/parakeet-tdt-0.6b-v3\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="long.wav"\r\n'
            f"Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + out.getvalue()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    host = urlsplit(server.base_url).netloc
    await _leave_after_admission(
        server,
        _head(
            "/audio/transcriptions", f"multipart/form-data; boundary={boundary}", len(body), host
        ),
        body,
        lambda: service.admission.active == 1,
    )
    await _until(lambda: service.abandoned == 1, "the server stops transcribing")
    await _until(lambda: service.admission.active == 0, "the slot is released")


async def _raw(server: LocalServer, data: bytes) -> bytes:
    url = urlsplit(server.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout=120)
    finally:
        writer.close()


async def test_a_connection_that_never_finishes_its_headers_is_closed(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(header_timeout=1.0)
    host = urlsplit(server.base_url).netloc
    answer = await _raw(server, f"POST /api/v1/audio/speech HTTP/1.1\r\nHost: {host}\r\n".encode())
    assert answer == b""  # closed by the server, nothing answered
    # The server still answers a well-formed request.
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.base_url}/models") as r:
            assert r.status == 200


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/audio/speech", "application/json"),
        ("/audio/transcriptions", "multipart/form-data; boundary=xyz"),
    ],
)
async def test_a_body_that_never_arrives_gets_408(
    make_server: Callable[..., LocalServer], path: str, content_type: str
) -> None:
    server = make_server(body_timeout=1.0)
    host = urlsplit(server.base_url).netloc
    head = _head(path, content_type, 5000, host) + "\r\n"
    start = b'{"input": "' if path.endswith("speech") else b"--xyz\r\nContent-Disposition: form"
    answer = await _raw(server, head.encode() + start)
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 408 " in status_line, answer[:200]
    assert b"REQUEST_TIMEOUT" in rest


async def test_a_busy_server_refuses_an_upload_before_reading_it(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(workers=1, max_active=1, max_waiting=0)
    service = server.service
    async with aiohttp.ClientSession() as session:
        long_request = asyncio.create_task(
            session.post(f"{server.base_url}/audio/speech", json=_speech(_long_text(30)))
        )
        await _until(lambda: service.admission.active == 1, "the engine is busy")
        host = urlsplit(server.base_url).netloc
        head = _head("/audio/transcriptions", "multipart/form-data; boundary=xyz", 10_000_000, host)
        answer = await _raw(server, (head + "\r\n").encode())  # none of the 10 MB is sent
        status_line, _, rest = answer.partition(b"\r\n")
        assert b" 429 " in status_line, answer[:300]
        assert b"Retry-After" in rest and b"MODEL_OVERLOADED" in rest
        (await long_request).release()
