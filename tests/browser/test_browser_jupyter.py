"""Outputs that outlive the kernel, in the real frontends: JupyterLab 4 and Notebook 7 in headless
Chromium. Each frontend runs a notebook live, saves it, loses its kernel and reopens it; then a
copy is opened untrusted. Every time, the player loads audio, a clicked word seeks to its start,
the highlight follows playback, a dialogue's speaker names and lines seek to their line, and the
voice controls show their voices, never "model not found". Waits are for the events checked,
with generous bounds, not fixed sleeps."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PARAGRAPH, hour_transcript, quiet_wav
from long_view import check_long_view

from testkit.jupyter_env import JupyterServer, running_jupyter

pytestmark = [pytest.mark.browser, pytest.mark.local, pytest.mark.slow]

MIME = "application/vnd.venice-nb.v1+json"
SPEECH = ".vnb-output .vnb-speech"
TRANSCRIPT = ".vnb-output .vnb-transcript"
EXPLORER = ".vnb-output .vnb-vx"
DIALOGUE = ".vnb-output .vnb-transcript:has(.vnb-speaker)"
PICKED = "%%venice_speak --model tts-kokoro --voice af_heart"
SCRIPT = [
    ("Ana", "Did you hear the lighthouse bell last night?"),
    ("Ben", "I did. It rang until half past two."),
    ("Ana", "Then the keeper was awake all night."),
]
CELLS = [
    "%load_ext venice_nb",
    f"%%venice_speak --var talk\n{PARAGRAPH}",
    "%venice_transcribe talk --var t",
    '%%venice_speak --cast "Ana=af_heart,Ben=bm_george" --var d\n'
    + "\n".join(f"{name}: {text}" for name, text in SCRIPT),
    "%venice_voices --region b",
    "from venice_nb.notebook import VoicePicker\nVoicePicker(voice='af_heart')",
]
LONG_WAIT = 240_000


@pytest.fixture(scope="module")
def jupyter(offline_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    with running_jupyter(tmp_path_factory.mktemp("jupyter")) as server:
        yield server


def _menu(page: Any, menu: str, item: str) -> None:
    """Click menu > item; ``item`` is a regular expression for the entry's whole label."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).first.click()
    entry = page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel")
    entry.filter(has_text=re.compile(f"^{item}$")).first.click()


def _wait_kernel_idle(server: JupyterServer) -> None:
    deadline = time.monotonic() + 120
    while not any(k.get("execution_state") == "idle" for k in server.kernels()):
        assert time.monotonic() < deadline, "the notebook's kernel did not start"
        time.sleep(0.5)


def _saved_outputs(path: Path) -> list[dict[str, Any]]:
    """The outputs in the saved file; none while Jupyter is still writing it."""
    try:
        nb = json.loads(path.read_text())
    except ValueError:
        return []
    return [o for cell in nb["cells"] for o in cell.get("outputs", [])]


def _check_keyboard(page: Any) -> None:
    """The transcript's text is one Tab stop; arrow keys move between words without reaching the
    notebook's shortcuts (ArrowDown would select the next cell); Enter plays from the word."""
    root = page.locator(f"{TRANSCRIPT}:visible").first
    state = """root => {
        const targets = [...root.querySelectorAll('.vnb-stamp, .vnb-speaker, .vnb-word')];
        const cells = [...root.closest('.jp-Notebook').querySelectorAll('.jp-Cell')];
        return {stops: root.querySelector('.vnb-text').querySelectorAll('[tabindex="0"]').length,
                focused: targets.indexOf(document.activeElement),
                start: Number(document.activeElement.dataset.start),
                cell: cells.findIndex(c => c.classList.contains('jp-mod-active'))}; }"""
    root.evaluate(
        """root => { const a = root.querySelector('audio'); window.vnbKeySeeks = [];
        a.addEventListener('seeking', () => window.vnbKeySeeks.push(a.currentTime)); }"""
    )
    root.locator(".vnb-word").nth(9).focus()
    before = root.evaluate(state)
    assert before["stops"] == 1 and before["focused"] >= 9, before
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    after = root.evaluate(state)
    assert after["focused"] == before["focused"] + 2 and after["stops"] == 1, (before, after)
    assert after["cell"] == before["cell"], (before, after)  # the keys stayed in the transcript
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.vnbKeySeeks.length >= 1", timeout=30_000)
    seek = page.evaluate("window.vnbKeySeeks[0]")
    assert abs(seek - after["start"]) <= 0.05, (seek, after)
    root.evaluate("root => root.querySelector('audio').pause()")


