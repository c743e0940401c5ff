"""Shared fixtures: the strict stand-in of the cloud service and a client pointed at it."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

# No test may reach the cloud or leak a developer's key into outputs.
os.environ.pop("VENICE_API_KEY", None)
os.environ.pop("VENICE_BASE_URL", None)
# Tests that only need audio use the offline engine's fast mode (piper / espeak-ng); the tests of
# the natural Kokoro voices ask for them (LocalConfig(fast=False)), and the example notebooks
# (notebooks/conftest.py) run natural, as users hear them. VENICE_NB_FAST=0 pytest ... runs all
# natural.
os.environ.setdefault("VENICE_NB_FAST", "1")

import pytest_asyncio  # noqa: E402

from testkit.standin import StandIn  # noqa: E402
from venice_nb import VeniceClient, session  # noqa: E402
from venice_nb.notebook import runner  # noqa: E402

API_KEY = "test-key"


@pytest_asyncio.fixture
async def standin() -> AsyncIterator[StandIn]:
    """A started stand-in expecting the API key "test-key"; closed after the test."""
    async with StandIn(api_key=API_KEY) as server:
        yield server


@pytest.fixture
async def client(standin: StandIn) -> AsyncIterator[VeniceClient]:
    """A client for the stand-in with fast retries."""
    async with VeniceClient(api_key=API_KEY, base_url=standin.base_url, max_retries=2) as c:
        yield c


@pytest.fixture
def offline_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[InteractiveShell]:
    """A real IPython shell with ``%load_ext venice_nb`` on the session's embedded offline engine
    (no key), working in ``tmp_path`` as beside a notebook; afterwards the names its cells defined
    and any ``%config VeniceMagics`` are gone."""
    monkeypatch.delenv("VENICE_API_KEY", raising=False)
    monkeypatch.delenv("VENICE_BASE_URL", raising=False)
    monkeypatch.setenv("VENICE_NB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    if session._backend is not None and not session.get_backend().is_local:
        session.reset_backend()
    sh = InteractiveShell.instance()
    before = set(sh.user_ns)
    sh.run_line_magic("load_ext", "venice_nb")
    yield sh
    sh.config.pop("VeniceMagics", None)
    sh.run_line_magic("unload_ext", "venice_nb")
    for name in set(sh.user_ns) - before:
        sh.user_ns.pop(name, None)


@pytest.fixture
def cloud_shell(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[InteractiveShell, StandIn]]:
    """A shell whose backend is the stand-in (on its own thread and loop), with a key set."""
    server = StandIn(api_key=API_KEY)
    with server.in_thread() as base_url:
        monkeypatch.setenv("VENICE_BASE_URL", base_url)
        monkeypatch.setenv("VENICE_API_KEY", API_KEY)
        monkeypatch.setenv("VENICE_NB_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setattr(session, "_backend", None)
        sh = InteractiveShell.instance()
        sh.run_line_magic("load_ext", "venice_nb")
        try:
            yield sh, server
        finally:
            sh.run_line_magic("unload_ext", "venice_nb")
            runner.shutdown()
