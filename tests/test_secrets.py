"""Secrets stay secret: a canary API key never shows in results, errors, tracebacks, logs or files.

A fresh canary ("canary-" + 32 random hex digits) is set as ``VENICE_API_KEY`` with
``VENICE_BASE_URL`` pointing at a stand-in that expects exactly that key. Every client method
and every error path runs with logging at DEBUG captured; the notebook helpers, magics, CLI and
the example notebooks run with it too. Finally every committed file is scanned for the canary
pattern and for strings that look like real credentials.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import pickle
import re
import secrets
import shutil
import subprocess
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.audio_fixtures import encode, tone
from testkit.standin import Fault, StandIn
from venice_nb import VeniceClient
from venice_nb.core.audio import SpeechStream
from venice_nb.core.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidRequestError,
    RateLimitError,
    StreamInterruptedError,
)
from venice_nb.core.types import AudioResponse

CANARY = "canary-" + secrets.token_hex(16)
CANARY_PATTERN = re.compile("canary-" + "[0-9a-f]{32}")
ROOT = Path(__file__).resolve().parents[1]
SPEECH = "/audio/speech"
TRANSCRIBE = "/audio/transcriptions"
VOICES = "/audio/voices"
SAY: dict[str, Any] = {"input": "One. Two. Three.", "model": "tts-kokoro", "voice": "af_heart"}


# --------------------------------------------------------------------------- checks


def texts_of(obj: Any) -> list[str]:
    """Every text a user can see of ``obj``: str, repr, and for an exception its whole chain
    (``__cause__``/``__context__``), body, pickled copy and formatted traceback."""
    out = [str(obj), repr(obj)]
    if isinstance(obj, BaseException):
        out.append("".join(traceback.format_exception(obj)))
        seen: set[int] = set()
        todo: list[BaseException | None] = [obj]
        while todo:
            exc = todo.pop()
            if exc is None or id(exc) in seen:
                continue
            seen.add(id(exc))
            out += [str(exc), repr(exc), repr(getattr(exc, "body", None)), repr(exc.args)]
            todo += [exc.__cause__, exc.__context__]
        if isinstance(obj, APIError):
            out.append(repr(pickle.loads(pickle.dumps(obj))))
    else:
        for name in ("headers", "model_dump_json"):
            value = getattr(obj, name, None)
            out.append(repr(value() if callable(value) else value))
        if isinstance(obj, bytes | bytearray):
            out.append(bytes(obj).decode("latin-1"))
    return out


def assert_clean(*objs: Any) -> None:
    for obj in objs:
        for text in texts_of(obj):
            assert CANARY not in text, f"the key leaked through {type(obj).__name__}: {text[:300]}"


def assert_logs_clean(records: list[logging.LogRecord]) -> None:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        shown = formatter.format(record) + repr(record.args) + repr(record.__dict__)
        assert CANARY not in shown, f"the key leaked into a log record: {shown[:300]}"


def assert_tree_clean(folder: Path) -> int:
    """No file under ``folder`` has the canary in its name or content; returns the files seen."""
    seen = 0
    needle = CANARY.encode()
    for path in folder.rglob("*"):
        assert CANARY not in str(path), f"the key is in a file name: {path}"
        if path.is_file():
            seen += 1
            assert needle not in path.read_bytes(), f"the key was written to {path}"
    return seen


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The canary as VENICE_API_KEY; caches, data and temp files under tmp_path."""
    monkeypatch.setenv("VENICE_API_KEY", CANARY)
    monkeypatch.setenv("VENICE_NB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VENICE_NB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.wav"
    path.write_bytes(encode("wav", tone(5.5)))
    return path


# --------------------------------------------------------------------------- the core client


async def test_every_client_method_keeps_the_key_out_of_results_and_logs(
    env: Path, sample: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with StandIn(api_key=CANARY) as standin:
        monkeypatch.setenv("VENICE_BASE_URL", standin.base_url)
        async with VeniceClient(max_retries=1, backoff=0.01) as client:
            results: list[Any] = [client]
            results.append(await client.models.list("tts"))
            results.append(await client.models.list("asr"))
            results.append(await client.models.retrieve("tts-kokoro", type="tts"))
            results.append(await client.audio.get_voices(model_id="tts-kokoro", gender="female"))
            speech = await client.audio.create_speech(**SAY)
            results.append(speech)
            stream = await client.audio.create_speech(**SAY, stream=True)
            assert isinstance(stream, SpeechStream)
            results += [stream, await stream.read()]
            long = [c async for c in client.audio.stream_long_text(**SAY, max_words_per_segment=1)]
            results.append(b"".join(long))
            results.append(await client.audio.transcribe(file=sample, timestamps=True))
            results.append(
                await client.audio.transcribe(file=sample.read_bytes(), response_format="text")
            )
            with sample.open("rb") as fh:
                results.append(await client.audio.transcribe(file=fh))
            cloned = await client.audio.create_voice(file=sample)
            results.append(cloned)
            results.append(
                await client.audio.create_speech(
                    input="Cloned.", model=cloned.model, voice=cloned.id, response_format="wav"
                )
            )
            out = env / "out" / "speech.mp3"
            assert isinstance(speech, AudioResponse)
            speech.save(out)
        assert standin.violations == []
        assert all(r.headers.get("Authorization") == "Bearer ***" for r in standin.requests)
    assert_clean(*results)
    assert_logs_clean(caplog.records)
    assert assert_tree_clean(env) >= 2


async def _raises(coro: Any) -> BaseException:
    try:
        result = await coro
        if isinstance(result, SpeechStream):
            await result.read()
    except APIError as exc:
        return exc
    raise AssertionError("no error was raised")


async def test_every_error_path_keeps_the_key_out_of_errors_tracebacks_and_logs(
    env: Path, sample: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"error": f"Key {CANARY} refused (Authorization: Bearer {CANARY})", "code": "X"}
    errors: list[tuple[type[APIError], BaseException]] = []
    async with StandIn(api_key=CANARY) as standin:
        monkeypatch.setenv("VENICE_BASE_URL", standin.base_url)
        async with VeniceClient(max_retries=2, backoff=0.01, timeout=0.4) as client:
            await client.models.list("tts")
            await client.models.list("asr")
            cases: list[tuple[type[APIError], str, list[Fault], Any]] = [
                (AuthenticationError, SPEECH, [Fault.status(401, body=echo)], None),
                (RateLimitError, SPEECH, [Fault.status(429, retry_after=0.01, body=echo)] * 3, None),
                (InternalServerError, SPEECH, [Fault.status(503, body=echo)] * 3, None),
                (InternalServerError, TRANSCRIBE, [Fault.status(500, body={"error": f"<html>{CANARY}</html>"})] * 3, "transcribe"),
                (BadRequestError, VOICES, [Fault.status(400, body={**echo, "details": {"file": {"_errors": [CANARY]}}})], "clone"),
                (APITimeoutError, SPEECH, [Fault.stall(1.0)] * 3, None),
                (APITimeoutError, SPEECH, [Fault.stall(1.0)] * 3, "stream"),
                (APIConnectionError, SPEECH, [Fault.reset_before_body()] * 3, None),
                (APIConnectionError, SPEECH, [Fault.reset_mid_body(0)] * 3, "stream"),
                (StreamInterruptedError, SPEECH, [Fault.reset_mid_body(300)], "stream"),
                (InternalServerError, SPEECH, [Fault.status(502, body=echo)] * 3, "long"),
            ]  # fmt: skip
            for expected, path, faults, how in cases:
                standin.inject(path, *faults)
                if how == "transcribe":
                    call: Any = client.audio.transcribe(file=sample)
                elif how == "clone":
                    call = client.audio.create_voice(file=sample)
                elif how == "stream":
                    call = client.audio.create_speech(**SAY, stream=True)
                elif how == "long":
                    call = _drain(client.audio.stream_long_text(**SAY, max_concurrency=1))
                else:
                    call = client.audio.create_speech(**SAY)
                err = await _raises(call)
                assert type(err) is expected, (expected, err)
                errors.append((expected, err))
            errors.append(
                (
                    InvalidRequestError,
                    await _raises(client.audio.create_speech(**{**SAY, "voice": CANARY})),
                )
            )
        # The service refusing the key itself, and no service at all.
        async with StandIn(api_key="another-key") as other:
            async with VeniceClient(base_url=other.base_url, max_retries=0) as client:
                errors.append(
                    (AuthenticationError, await _raises(client.audio.create_speech(**SAY)))
                )
        async with VeniceClient(
            base_url="http://127.0.0.1:9/api/v1", max_retries=1, backoff=0.01
        ) as client:
            errors.append((APIConnectionError, await _raises(client.models.list("tts"))))
    for expected, err in errors:
        assert isinstance(err, expected)
        assert_clean(err)
    assert_logs_clean(caplog.records)
    assert len(caplog.records) >= 10  # the retries really were logged


async def _drain(gen: Any) -> bytes:
    return b"".join([c async for c in gen])


# --------------------------------------------------------------------------- notebook layer, CLI


class ThreadedStandIn:
    """A stand-in on its own thread and loop, for synchronous callers (helpers, magics, CLI,
    notebook kernels) that would otherwise block the loop serving them."""

    def __init__(self, **kwargs: Any) -> None:
        self.server = StandIn(**kwargs)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="standin", daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def threaded(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A threaded stand-in expecting the canary, chosen as this process's backend."""
    from venice_nb import session

    with ThreadedStandIn(api_key=CANARY) as server:
        monkeypatch.setenv("VENICE_BASE_URL", server.base_url)
        session.reset_backend()
        try:
            yield server
        finally:
            session.reset_backend()


def test_helpers_magics_and_cli_keep_the_key_out_of_outputs_logs_and_files(
    threaded: StandIn,
    env: Path,
    sample: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    import venice_nb
    from venice_nb import cli, session

    caplog.set_level(logging.DEBUG)
    work = env / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    backend = session.get_backend()
    assert backend.kind == "custom"
    seen: list[Any] = [backend, session.new_client()]

    speech = venice_nb.speak("Hello from the helper.", voice="af_sky", out=work / "helper.mp3")
    again = venice_nb.speak("Hello from the helper.", voice="af_sky")  # from the cache
    transcript = venice_nb.transcribe(sample)
    seen += [speech, again, transcript]

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "venice_nb")
    outputs: list[str] = []
    try:
        cells = [
            "%%venice_speak --voice af_heart --out magic.wav --var s\nHello from a magic.",
            f"%venice_transcribe {sample} --format srt",
            "%venice_voices --model tts-kokoro --region b",
            "%venice_cache info",
            "%%venice_speak --voice af_nobody\nUnknown voice.",
        ]
        for cell in cells:
            with capture_output() as captured:
                result = shell.run_cell(cell)
            outputs += [captured.stdout, captured.stderr, repr(result.result)]
            if result.result is not None:
                assert shell.display_formatter is not None
                data, _ = shell.display_formatter.format(result.result)
                outputs.append(json.dumps(data, default=str))
        threaded.inject(SPEECH, Fault.status(401, body={"error": f"bad key {CANARY}"}))
        with capture_output() as captured:
            shell.run_cell("%%venice_speak --voice af_heart --no-cache\nRefused.")
        outputs += [captured.stdout, captured.stderr]
        assert "venice_nb:" in captured.stderr  # the refusal was reported, as one line
    finally:
        shell.run_line_magic("unload_ext", "venice_nb")
        shell.user_ns.pop("s", None)

    assert cli.main(["speak", "Hello from the command line.", "--out", str(work / "cli.mp3")]) == 0
    assert cli.main(["transcribe", str(sample), "--format", "json"]) == 0
    assert cli.main(["voices", "--model", "tts-kokoro"]) == 0
    threaded.inject(SPEECH, *[Fault.status(503, body={"error": f"Bearer {CANARY}"})] * 3)
    assert (
        cli.main(["speak", "Refused.", "--out", str(work / "never.mp3")]) == 7
    )  # the server failed: exit status 7 (venice-nb --help)
    printed = capsys.readouterr()
    outputs += [printed.out, printed.err]

    assert_clean(*seen)
    for text in outputs:
        assert CANARY not in text
    assert_logs_clean(caplog.records)
    assert not (work / "never.mp3").exists()
    assert assert_tree_clean(env) >= 5  # helper/magic/CLI outputs and the speech cache
    assert any((env / "cache").rglob("*.json"))


@pytest.mark.slow
def test_the_example_notebooks_keep_the_key_out_of_their_outputs_and_files(
    threaded: StandIn, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    work = env / "notebooks"
    shutil.copytree(ROOT / "notebooks", work, ignore=shutil.ignore_patterns("*.ipynb_checkpoints"))
    scratch = env / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the kernels' temporary files land here too
    executed = 0
    for source in notebooks:
        nb = nbformat.read(work / source.name, as_version=4)
        client = nbclient.NotebookClient(
            nb,
            timeout=120,
            kernel_name="python3",
            allow_errors=True,  # the stand-in is not the offline engine: some cells may differ
            resources={"metadata": {"path": str(work)}},
        )
        client.execute()
        for cell in nb.cells:
            if cell.cell_type == "code":
                executed += 1
                text = json.dumps(cell.get("outputs", []))
                assert CANARY not in text, f"{source.name}: the key is in a cell output"
    assert executed >= 50
    assert threaded.count(SPEECH) > 0  # the notebooks really talked to the canary backend
    assert assert_tree_clean(env) > 0


# --------------------------------------------------------------------------- committed files

KEY_LIKE = [
    re.compile(r"sk-[A-Za-z0-9_-]{20,}"),  # OpenAI-style
    re.compile(r"\bVENICE[-_][A-Za-z0-9_-]{30,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),  # GitHub tokens
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9_\-.]{32,}"),
    re.compile(r"(?i)VENICE_API_KEY\s*[=:]\s*[\"']?[A-Za-z0-9_\-]{24,}"),
]

PLACEHOLDER_WORDS = ("test", "example", "dummy", "fake", "canary", "secret", "notebook", "xxxx")


def looks_real(token: str) -> bool:
    """A credential-shaped match that is not an obvious placeholder: random-looking characters."""
    if "PRIVATE KEY-----" in token:
        return True
    if any(word in token.lower() for word in PLACEHOLDER_WORDS):
        return False
    body = re.sub(r"(?i)^(?:bearer\s+|venice_api_key\s*[=:]\s*[\"']?)", "", token)
    classes = sum(bool(re.search(c, body)) for c in ("[a-z]", "[A-Z]", "[0-9]"))
    counts = [body.count(ch) for ch in set(body)]
    entropy = -sum(n / len(body) * math.log2(n / len(body)) for n in counts)
    return classes >= 2 and entropy >= 3.5


def test_no_committed_file_holds_the_canary_or_a_real_looking_key() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    files = [ROOT / name for name in listed.split("\0") if name]
    assert len(files) > 20
    found: list[str] = []
    for path in files:
        if not path.is_file():
            continue  # deleted in the working tree
        text = path.read_bytes().decode("utf-8", "replace")
        if CANARY_PATTERN.search(text) or CANARY in text:
            found.append(f"{path.relative_to(ROOT)}: canary")
        for pattern in KEY_LIKE:
            for match in pattern.finditer(text):
                if looks_real(match.group(0)):
                    found.append(f"{path.relative_to(ROOT)}: {match.group(0)[:12]}...")
    assert found == []


def test_the_key_scan_would_catch_a_leak() -> None:
    real_looking = secrets.token_urlsafe(36)
    leaked = f"headers = {{'Authorization': 'Bearer {real_looking}'}}\n{CANARY}\n"
    assert CANARY_PATTERN.search(leaked)
    assert any(looks_real(m.group(0)) for p in KEY_LIKE for m in p.finditer(leaked))
    assert not looks_real("sk-notebook-test-secret-123456")  # a placeholder in a test
    assert looks_real("-----BEGIN " + "RSA PRIVATE KEY-----")
    assert os.environ.get("VENICE_API_KEY") is None  # conftest keeps a developer's key away
