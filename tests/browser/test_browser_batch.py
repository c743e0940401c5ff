"""venice_nb.speak_many in JupyterLab 4 and Notebook 7 (headless Chromium): its progress bar is an ipywidgets bar
(tqdm.auto), which fills to N/N and turns to success; the printed summary says every item was
done, and the files are in out_dir. Offline engine; waits are for the events checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser_jupyter import _menu, _wait_kernel_idle

from testkit.jupyter_env import JupyterServer, running_jupyter

pytestmark = [pytest.mark.browser, pytest.mark.local, pytest.mark.slow]

TEXTS = 6
CELL = """import venice_nb
texts = [f"Line {{n}} of the batch is ready." for n in range(1, {count} + 1)]
report = venice_nb.speak_many(texts, out_dir="{out}")
print(report)"""
BAR = ".jp-OutputArea-output .widget-hprogress"


@pytest.fixture(scope="module")
def jupyter(offline_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    with running_jupyter(
        tmp_path_factory.mktemp("jupyter-batch"), needs=("jupyterlab", "notebook", "ipywidgets")
    ) as server:
        yield server


@pytest.mark.parametrize("frontend", ["lab", "notebook"])
def test_speak_many_draws_a_widget_bar_that_reaches_its_total(
    browser: Any, jupyter: JupyterServer, frontend: str
) -> None:
    name = f"batch-{frontend}.ipynb"
    out = f"batch-{frontend}"
    jupyter.write_notebook(name, [CELL.format(count=TEXTS, out=out)])
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    try:
        url = jupyter.url(frontend, name) + ("&reset" if frontend == "lab" else "")
        page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell:visible", timeout=120_000)
        _wait_kernel_idle(jupyter)
        page.locator(".jp-Notebook .jp-Cell:visible").first.click()
        _menu(page, "Run", "Run All Cells")
        # The summary is printed once the batch has ended and the bar is closed.
        summary = f"{TEXTS} items: {TEXTS} done, 0 skipped, 0 failed"
        page.wait_for_selector(f".jp-OutputArea-output:has-text('{summary}')", timeout=240_000)
        # tqdm.notebook closes a bar that reached its total as "success" (short of it: "danger").
        bar = page.locator(BAR)
        assert bar.count() == 1
        bar.locator(".progress-bar.progress-bar-success").wait_for(timeout=30_000)
        fill = bar.locator(".progress-bar").evaluate("b => b.style.width")
        assert fill == "100%", fill
        labels = bar.locator("xpath=..").locator(".widget-html-content").all_inner_texts()
        labels = [t.replace("\u2007", " ") for t in labels]  # tqdm.notebook's figure spaces
        assert labels[0].strip() == "Speaking: 100%", labels
        assert re.match(rf"\s*{TEXTS}/{TEXTS} \[", labels[1]), labels
        assert f"done {TEXTS}, skipped 0, failed 0" in labels[1], labels
        assert page.locator("text=Error displaying widget").count() == 0
        stderr = "[data-mime-type='application/vnd.jupyter.stderr']"
        assert page.locator(stderr).count() == 0, page.locator(stderr).all_inner_texts()
        files = sorted((jupyter.root / out).glob("*.mp3"))
        assert len(files) == TEXTS and all(f.stat().st_size > 1000 for f in files), files
    except Exception:
        page.screenshot(path=str(jupyter.base / f"batch-{frontend}.png"), full_page=True)
        print(jupyter.log())
        raise
    finally:
        context.close()
        jupyter.shut_down_kernels()
