"""%%venice_speak heard as it is made, in JupyterLab 4 and Notebook 7 (headless Chromium): a
20-sentence text on the offline engine starts playing (WebAudio, chunks counted by the page)
before synthesis ends; then the durable compact player replaces the live one, continues playing
from where it was, and is what the saved notebook keeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.jupyter_env import JupyterServer, running_jupyter
from testkit.live_probe import run_live, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.local, pytest.mark.slow]


@pytest.fixture(scope="module")
def jupyter(offline_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    with running_jupyter(tmp_path_factory.mktemp("jupyter-live")) as server:
        yield server


@pytest.mark.parametrize("frontend", ["lab", "notebook"])
def test_speech_plays_before_synthesis_ends_then_the_durable_player_takes_over(
    browser: Any, jupyter: JupyterServer, frontend: str
) -> None:
    name = f"live-{frontend}.ipynb"
    write_notebook(jupyter, name)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    try:
        run = run_live(page, jupyter, frontend, name)
        print(
            f"{frontend}: first sound {run.first_audible_ms:.0f} ms, synthesis ends "
            f"{run.synthesis_end_ms:.0f} ms, server first byte {run.server_first_byte_ms:.0f} ms, "
            f"{run.chunks_before_end} chunks"
        )
        assert run.chunks_before_end >= 2
        assert run.first_audible_ms < run.synthesis_end_ms
        # The durable player replaced the live one and plays on from the live position.
        player = ".jp-Notebook .jp-Cell:nth-child(3) .vnb-output .vnb-speech audio"
        page.wait_for_selector(player, timeout=60_000)
        page.wait_for_function(
            "sel => { const a = document.querySelector(sel); return a && !a.paused && a.currentTime > 0.5; }",
            arg=player,
            timeout=60_000,
        )
        assert page.locator(".vnb-live-player").count() == 0
        page.evaluate("sel => document.querySelector(sel).pause()", player)
    except Exception:
        page.screenshot(path=str(jupyter.base / f"live-{frontend}.png"), full_page=True)
        print(jupyter.log())
        raise
    finally:
        context.close()
        jupyter.shut_down_kernels()
