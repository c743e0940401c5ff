"""Browser-test fixtures: Debian's headless Chromium driven by Playwright, a loopback file server,
and a small notebook executed with nbclient against the offline engine, rendered by nbconvert."""

from __future__ import annotations

import functools
import http.server
import io
import os
import re
import shutil
import sys
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
    """Quiet, and answers byte ranges as any real web server does: without them a browser
    cannot seek in a long recording it has not downloaded."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        path = self.translate_path(self.path)
        if not wanted or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start = int(wanted[1])
        end = min(int(wanted[2]) if wanted[2] else size - 1, size - 1)
        if start >= size:
            self.send_error(416)
            return None
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(body)


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser drops the rest of a media response it no longer needs (after a seek).
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FileServer:
    """Serves one directory on 127.0.0.1 from a background thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = _Server(("127.0.0.1", 0), handler)
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


# -- a one-hour transcript -----------------------------------------------------------------------
HOUR = 3600.0
PHRASE = "lighthouse keeper"
PHRASE_COUNT = 17
GAP = (1200.0, 1500.0, "the server kept failing (HTTP 503)")
_VOCABULARY = (
    "the a of and to in that it is was for on with as at by from this we they you our "
    "morning harbour boat weather report river station train table window garden letter "
    "evening market meeting budget plan people night city village music story question"
).split()


def hour_transcript(**kwargs: Any) -> Any:
    """A one-hour transcript as long-form transcription makes it: ~9,000 words in ~600
    segments of ~6 s, one missing range (GAP) and PHRASE spoken PHRASE_COUNT times."""
    from venice_nb.notebook.transcript import Segment, Transcript, Word

    words: list[Word] = []
    segments: list[Segment] = []
    t = 0.0
    n = 0
    phrase_every = 34  # of ~590 segments
    while t < HOUR - 6.0:
        if GAP[0] <= t < GAP[1]:
            t = GAP[1]
            continue
        start = t
        spoken = []
        for k in range(15):
            nth, rest = divmod(len(segments), phrase_every)
            if k == 4 and rest == 0 and nth < PHRASE_COUNT:
                token = "Lighthouse"
            elif k == 5 and spoken and spoken[-1] == "Lighthouse":
                token = "keeper,"
            else:
                token = _VOCABULARY[(n * 7 + k * 3) % len(_VOCABULARY)]
            token = token.capitalize() if k == 0 else token
            token = token + "." if k == 14 else token
            words.append(Word(token, round(t, 3), round(t + 0.3, 3)))
            spoken.append(token)
            t += 0.36
            n += 1
        segments.append(Segment(" ".join(spoken), start, t - 0.1))
        t += 0.2
    return Transcript(
        " ".join(s.text for s in segments), words, segments, duration=HOUR, gaps=[GAP], **kwargs
    )


def quiet_wav(path: Path, seconds: float = HOUR) -> Path:
    """An hour of near-silence as 8 kHz 8-bit WAV (29 MB, written in well under a second)."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * int(seconds * 8000))
    return path


# Main-thread tasks over 50 ms from now on, into window.vnbLong (Chromium's Long Tasks API);
# run again, it empties the list.
WATCH_LONG_TASKS = """() => { window.vnbLong = []; if (window.vnbLongWatched) return;
  window.vnbLongWatched = true;
  new PerformanceObserver(list => { for (const e of list.getEntries())
    window.vnbLong.push(Math.round(e.duration)); }).observe({type: 'longtask'}); }"""