COPY_OUTSIDE = """root => {
  const area = root.closest('.jp-OutputArea-output') || root.parentElement;
  const list = root.querySelector('.vnb-vx-list');
  const right = Math.min(area.getBoundingClientRect().right, list.getBoundingClientRect().right);
  return [...root.querySelectorAll('.vnb-vx-row:not([hidden]) .vnb-vx-copy')]
    .map((b) => b.getBoundingClientRect().right).filter((r) => r > right + 0.5);
}"""
"""Right edges of the explorer's copy buttons that lie past its output area or its list."""


def _check_outputs(page: Any, *, live: bool) -> None:
    """Every venice_nb output works: player, transcript (seek, highlight), explorer, picker."""
    page.wait_for_selector(f"{TRANSCRIPT}[data-wired='1'] .vnb-word:visible", timeout=LONG_WAIT)
    page.wait_for_selector(f"{EXPLORER} .vnb-vx-row:not([hidden]):visible", timeout=LONG_WAIT)
    page.wait_for_selector(f"{SPEECH} audio:visible", timeout=LONG_WAIT)
    assert page.locator("text=model not found").count() == 0
    assert page.locator("text=Error displaying widget").count() == 0
    assert page.locator("text=Loading widget").locator("visible=true").count() == 0

    # The player loads its audio; its label gives the duration the browser measures.
    page.wait_for_function(
        "sel => { const a = document.querySelector(sel + ' audio'); return a && a.duration > 0; }",
        arg=SPEECH,
        timeout=60_000,
    )
    duration = page.evaluate("sel => document.querySelector(sel + ' audio').duration", SPEECH)
    label = page.locator(f"{SPEECH} .vnb-meta").first.inner_text()
    shown = float(re.search(r"(\d+\.\d) s", label).group(1))
    # The label is the server's duration rounded to 0.1 s (up to 0.05 off); the browser's is
    # the decoded mp3's, which may differ by up to one mp3 frame (1152 samples at 24 kHz,
    # 0.048 s): 7.752 measured against "7.7 s" on one run.
    assert abs(shown - duration) <= 0.05 + 0.05, (label, duration)

    # A clicked word seeks to its start; the highlight then follows playback. (Only the visible
    # transcript counts: a reopened notebook can leave the earlier tab's outputs in the page.)
    transcript = page.locator(f"{TRANSCRIPT}:visible").first
    page.wait_for_function(
        "root => root.querySelector('audio').readyState >= 1",
        arg=transcript.element_handle(),
    )
    transcript.evaluate(
        """root => { const a = root.querySelector('audio');
        window.vnbSeeks = []; window.vnbActive = [];
        a.addEventListener('seeking', () => window.vnbSeeks.push(a.currentTime));
        new MutationObserver(() => window.vnbActive.push(Number(root.dataset.active)))
          .observe(root, {attributes: true, attributeFilter: ['data-active']}); }"""
    )
    words = transcript.locator(".vnb-word")
    assert words.count() >= 20
    word = words.nth(9)
    start = float(word.get_attribute("data-start"))
    word.click()
    page.wait_for_function("() => window.vnbSeeks.length >= 1", timeout=30_000)
    error = abs(page.evaluate("window.vnbSeeks[0]") - start)
    print(f"seek error {error:.4f} s (word starts at {start:.3f} s)")
    assert error <= 0.05
    page.wait_for_function(
        "() => new Set(window.vnbActive.filter(i => i > 9)).size >= 2", timeout=120_000
    )
    seen = page.evaluate("window.vnbActive")
    assert seen[0] >= 9 and seen == sorted(seen), seen
    transcript.evaluate("root => root.querySelector('audio').pause()")
    _check_keyboard(page)

    _check_dialogue(page)

    # The explorer lists its voices (filters work without a kernel), model ids shown whole.
    explorer = page.locator(f"{EXPLORER}:visible").first
    assert explorer.locator(".vnb-vx-count").inner_text().startswith("7 of ")
    code = explorer.locator(".vnb-vx-row:not([hidden]) .vnb-vx-code").first
    assert code.evaluate("c => c.scrollWidth <= c.clientWidth + 1")
    if live:
        page.wait_for_selector(".widget-dropdown select", timeout=60_000)
    else:
        explorer.locator(".vnb-vx-row:not([hidden]) .vnb-vx-play").first.click()
        assert "run the cell" in explorer.locator(".vnb-vx-status").inner_text().lower()
        # The picker's static view: its voices and the copyable magic line.
        picker = page.locator(f"{EXPLORER}:visible").nth(1)
        assert PICKED in picker.locator(".vnb-vx-status").inner_text()
        assert picker.locator(".vnb-vx-selected .vnb-vx-code").inner_text() == PICKED
        # Every voice of every model shown (the saved file keeps its filters): at the default
        # width each copy button still lies inside the output area, none cut off at its edge.
        explorer.locator(".vnb-vx-filter[name=language]").select_option("")
        explorer.locator(".vnb-vx-filter[name=accent]").select_option("")
        assert explorer.locator(".vnb-vx-count").inner_text().split()[0] == str(
            explorer.locator(".vnb-vx-row").count()
        )
        outside = explorer.evaluate(COPY_OUTSIDE)
        assert outside == [], f"{len(outside)} copy buttons cut off: {outside[:3]}"


