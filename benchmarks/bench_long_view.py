"""Benchmark of the transcript view on a one-hour transcript (8,835 words, 589 segments, a gap):
how long it takes to draw, and the main-thread tasks while the highlight follows playback.

Run: ``python benchmarks/bench_long_view.py`` (about 2 minutes; needs Debian's chromium and the
project installed as README says). It runs the browser tests of the long view (the anywidget, the
nbconvert page, JupyterLab and Notebook 7, see tests/browser/long_view.py) with the targets held
(``VENICE_NB_PERF=1``) and prints each one's figures: ``draw_ms`` (target < 1000 ms in
JupyterLab) and ``long_tasks_ms``, the Long Tasks API's tasks over 50 ms in each stretch of
following (target: a stretch with none, none over 250 ms). Run it on a quiet machine: other
processes stretch a page's tasks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = [
    "tests/browser/test_browser_widgets.py",
    "tests/browser/test_browser_transcript.py",
    "tests/browser/test_browser_jupyter.py",
]


def main() -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-k", "hour", *TESTS],
        cwd=ROOT,
        env={**os.environ, "VENICE_NB_PERF": "1"},
        capture_output=True,
        text=True,
    )
    for line in proc.stdout.splitlines():
        if "draw_ms" in line or "long_tasks_ms" in line or "passed" in line or "failed" in line:
            print(line.strip())
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
