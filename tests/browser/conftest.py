"""Browser-test fixtures: Debian's headless Chromium driven by Playwright, a loopback file server,
and a small notebook executed with nbclient against the offline engine, rendered by nbconvert."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.chromium import CHROMIUM, CHROMIUM_ARGS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WIDGETS = REPO / "venice_nb" / "notebook"

PARAGRAPH = (
    "The library opens at nine in the morning. Students arrive early to find a quiet table "
    "near the window, and the librarian greets each of them by name."
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (skips when Debian's package is not installed). Module-scoped:
    Playwright's sync API keeps an event loop running in the main thread while it is open,
    which must not outlive the browser tests."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class FileServer:
    """Serves one directory on 127.0.0.1 from a background thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileServer]:
    """A served directory holding the widget modules, the fake-model harness and test files."""
    root = tmp_path_factory.mktemp("site")
    for name in (
        "transcript.js",
        "transcript.css",
        "player.js",
        "player.css",
        "voice_explorer.js",
        "voice_explorer.css",
        "live.js",
    ):
        shutil.copy(WIDGETS / name, root / name)
    for name in ("fake_model.js", "harness.html"):
        shutil.copy(HERE / name, root / name)
    server = FileServer(root)
    yield server
    server.close()


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Environment for kernels and in-process speech: no key, a fresh cache, this checkout."""
    pytest.importorskip("piper")
    pytest.importorskip("faster_whisper")
    cache = tmp_path_factory.mktemp("speech-cache")
    with pytest.MonkeyPatch.context() as m:
        m.delenv("VENICE_API_KEY", raising=False)
        m.delenv("VENICE_BASE_URL", raising=False)
        m.setenv("VENICE_NB_CACHE_DIR", str(cache))
        path = os.environ.get("PYTHONPATH", "")
        m.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{path}" if path else str(REPO))
        yield cache


def execute_notebook(cells: list[str], workdir: Path, *, store_widget_state: bool = False) -> Any:
    """Run ``cells`` in a fresh ``python3`` kernel with nbclient; returns the executed notebook."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        store_widget_state=store_widget_state,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", output
            if output.get("name") == "stderr":
                raise AssertionError(f"stderr from the notebook: {output.get('text')}")
    return nb


def to_html(nb: Any) -> str:
    """The notebook as nbconvert's HTML (lab template)."""
    nbconvert = pytest.importorskip("nbconvert")
    body, _ = nbconvert.HTMLExporter(template_name="lab").from_notebook_node(nb)
    return str(body)
