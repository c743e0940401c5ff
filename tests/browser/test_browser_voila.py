"""A notebook served by Voila (a live kernel, JupyterLab's widget manager, anywidget's front end and
venice_nb's extension installed as the wheel installs it) in headless Chromium. The transcript
(venice_nb's renderer) seeks and highlights; the voice explorer is the live widget, whose preview
makes a round trip to Python and back as a binary message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PARAGRAPH

from testkit.jupyter_env import installed_labextension, voila_server

pytestmark = [pytest.mark.browser, pytest.mark.local, pytest.mark.slow]

# Drawn by venice_nb's renderer (not the HTML fallback); the explorer by its live widget view.
WIDGET_TRANSCRIPT = ".vnb-output .vnb-transcript"
WIDGET_EXPLORER = ".vnb-output .vnb-live .vnb-vx"


@pytest.fixture(scope="module")
def voila_url(offline_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Voila serving a speak / transcribe / voices notebook on 127.0.0.1."""
    pytest.importorskip("voila")
    nbformat = pytest.importorskip("nbformat")
    workdir = tmp_path_factory.mktemp("voila")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(src)
        for src in (
            "%load_ext venice_nb",
            f"%%venice_speak --format wav --var talk\n{PARAGRAPH}",
            "%venice_transcribe talk --var t",
            "%venice_voices --region b",
            "from venice_nb.notebook import VoicePicker\nVoicePicker()",
        )
    ]
    path = workdir / "voila.ipynb"
    nbformat.write(nb, path)
    try:
        installed_labextension()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    with voila_server(path, workdir) as url:
        yield url


@pytest.fixture(scope="module")
def voila_page(browser: Any, voila_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.goto(voila_url, wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector(f"{WIDGET_TRANSCRIPT}[data-wired='1']", timeout=180_000)
    page.wait_for_selector(WIDGET_EXPLORER, timeout=60_000)
    yield page
    context.close()


def test_transcript_widget_in_voila_seeks_and_highlights(voila_page: Any) -> None:
    page = voila_page
    page.wait_for_function(f"document.querySelector('{WIDGET_TRANSCRIPT} audio').readyState >= 1")
    page.evaluate(
        """sel => { const a = document.querySelector(sel + ' audio'); window.seeks = [];
        a.addEventListener('seeking', () => window.seeks.push(a.currentTime)); }""",
        WIDGET_TRANSCRIPT,
    )
    words = page.locator(f"{WIDGET_TRANSCRIPT} .vnb-word")
    assert words.count() >= 20
    word = words.nth(9)
    start = float(word.get_attribute("data-start"))
    word.click()
    page.wait_for_function("window.seeks.length >= 1")
    assert abs(page.evaluate("window.seeks[0]") - start) <= 0.05
    seen = []
    for _ in range(15):
        seen.append(
            page.evaluate(
                "sel => Number(document.querySelector(sel).dataset.active)", WIDGET_TRANSCRIPT
            )
        )
        time.sleep(0.1)
    assert seen[0] >= 9 and seen == sorted(seen) and len(set(seen)) >= 3, seen
    page.evaluate("sel => document.querySelector(sel + ' audio').pause()", WIDGET_TRANSCRIPT)


def test_voice_explorer_preview_round_trip_in_voila(voila_page: Any) -> None:
    page = voila_page
    explorer = page.locator(WIDGET_EXPLORER)
    assert explorer.locator(".vnb-vx-count").inner_text().startswith("7 of ")
    row = explorer.locator(".vnb-vx-row:not([hidden])", has_text="bf_emma")
    row.locator(".vnb-vx-play").click()
    page.wait_for_function(
        """sel => { const p = document.querySelector(sel + ' .vnb-vx-player');
        return p.src.startsWith('blob:') && !p.paused; }""",
        arg=WIDGET_EXPLORER,
        timeout=60_000,
    )
    status = explorer.locator(".vnb-vx-status")
    page.wait_for_function(
        "sel => document.querySelector(sel + ' .vnb-vx-status').textContent.includes('bf_emma:')",
        arg=WIDGET_EXPLORER,
    )
    assert "tts-kokoro / bf_emma:" in status.inner_text()


def test_voice_picker_in_voila_follows_the_model(voila_page: Any) -> None:
    page = voila_page

    def dropdown(label: str) -> Any:
        return page.locator(
            ".widget-dropdown", has=page.locator(f"label:text-is('{label}')")
        ).locator("select")

    def labels(select: Any) -> list[str]:
        return [t.replace("\xa0", " ") for t in select.locator("option").all_inner_texts()]

    voice = dropdown("Voice")
    voice.wait_for(timeout=30_000)
    assert "af_heart: American English, female" in labels(voice)
    models = labels(dropdown("Model"))
    dropdown("Model").select_option(
        index=next(i for i, m in enumerate(models) if "(tts-xai-v1)" in m)
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-dropdown select')].some("
        "s => [...s.options].some(o => o.value === 'ara' || o.textContent.startsWith('ara')))"
    )
    options = labels(voice)
    assert options and not any(o.startswith("af_") for o in options)
    dropdown("Gender").select_option(index=labels(dropdown("Gender")).index("female"))
    page.wait_for_function(
        "n => [...document.querySelectorAll('.widget-dropdown select')].some("
        "s => s.options.length > 0 && s.options.length < n && "
        "[...s.options].every(o => o.textContent.includes('female')))",
        arg=len(options),
    )
    female = labels(voice)
    assert female and len(female) < len(options)
    assert all("female" in o for o in female)
