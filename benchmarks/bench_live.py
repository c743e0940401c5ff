"""Benchmark of hearing speech as it is made (``%%venice_speak`` on a streaming model).

Run: ``python benchmarks/bench_live.py`` (needs the ``dev`` extra, /usr/bin/chromium and the
extension installed with it by ``pip install -e .``; about a minute a run). JupyterLab 4 in headless
Chromium runs a 20-sentence ``%%venice_speak`` cell on the offline engine, in the natural Kokoro
voices users hear by default (``--fast``: the piper / espeak-ng voices the tests use, which
synthesise the whole text in under two seconds), and prints, per run (``--runs N``,
``--frontend notebook`` for Notebook 7):

- time from running the cell to the first audible sample (WebAudio, read in the page), against
  the server's time to its first audio byte (seen by the kernel's client): target <= 1.5x;
- that first sound as a share of the total synthesis time (cell run to the last chunk in the
  page): target < 20 %.

Under each run, where the time to the first sound went (one clock, from running the cell): the
request sent by the kernel, the server's first audio byte, that chunk forwarded to the frontend,
the chunk in the page, the first sample audible.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # testkit/ (shared with the tests) and venice_nb from this checkout

from testkit.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from testkit.jupyter_env import JupyterServer, installed_labextension  # noqa: E402
from testkit.live_probe import run_live, write_notebook  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fast", action="store_true", help="piper / espeak-ng voices (VENICE_NB_FAST=1)"
    )
    parser.add_argument("--frontend", choices=["lab", "notebook"], default="lab")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    try:
        installed_labextension()
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        base = Path(tmp)
        env = {
            "VENICE_NB_FAST": "1" if args.fast else "0",
            "VENICE_NB_CACHE_DIR": str(base / "cache"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        os.environ.pop("VENICE_API_KEY", None)
        os.environ.pop("VENICE_BASE_URL", None)
        server = JupyterServer(base / "jupyter", env)
        server.start()
        mode = "fast (piper / espeak-ng)" if args.fast else "natural (Kokoro)"
        print(f"offline engine, {mode} voices, {args.frontend}, 20 sentences")
        print("run  first sound  server 1st byte  ratio (<=1.5)  synthesis  share (<20 %)")
        failed = False
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                for n in range(1, args.runs + 1):
                    name = f"bench-{n}.ipynb"
                    write_notebook(server, name)
                    context = browser.new_context(viewport={"width": 1200, "height": 900})
                    page = context.new_page()
                    try:
                        run = run_live(page, server, args.frontend, name)
                    except Exception:
                        page.screenshot(path="/tmp/bench-live-failure.png")
                        print(server.log(), file=sys.stderr)
                        raise
                    context.close()
                    server.shut_down_kernels()
                    ratio, share = run.first_sound_vs_server, run.first_sound_share
                    failed |= ratio > 1.5 or share >= 0.2
                    print(
                        f"{n:>3}  {run.first_audible_ms:8.0f} ms  {run.server_first_byte_ms:12.0f} ms"
                        f"  {ratio:12.2f}x  {run.synthesis_end_ms:6.0f} ms  {100 * share:10.1f} %"
                    )
                    print(
                        f"     request sent {run.request_sent_ms:.0f} ms, first byte "
                        f"{run.first_byte_ms:.0f}, forwarded +"
                        f"{run.first_forwarded_ms - run.first_byte_ms:.0f}, in page +"
                        f"{run.first_chunk_in_page_ms - run.first_forwarded_ms:.0f}, audible +"
                        f"{run.first_audible_ms - run.first_chunk_in_page_ms:.0f}"
                    )
                browser.close()
        finally:
            server.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
