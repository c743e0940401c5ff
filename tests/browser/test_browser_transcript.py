"""An executed notebook, rendered to HTML by nbconvert, in headless Chromium: clicking a word seeks
the player to that word's start, the highlighted word advances during playback, a dialogue's
speaker names seek to their lines, and without JavaScript the words, names and stamps still
show."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    PARAGRAPH,
    REPO,
    FileServer,
    execute_notebook,
    hour_transcript,
    quiet_wav,
    to_html,
)
from long_view import check_long_view

pytestmark = [pytest.mark.browser, pytest.mark.local, pytest.mark.slow]

SCREENSHOT = REPO / "docs" / "img" / "transcript.png"
TRANSCRIPT = ".vnb-transcript:not(:has(.vnb-speaker))"
DIALOGUE = ".vnb-transcript:has(.vnb-speaker)"


@pytest.fixture(scope="module")
def notebook_page(offline_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an executed speak-then-transcribe notebook rendered to HTML."""
    workdir = tmp_path_factory.mktemp("nb")
    nb = execute_notebook(
        [
            "%load_ext venice_nb",
            f"%%venice_speak --format wav --var talk\n{PARAGRAPH}",
            "%venice_transcribe talk --var t",
            '%%venice_speak --cast "Ana=af_heart,Ben=bm_george"\n'
            "Ana: Is the library open?\nBen: Since nine this morning.",
        ],
        workdir,
    )
    (workdir / "talk.html").write_text(to_html(nb), encoding="utf-8")
    server = FileServer(workdir)
    yield server.url("talk.html")
    server.close()


def _open(browser: Any, url: str, **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    page.goto(url, wait_until="domcontentloaded")
    return page


def test_clicking_a_word_seeks_to_its_start(browser: Any, notebook_page: str) -> None:
    page = _open(browser, notebook_page)
    page.wait_for_selector(f"{TRANSCRIPT}[data-wired='1']", timeout=15_000)
    page.wait_for_function(f"document.querySelector('{TRANSCRIPT} audio').readyState >= 1")
    page.evaluate(
        """sel => { const a = document.querySelector(sel + ' audio'); window.seeks = [];
        a.addEventListener('seeking', () => window.seeks.push(a.currentTime)); }""",
        TRANSCRIPT,
    )
    words = page.locator(f"{TRANSCRIPT} .vnb-word")
    assert words.count() >= 20
    for index in (3, 11, words.count() - 2):
        word = words.nth(index)
        start = float(word.get_attribute("data-start"))
        word.click()
        page.wait_for_function("n => window.seeks.length >= n", arg=1)
        seek = page.evaluate("window.seeks.pop()")
        assert abs(seek - start) <= 0.05, (index, start, seek)
        assert page.evaluate(f"!document.querySelector('{TRANSCRIPT} audio').paused")
    page.context.close()


def test_the_keyboard_reaches_and_plays_every_word(browser: Any, notebook_page: str) -> None:
    """Tab reaches the transcript once (its first stamp), End goes to the last word, Enter
    plays from it; arrows step back word by word."""
    page = _open(browser, notebook_page)
    page.wait_for_selector(f"{TRANSCRIPT}[data-wired='1']", timeout=15_000)
    page.wait_for_function(f"document.querySelector('{TRANSCRIPT} audio').readyState >= 1")
    focused = "() => document.activeElement.className + ' ' + document.activeElement.textContent"
    page.locator(f"{TRANSCRIPT} audio").focus()
    for _ in range(10):  # past the player's own controls to the transcript
        page.keyboard.press("Tab")
        if "vnb-stamp" in page.evaluate(focused):
            break
    assert page.evaluate(focused).startswith("vnb-stamp [00:00]"), page.evaluate(focused)
    page.keyboard.press("End")
    last = page.locator(f"{TRANSCRIPT} .vnb-word").last
    assert page.evaluate("() => document.activeElement.dataset.start") == last.get_attribute(
        "data-start"
    )
    page.keyboard.press("ArrowLeft")
    one_before = page.locator(f"{TRANSCRIPT} .vnb-word").nth(-2)
    start = float(one_before.get_attribute("data-start"))
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"s => !document.querySelector('{TRANSCRIPT} audio').paused", arg=None, timeout=15_000
    )
    now = page.evaluate(f"document.querySelector('{TRANSCRIPT} audio').currentTime")
    assert start - 0.05 <= now <= start + 2.0, (start, now)
    page.context.close()


def test_highlight_follows_playback(browser: Any, notebook_page: str) -> None:
    page = _open(browser, notebook_page, viewport={"width": 900, "height": 420})
    page.wait_for_selector(f"{TRANSCRIPT}[data-wired='1']", timeout=15_000)
    page.locator(f"{TRANSCRIPT} .vnb-word").first.click()
    samples: list[tuple[int, float, float]] = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        samples.append(
            tuple(
                page.evaluate(
                    """sel => { const r = document.querySelector(sel); const a = r.querySelector('audio');
                    const i = Number(r.dataset.active);
                    const w = r.querySelectorAll('.vnb-word')[i];
                    return [i, a.currentTime, w ? Number(w.dataset.start) : -1]; }""",
                    TRANSCRIPT,
                )
            )
        )
        time.sleep(0.1)
    active = [i for i, _, _ in samples if i >= 0]
    assert len(set(active)) >= 4, samples
    assert active == sorted(active), samples  # it only moves forward while playing
    for _i, now, start in samples:
        assert start <= now + 0.05  # the highlighted word has begun
    assert page.locator(f"{TRANSCRIPT} .vnb-word.vnb-active").count() == 1
    if os.environ.get("VENICE_NB_UPDATE_SCREENSHOT") or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.mouse.move(0, 0)
        page.evaluate(
            "sel => Object.assign(document.querySelector(sel).style, "
            "{padding: '12px', background: '#fff'})",
            TRANSCRIPT,
        )
        page.locator(TRANSCRIPT).screenshot(path=str(SCREENSHOT))
    page.context.close()


