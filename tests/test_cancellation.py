"""Interrupting work cancels every request in flight within 1 s, leaves no orphan task and no
partial file (issue 6): for the core's stream_long_text and transcribe, and for a cell running
%%venice_speak --out or %venice_transcribe."""

from __future__ import annotations

import _thread
import asyncio
import threading
import time
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from testkit.audio_fixtures import wav_bytes
from testkit.standin import StandIn
from venice_nb import VeniceClient
from venice_nb.notebook import runner

SPEECH = "/audio/speech"
LONG = " ".join(f"Sentence {i} is one of many that make this text long." for i in range(80))
SLOW = 20.0  # seconds the stand-in takes per request: far longer than any test waits


def client_tasks() -> list[asyncio.Task[object]]:
    """Tasks of the client still alive (the stand-in's own handlers share the loop)."""
    return [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and "venice_nb" in repr(t.get_coro())
    ]


async def _until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting for the requests to start"
        await asyncio.sleep(0.01)


async def test_cancelling_stream_long_text_cancels_every_segment_within_a_second(
    standin: StandIn,
) -> None:
    async with VeniceClient(api_key="test-key", base_url=standin.base_url) as client:
        await client.models.list("tts")
        standin.latency = SLOW

        async def consume() -> None:
            async for _ in client.audio.stream_long_text(
                input=LONG, model="tts-kokoro", voice="af_heart", max_words_per_segment=30
            ):
                pass

        task = asyncio.ensure_future(consume())
        await _until(lambda: standin.count(SPEECH) >= 4)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 1.0
        assert client_tasks() == []
        sent = standin.count(SPEECH)
        assert sent == 4  # max_concurrency requests were in flight, no more
        connector = client._session.connector if client._session else None
        assert connector is not None
        await asyncio.sleep(0.3)
        assert standin.count(SPEECH) == sent, "a segment request was sent after cancellation"


async def test_cancelling_a_transcription_is_prompt(standin: StandIn) -> None:
    async with VeniceClient(api_key="test-key", base_url=standin.base_url) as client:
        await client.models.list("asr")
        standin.latency = SLOW
        task = asyncio.ensure_future(client.audio.transcribe(file=wav_bytes()))
        await _until(lambda: standin.count("/audio/transcriptions") >= 1)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 1.0
        assert client_tasks() == []


@pytest.fixture
def slow_cloud(
    cloud_shell: tuple[InteractiveShell, StandIn], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[InteractiveShell, StandIn]:
    """The stand-in-backed shell, working in tmp_path."""
    monkeypatch.chdir(tmp_path)
    return cloud_shell


def _interrupt_when(condition: object, fired: list[float]) -> None:
    def watch() -> None:
        deadline = time.monotonic() + 20
        while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
            time.sleep(0.01)
        fired.append(time.monotonic())
        _thread.interrupt_main()

    threading.Thread(target=watch, daemon=True).start()


def _runner_client_tasks() -> list[str]:
    async def names() -> list[str]:
        return [repr(t.get_coro()) for t in client_tasks()]

    return runner.run(names())


def test_interrupting_a_long_speak_cell_cancels_it_and_leaves_no_file(
    slow_cloud: tuple[InteractiveShell, StandIn], tmp_path: Path
) -> None:
    sh, server = slow_cloud
    with capture_output():
        sh.run_cell("%%venice_speak --voice af_sky\nWarm up the catalog.")
    server.latency = SLOW
    before = server.count(SPEECH)
    fired: list[float] = []
    _interrupt_when(lambda: server.count(SPEECH) >= before + 4, fired)
    text = LONG * 6  # over 4096 characters: spoken in parts
    with capture_output() as out:
        result = sh.run_cell(f"%%venice_speak --voice af_sky --out long.mp3\n{text}")
    returned = time.monotonic()
    assert result.error_in_exec is None  # one clear line, not a traceback
    assert "interrupted" in out.stdout + out.stderr
    assert fired and returned - fired[0] < 1.0
    assert _runner_client_tasks() == []
    assert not (tmp_path / "long.mp3").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "cache"] == []
    sent = server.count(SPEECH)
    time.sleep(0.3)
    assert server.count(SPEECH) == sent


def test_interrupting_a_transcribe_cell_cancels_the_upload(
    slow_cloud: tuple[InteractiveShell, StandIn], tmp_path: Path
) -> None:
    sh, server = slow_cloud
    (tmp_path / "talk.wav").write_bytes(wav_bytes(2.0))
    with capture_output():
        sh.run_cell("%venice_voices --model tts-kokoro")  # warms the backend and the catalog
    server.latency = SLOW
    fired: list[float] = []
    _interrupt_when(lambda: server.count("/audio/transcriptions") >= 1, fired)
    with capture_output() as out:
        result = sh.run_cell("%venice_transcribe talk.wav")
    returned = time.monotonic()
    assert result.error_in_exec is None
    assert "interrupted" in out.stdout + out.stderr
    assert fired and returned - fired[0] < 1.0
    assert _runner_client_tasks() == []
