"""Measure live playback in a real frontend: run a %%venice_speak cell in JupyterLab or
Notebook 7 and read, from the page, when the cell was run, when the first sample was audible and
when synthesis ended; and, from the kernel, the server's time to its first audio byte, with the
steps between (request sent, first chunk forwarded, first chunk in the page) on one clock (the
kernel and the browser run on the same machine). Shared by tests/browser/test_browser_live.py and
benchmarks/bench_live.py."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from testkit.jupyter_env import JupyterServer

SENTENCES = [
    "The ferry left the harbour just after dawn.",
    "Gulls followed it out past the breakwater.",
    "A light wind came from the west.",
    "The captain checked the charts twice.",
    "Passengers gathered on the upper deck.",
    "Some of them had brought warm coffee.",
    "A child pointed at a distant island.",
    "Its cliffs were white in the morning sun.",
    "The engines settled into a steady rhythm.",
    "Clouds moved slowly over the water.",
    "Nobody spoke for a long while.",
    "Then a bell rang from the bridge.",
    "The island was closer than it looked.",
    "A small village stood above the pier.",
    "Its houses were painted blue and yellow.",
    "Fishing boats rocked in the little port.",
    "The ferry slowed and turned toward land.",
    "Ropes were thrown and tied at the dock.",
    "The passengers walked down the ramp.",
    "Their day on the island had begun.",
]
TEXT = " ".join(SENTENCES)
WAIT = 300_000


@dataclass
class LiveRun:
    """One measured cell (milliseconds from the key press that ran it)."""

    first_audible_ms: float
    synthesis_end_ms: float
    server_first_byte_ms: float
    chunks_before_end: int
    request_sent_ms: float = 0.0
    first_byte_ms: float = 0.0
    first_forwarded_ms: float = 0.0
    first_chunk_in_page_ms: float = 0.0

    @property
    def first_sound_vs_server(self) -> float:
        return self.first_audible_ms / self.server_first_byte_ms

    @property
    def first_sound_share(self) -> float:
        return self.first_audible_ms / self.synthesis_end_ms


def notebook_cells(text: str = TEXT) -> list[str]:
    return [
        "%load_ext venice_nb",
        "%%venice_speak --no-stream\nA short warm up.",
        f"%%venice_speak --no-cache --var s\n{text}",
        "t = s.timing\nprint('TIMING', 1000 * (t.first_byte - t.started))\n"
        "import time as _t\n_o = _t.time() - _t.monotonic()\n"
        "print('EPOCH', *(1000 * (v + _o) for v in (t.started, t.first_byte, t.first_forwarded)))",
    ]


def write_notebook(server: JupyterServer, name: str, text: str = TEXT) -> None:
    server.write_notebook(name, notebook_cells(text))


def _wait_kernel_idle(server: JupyterServer) -> None:
    deadline = time.monotonic() + 120
    while not any(k.get("execution_state") == "idle" for k in server.kernels()):
        assert time.monotonic() < deadline, "the notebook's kernel did not start"
        time.sleep(0.5)


def run_live(page: Any, server: JupyterServer, frontend: str, name: str) -> LiveRun:
    """Open ``name`` (written by :func:`write_notebook`), run it cell by cell, measure."""
    url = server.url(frontend, name) + ("&reset" if frontend == "lab" else "")  # no old tabs
    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell:visible", timeout=120_000)
    _wait_kernel_idle(server)
    cells = page.locator(".jp-Notebook .jp-Cell:visible")
    cells.first.click()
    deadline = time.monotonic() + 120
    while True:  # the first key press can come before the kernel is connected: press again
        page.keyboard.press("Shift+Enter")  # %load_ext
        try:
            cells.first.locator(".jp-InputPrompt:has-text('[1]')").wait_for(timeout=5_000)
            break
        except Exception:
            assert time.monotonic() < deadline, "the first cell never ran"
            cells.first.click()
    page.keyboard.press("Shift+Enter")  # warm up: starts the offline engine
    page.wait_for_selector(".vnb-output .vnb-speech audio", timeout=WAIT)
    page.evaluate(
        """() => document.addEventListener('keydown', e => {
          if (e.key === 'Enter' && e.shiftKey && window.vnbRunAt === undefined)
            window.vnbRunAt = performance.now(); }, true)"""
    )
    page.keyboard.press("Shift+Enter")  # the measured cell
    page.wait_for_function(
        "() => (globalThis.__vnbLiveEvents || []).some(e => e.event === 'end')", timeout=WAIT
    )
    events = page.evaluate("globalThis.__vnbLiveEvents")
    run_at = page.evaluate("window.vnbRunAt")
    first = next(e["t"] for e in events if e["event"] == "first-audible")
    end = next(e["t"] for e in events if e["event"] == "end")
    chunks = sum(1 for e in events if e["event"] == "chunk" and e["t"] < end)
    page.keyboard.press("Shift+Enter")  # print the kernel's timing
    page.wait_for_selector("text=/TIMING \\d/", timeout=60_000)
    printed = cells.nth(3).locator(".jp-OutputArea-output").inner_text()
    server_first_byte = float(re.search(r"TIMING ([\d.]+)", printed).group(1))
    origin = page.evaluate("performance.timeOrigin") + run_at  # the run, in epoch ms
    sent, byte, forwarded = (
        float(v) - origin for v in re.search(r"EPOCH (.+)", printed).group(1).split()
    )
    in_page = next(e["t"] for e in events if e["event"] == "chunk") - run_at
    return LiveRun(
        first - run_at, end - run_at, server_first_byte, chunks, sent, byte, forwarded, in_page
    )