def _check_dialogue(page: Any) -> None:
    """The dialogue: one player, the script with each speaker's name; clicking a name or a line
    seeks the player to that line's start. (A reopened notebook can leave the earlier tab's
    outputs in the page, hidden: only the visible dialogue counts.)"""
    page.wait_for_selector(f"{DIALOGUE}[data-wired='1'] .vnb-speaker:visible", timeout=LONG_WAIT)
    root = page.locator(f"{DIALOGUE}:visible").first
    assert root.locator("audio").count() == 1
    assert root.locator(".vnb-speaker").all_inner_texts() == [name for name, _ in SCRIPT]
    assert root.locator(".vnb-word").all_inner_texts() == [text for _, text in SCRIPT]
    assert "3 lines · 2 speakers" in root.locator(".vnb-meta").inner_text()
    root.evaluate(
        """r => { const a = r.querySelector('audio'); window.vnbLineSeeks = [];
        a.addEventListener('seeking', () => window.vnbLineSeeks.push(a.currentTime)); }"""
    )
    page.wait_for_function(
        "r => r.querySelector('audio').readyState >= 1", arg=root.element_handle(), timeout=60_000
    )
    names = root.locator(".vnb-speaker")
    starts = [float(s) for s in names.evaluate_all("els => els.map(e => e.dataset.start)")]
    assert starts[0] < starts[1] < starts[2]
    for n, target in enumerate([names.nth(1), root.locator(".vnb-word").nth(2)]):
        target.click()
        page.wait_for_function("n => window.vnbLineSeeks.length > n", arg=n, timeout=30_000)
        seek = page.evaluate("n => window.vnbLineSeeks[n]", n)
        assert abs(seek - starts[n + 1]) <= 0.05, (seek, starts)
    root.evaluate("r => r.querySelector('audio').pause()")