def test_without_javascript_the_text_and_stamps_still_show(
    browser: Any, notebook_page: str
) -> None:
    page = _open(browser, notebook_page, java_script_enabled=False)
    root = page.locator(TRANSCRIPT)
    assert root.get_attribute("data-wired") is None
    text = root.inner_text()
    assert "[00:00]" in text and "library" in text.lower()
    assert root.locator(".vnb-word").count() >= 20
    # the speech player, the transcript's and the dialogue's
    assert page.locator("audio[controls]").count() == 3
    dialogue = page.locator(DIALOGUE).inner_text()
    assert re.search(r"\[00:00\] Ana: Is the library open\?\s+\[00:0\d\] Ben: Since nine", dialogue)
    page.context.close()


def test_a_dialogue_speaker_name_seeks_to_its_line(browser: Any, notebook_page: str) -> None:
    page = _open(browser, notebook_page)
    page.wait_for_selector(f"{DIALOGUE}[data-wired='1']", timeout=15_000)
    page.wait_for_function(f"document.querySelector('{DIALOGUE} audio').readyState >= 1")
    page.evaluate(
        """sel => { const a = document.querySelector(sel + ' audio'); window.seeks = [];
        a.addEventListener('seeking', () => window.seeks.push(a.currentTime)); }""",
        DIALOGUE,
    )
    ben = page.locator(f"{DIALOGUE} .vnb-speaker").nth(1)
    assert ben.inner_text() == "Ben"
    start = float(ben.get_attribute("data-start"))
    assert start > 1.0
    ben.click()
    page.wait_for_function("window.seeks.length >= 1")
    assert abs(page.evaluate("window.seeks[0]") - start) <= 0.05
    page.context.close()


def test_an_hour_long_transcript_page_plays_the_file_beside_it(
    browser: Any, tmp_path: Path
) -> None:
    """nbconvert's page of a notebook holding a one-hour transcript whose audio is not embedded:
    the player's relative src finds the recording beside the page, and search, timeline, gap
    line and following all work (long_view.py); the page stays small."""
    nbformat = pytest.importorskip("nbformat")
    quiet_wav(tmp_path / "hour.wav")
    bundle = hour_transcript(audio_file="hour.wav")._repr_mimebundle_()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("t")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    nb.cells = [cell]
    page_html = to_html(nb)
    assert len(page_html) < 3_000_000 and "data:audio/" not in page_html
    (tmp_path / "hour.html").write_text(page_html, encoding="utf-8")
    server = FileServer(tmp_path)
    page = _open(browser, server.url("hour.html"), viewport={"width": 1000, "height": 800})
    try:
        figures = check_long_view(page, ".vnb-transcript", max_draw_ms=None)
        print(f"HTML fallback, one hour: {figures}")
    finally:
        page.context.close()
        server.close()


def test_a_video_file_beside_the_page_plays_in_the_transcripts_player(
    browser: Any, tmp_path: Path
) -> None:
    """Long recordings are often screen recordings: an mp4 (H.264 video, AAC sound) named as the
    transcript's audio_file plays its sound in the view's <audio> element; once the file is gone,
    the view says to put it back beside the notebook."""
    av = pytest.importorskip("av")
    np = pytest.importorskip("numpy")
    with av.open(str(tmp_path / "clip.mp4"), "w") as out:
        video = out.add_stream("h264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        sound = out.add_stream("aac", rate=16000)
        sound.layout = "mono"
        for i in range(20):
            image = np.full((64, 64, 3), i * 10, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode())
        tone = (0.3 * np.sin(np.arange(32000) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        for k in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(
                tone[None, k : k + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate = 16000
            out.mux(sound.encode(frame))
        out.mux(sound.encode())
    from venice_nb.notebook.transcript import Transcript, Word

    t = Transcript("A tone.", [Word("A", 0.0, 0.5), Word("tone.", 0.5, 1.5)], audio_file="clip.mp4")
    (tmp_path / "clip.html").write_text(
        f"<!doctype html><meta charset='utf-8'><body>{t._repr_html_()}</body>", encoding="utf-8"
    )
    server = FileServer(tmp_path)
    page = _open(browser, server.url("clip.html"))
    try:
        page.wait_for_selector(".vnb-transcript[data-wired='1']", timeout=15_000)
        page.locator(".vnb-word").nth(1).click()
        page.wait_for_function(
            "document.querySelector('.vnb-transcript audio').currentTime > 0.8", timeout=15_000
        )
        assert page.evaluate("document.querySelector('.vnb-transcript audio').duration") > 1.5
        assert page.locator(".vnb-note").count() == 0
        # Moved away from its recording, the view says what to do instead of staying silent.
        (tmp_path / "clip.mp4").rename(tmp_path / "elsewhere.mp4")
        page.reload()
        note = page.locator(".vnb-transcript .vnb-note")
        note.wait_for(timeout=15_000)
        assert "put clip.mp4 beside this notebook" in note.inner_text()
    finally:
        page.context.close()
        server.close()
