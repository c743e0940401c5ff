"""The backend choice (custom URL, cloud key, embedded offline server), the client reaching the
embedded server over HTTP end to end, and the ``venice-nb serve`` command line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("piper")

import aiohttp

from venice_nb import session
from venice_nb.local.cli import main as serve_main
from venice_nb.session import (
    Backend,
    BackendUnavailableError,
    get_backend,
    new_client,
    reset_backend,
)

pytestmark = pytest.mark.local


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("VENICE_API_KEY", raising=False)
    monkeypatch.delenv("VENICE_BASE_URL", raising=False)
    monkeypatch.setenv("VENICE_NB_DATA_DIR", str(tmp_path / "data"))
    reset_backend()
    yield monkeypatch
    reset_backend()


async def test_without_a_key_the_embedded_local_server_is_used(
    clean_env: pytest.MonkeyPatch,
) -> None:
    backend = get_backend()
    assert backend.kind == "local" and backend.is_local
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", backend.base_url)
    assert backend.api_key and len(backend.api_key) >= 24
    assert get_backend() is backend  # decided once
    assert backend.api_key not in repr(backend) and backend.api_key not in str(backend)
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{backend.base_url}/audio/speech", json={"input": "Hi."}) as r:
            assert r.status == 401  # the random token protects it
    reset_backend()
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with s.get(f"{backend.base_url}/models"):
                pass


def test_a_base_url_wins_and_a_key_alone_means_the_cloud(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VENICE_API_KEY", "sk-secret-value-123")
    clean_env.setenv("VENICE_BASE_URL", "http://127.0.0.1:9/api/v1/")
    backend = get_backend()
    assert backend == Backend("custom", "http://127.0.0.1:9/api/v1", "sk-secret-value-123")
    assert "sk-secret" not in repr(backend)
    reset_backend()
    clean_env.delenv("VENICE_BASE_URL")
    backend = get_backend()
    assert backend.kind == "cloud" and backend.base_url == "https://api.venice.ai/api/v1"
    assert not backend.is_local and "sk-secret" not in repr(backend)


async def test_the_offline_engines_client_waits_long_enough_for_a_long_segment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    """A 4,096-character segment is minutes of CPU work on this machine: the embedded engine's
    client allows LOCAL_TIMEOUT, not the cloud's 120 s (which cut long_text_narration on a busy
    machine after three fresh starts); a given timeout still wins; the cloud keeps 120 s."""
    async with new_client() as client:
        assert client.timeout is not None and client.timeout.total == session.LOCAL_TIMEOUT
    async with new_client(timeout=30) as client:
        assert client.timeout is not None and client.timeout.total == 30
    reset_backend()
    clean_env.setenv("VENICE_API_KEY", "sk-secret-value-123")
    async with new_client() as client:
        assert client.timeout is not None and client.timeout.total == 120


def test_with_nothing_installed_the_error_says_how_to_fix_it(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setattr(session, "_LOCAL_MODULES", ("venice_nb_no_such_engine_module",))
    with pytest.raises(BackendUnavailableError) as info:
        get_backend()
    message = str(info.value)
    assert (
        "VENICE_API_KEY" in message
        and "venice-nb[local]" in message
        and "VENICE_BASE_URL" in message
    )


@pytest.mark.slow
async def test_the_client_speaks_and_listens_through_the_embedded_server(
    clean_env: pytest.MonkeyPatch,
) -> None:
    text = "Offline speech travels through the same client as the cloud."
    async with new_client() as client:
        models = await client.models.list(type="tts")
        assert any(m.id == "tts-kokoro" for m in models)
        audio = await client.audio.create_speech(
            input=text, model="tts-kokoro", voice="am_michael", response_format="wav"
        )
        assert bytes(audio)[:4] == b"RIFF"
        transcript = await client.audio.transcribe(
            file=bytes(audio), model="openai/whisper-large-v3", timestamps=True
        )
        assert "speech travels" in transcript.text.lower()
        assert transcript.words and transcript.duration and transcript.duration > 2
        chunks = []
        async with await client.audio.create_speech(
            input=text + " " + text, model="tts-kokoro", voice="bm_george", stream=True
        ) as stream:
            async for chunk in stream:
                chunks.append(chunk)
        assert len(chunks) >= 2


def test_serve_help_and_voice_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        serve_main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--host",
        "--port",
        "--token",
        "--piper-model",
        "--whisper-model",
        "--list-voices",
        "--data-dir",
    ):
        assert option in out
    assert serve_main(["--list-voices"]) == 0
    out = capsys.readouterr().out
    assert "207 voices" in out
    assert re.search(r"tts-kokoro\s+ff_siwis\s+female\s+fr\s+espeak-ng fr\+f\d", out)
    assert re.search(
        r"tts-orpheus\s+tara\s+female\s+en-us\s+piper en_US-joe-medium\s+pitch x1\.[4-6]", out
    )


def test_serve_refuses_a_public_address_without_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        serve_main(["--host", "0.0.0.0", "--port", "0"])
    assert info.value.code == 2
    assert "--token" in capsys.readouterr().err


@pytest.mark.slow
def test_python_m_venice_nb_local_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "VENICE_NB_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "venice_nb.local", "--port", "0", "--token", "cli-token"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/api/v1)", line)
        assert match, line
        import urllib.request

        with urllib.request.urlopen(f"{match.group(1)}/models?type=asr", timeout=10) as r:
            assert r.status == 200
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    "command",
    [["-m", "venice_nb", "serve", "--list-voices"], ["-m", "venice_nb.local", "--list-voices"]],
)
def test_a_voice_table_piped_into_head_stops_quietly(command: list[str]) -> None:
    """`venice-nb serve --list-voices | head`: the reader is gone before the table is written
    (its 20 KB would otherwise fit the pipe); the command stops quietly, as Unix tools do."""
    proc = subprocess.Popen(
        [sys.executable, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader leaves while Python is still starting
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