@pytest.mark.parametrize("frontend", ["lab", "notebook"])
def test_outputs_survive_save_shutdown_reopen_and_untrusted(
    browser: Any, jupyter: JupyterServer, frontend: str
) -> None:
    name = f"durable-{frontend}.ipynb"
    path = jupyter.write_notebook(name, CELLS)
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    try:
        # Live: run every cell.
        page.goto(jupyter.url(frontend, name), wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_function(
            "() => document.querySelectorAll('.jp-Notebook .jp-Cell').length >= 6"
        )
        _wait_kernel_idle(jupyter)
        page.locator(".jp-Notebook .jp-Cell").first.click()
        _menu(page, "Run", "Run All Cells")
        page.wait_for_selector(".jp-Notebook .jp-InputPrompt:has-text('[1]')", timeout=60_000)
        _check_outputs(page, live=True)

        # Save; the file holds venice_nb's mimetype with the audio once, in text/html.
        _menu(page, "File", "Save( Notebook)?")
        deadline = time.monotonic() + 60
        while not any(MIME in o.get("data", {}) for o in _saved_outputs(path)):
            assert time.monotonic() < deadline, "the notebook was not saved"
            time.sleep(0.5)
        outputs = [o for o in _saved_outputs(path) if MIME in o.get("data", {})]
        assert len(outputs) == 5
        assert [o["data"][MIME]["kind"] for o in outputs] == [
            "speech",
            "transcript",
            "transcript",
            "voices",
            "voices",
        ]
        speakers = [g.get("speaker") for g in outputs[2]["data"][MIME]["groups"]]
        assert speakers == [name for name, _ in SCRIPT]
        for o in outputs[:3]:
            assert "data:audio/" not in json.dumps(o["data"][MIME])
            assert "".join(o["data"]["text/html"]).count("data:audio/") == 1

        # Kernel gone, page reopened: every output still works, from the saved file.
        jupyter.shut_down_kernels()
        page.close()
        page = context.new_page()
        page.goto(jupyter.url(frontend, name), wait_until="domcontentloaded", timeout=120_000)
        _check_outputs(page, live=False)

        # Someone else's copy: untrusted. Same outputs, same behaviour.
        nb = json.loads(path.read_text())
        nb["metadata"]["venice_nb_test"] = "opened by someone else"
        other = f"untrusted-{frontend}.ipynb"
        (jupyter.root / other).write_text(json.dumps(nb))
        page.close()
        page = context.new_page()
        # A fresh JupyterLab workspace: the restored tab of the first copy, hidden behind this
        # one, would otherwise hold the first outputs in the page (as in test_browser_batch).
        fresh = jupyter.url(frontend, other) + ("&reset" if frontend == "lab" else "")
        page.goto(fresh, wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        _check_outputs(page, live=False)
        page.screenshot(path=str(jupyter.base / f"untrusted-{frontend}.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(jupyter.base / f"failure-{frontend}.png"), full_page=True)
        print(jupyter.log())
        raise
    finally:
        context.close()
        jupyter.shut_down_kernels()


@pytest.mark.parametrize(("frontend", "trusted"), [("lab", True), ("notebook", False)])
def test_an_hour_long_transcript_draws_fast_and_plays_the_file_beside_the_notebook(
    browser: Any, jupyter: JupyterServer, frontend: str, trusted: bool
) -> None:
    """A saved notebook in a subfolder holds a one-hour transcript whose audio was not embedded;
    the recording lies beside it. Opened without a kernel (trusted in JupyterLab, untrusted in
    Notebook 7), the view plays it through Jupyter's file server, draws in under a second and
    passes every long-view check (long_view.py: search, timeline, gap, following with no task
    over 50 ms)."""
    import nbformat

    folder = jupyter.root / f"talks-{frontend}"
    folder.mkdir()
    quiet_wav(folder / "hour.wav")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = nbformat.read(
        jupyter.write_notebook(f"spec-{frontend}.ipynb", []), as_version=4
    ).metadata["kernelspec"]  # the tests' kernel: no "select a kernel" dialog over the page
    cell = nbformat.v4.new_code_cell("t")
    bundle = hour_transcript(audio_file="hour.wav")._repr_mimebundle_()
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    nb.cells = [cell]
    path = folder / "hour.ipynb"
    nbformat.write(nb, path)
    assert path.stat().st_size < 2_000_000  # the text and timestamps, not the audio
    if trusted:
        subprocess.run(
            [sys.executable, "-m", "jupyter", "trust", str(path)],
            env=jupyter.env,
            check=True,
            capture_output=True,
        )
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    try:
        url = jupyter.url(frontend, f"{folder.name}/hour.ipynb")
        page.goto(url + ("&reset" if frontend == "lab" else ""), wait_until="domcontentloaded")
        hour = f"{TRANSCRIPT}[data-audio-file='hour.wav']"
        page.wait_for_selector(f"{hour}[data-wired='1']", timeout=LONG_WAIT)
        src = page.locator(f"{hour} audio").get_attribute("src") or ""
        assert f"/files/{folder.name}/hour.wav" in src, src
        figures = check_long_view(page, hour)
        print(f"{frontend}, one hour, {'trusted' if trusted else 'untrusted'}: {figures}")
    except Exception:
        page.screenshot(path=str(jupyter.base / f"failure-hour-{frontend}.png"), full_page=True)
        print(jupyter.log())
        raise
    finally:
        context.close()
        jupyter.shut_down_kernels()
