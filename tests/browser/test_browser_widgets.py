"""The anywidget views (transcript, player, voice explorer) rendered in headless Chromium from
their ES modules, with a minimal fake model carrying the traits the Python classes sync."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PARAGRAPH, FileServer, hour_transcript, quiet_wav
from long_view import check_long_view

pytestmark = [pytest.mark.browser, pytest.mark.local]


@pytest.fixture(scope="module")
def widget_data(offline_env: Path, site: FileServer) -> dict[str, Any]:
    """Real speech, transcript and catalog from the offline engine, as the widgets get them."""
    from venice_nb.notebook import api, settings
    from venice_nb.notebook.voices import load_catalog

    settings.use(settings.Settings(widgets="always"))
    try:
        speech = api.speak(PARAGRAPH, format="wav")
        transcript = api.transcribe(speech)
        player = speech.widget()
        view = transcript.widget()
        catalog = load_catalog()
    finally:
        settings.use(None)
    root = Path(site.root)
    (root / "speech.mp3").write_bytes(player.audio)
    (root / "transcript.mp3").write_bytes(view.audio)
    return {
        "player": {
            "mime": player.mime,
            "summary": player.summary,
            "badges": player.badges,
            "note": player.note,
            "autoplay": True,
        },
        "transcript": {
            "mime": view.mime,
            "groups": view.groups,
            "summary": view.summary,
            "badges": view.badges,
        },
        "explorer": {
            "voices": catalog.rows(),
            "models": [[m, name] for m, name in catalog.models],
            "model_filter": "",
            "gender_filter": "",
            "language_filter": "",
            "accent_filter": "",
            "query": "",
            "sample_text": "",
            "status": "",
        },
    }


@pytest.fixture
def page(browser: Any, site: FileServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site.url("harness.html"))
    page.wait_for_function("window.harnessReady === true")
    yield page
    assert not errors, errors
    context.close()


def mount(
    page: Any, module: str, css: str, state: dict[str, Any], binaries: dict[str, str]
) -> None:
    page.evaluate(
        "([m, c, s, b]) => window.mount(m, c, s, b)",
        [module, css, json.loads(json.dumps(state)), binaries],
    )


def test_transcript_widget_click_seeks_and_highlight_advances(
    page: Any, widget_data: dict[str, Any]
) -> None:
    mount(
        page,
        "transcript.js",
        "transcript.css",
        widget_data["transcript"],
        {"audio": "transcript.mp3"},
    )
    root = page.locator(".widget-host .vnb-transcript")
    page.wait_for_function("document.querySelector('.vnb-transcript audio').readyState >= 1")
    words = root.locator(".vnb-word")
    n_words = sum(len(g["words"]) for g in widget_data["transcript"]["groups"])
    assert words.count() == n_words
    stamps = root.locator(".vnb-stamp").all_inner_texts()
    assert stamps[0] == "[00:00]" and len(stamps) == len(widget_data["transcript"]["groups"])
    page.evaluate(
        """() => { const a = document.querySelector('.vnb-transcript audio'); window.seeks = [];
        a.addEventListener('seeking', () => window.seeks.push(a.currentTime)); }"""
    )
    target = words.nth(7)
    start = float(target.get_attribute("data-start"))
    target.click()
    page.wait_for_function("window.seeks.length >= 1")
    assert abs(page.evaluate("window.seeks[0]") - start) <= 0.05
    seen = []
    for _ in range(15):
        seen.append(
            page.evaluate("Number(document.querySelector('.vnb-transcript').dataset.active)")
        )
        time.sleep(0.1)
    assert seen[0] >= 7 and seen == sorted(seen) and len(set(seen)) >= 3, seen

    # Python's TranscriptWidget.seek() arrives as a custom message.
    page.evaluate("window.__model.receive({type: 'seek', time: 0.5, play: false})")
    assert (
        abs(page.evaluate("document.querySelector('.vnb-transcript audio').currentTime") - 0.5)
        < 0.05
    )


def test_dialogue_view_names_speakers_seeks_lines_and_autoplays_once(
    page: Any, widget_data: dict[str, Any]
) -> None:
    """A dialogue is the transcript view with a speaker per group: names coloured per speaker
    in order of first appearance, a click on a name seeks to its line, autoplay plays once."""
    groups = [
        {"start": 0.0, "words": [["Did you hear the bell?", 0.0, 1.4]], "speaker": "Ana"},
        {"start": 1.9, "words": [["I did.", 1.9, 2.6]], "speaker": "Ben"},
        {"start": 3.2, "words": [["It rang all night.", 3.2, 4.5]], "speaker": "Ana"},
    ]
    state = {**widget_data["transcript"], "groups": groups, "autoplay": True}
    mount(page, "transcript.js", "transcript.css", state, {"audio": "transcript.mp3"})
    root = page.locator(".widget-host .vnb-transcript")
    page.wait_for_function("!document.querySelector('.vnb-transcript audio').paused")
    assert page.evaluate("window.__model.get('autoplay')") is False  # not again on re-render
    names = root.locator(".vnb-speaker")
    assert names.all_inner_texts() == ["Ana", "Ben", "Ana"]
    assert names.evaluate_all("els => els.map(e => e.className)") == [
        "vnb-speaker vnb-speaker-0",
        "vnb-speaker vnb-speaker-1",
        "vnb-speaker vnb-speaker-0",
    ]
    # the same markup as the HTML fallback: a space after the stamp
    assert root.locator(".vnb-seg").nth(1).inner_text() == "[00:01] Ben: I did."
    page.evaluate(
        """() => { const a = document.querySelector('.vnb-transcript audio'); window.seeks = [];
        a.addEventListener('seeking', () => window.seeks.push(a.currentTime)); }"""
    )
    names.nth(2).click()
    page.wait_for_function("window.seeks.length >= 1")
    assert abs(page.evaluate("window.seeks[0]") - 3.2) <= 0.05


def test_player_widget_autoplays_once_and_shows_badges(
    page: Any, widget_data: dict[str, Any]
) -> None:
    mount(page, "player.js", "player.css", widget_data["player"], {"audio": "speech.mp3"})
    page.wait_for_function("!document.querySelector('.vnb-speech audio').paused")
    assert page.evaluate("window.__model.get('autoplay')") is False  # not again on re-render
    meta = page.locator(".vnb-speech .vnb-meta").inner_text()
    assert "tts-kokoro / af_heart" in meta and "offline engine" in meta
    duration = page.evaluate("document.querySelector('.vnb-speech audio').duration")
    assert duration > 5


def test_voice_explorer_filters_previews_and_copies(page: Any, widget_data: dict[str, Any]) -> None:
    state = widget_data["explorer"]
    total = len(state["voices"])
    started = time.monotonic()
    mount(page, "voice_explorer.js", "voice_explorer.css", state, {})
    render_seconds = time.monotonic() - started
    count = page.locator(".vnb-vx-count")
    assert count.inner_text() == f"{total} of {total} voices"
    assert render_seconds < 2.0  # 200+ rows stay responsive

    page.select_option(".vnb-vx-filter[name=model]", "tts-kokoro")
    page.select_option(".vnb-vx-filter[name=gender]", "male")
    page.select_option(".vnb-vx-filter[name=accent]", "British")
    assert count.inner_text().startswith("4 of ")
    assert page.evaluate("window.__model.get('accent_filter')") == "British"
    visible = page.locator(".vnb-vx-row:not([hidden]) .vnb-vx-label").all_inner_texts()
    assert all(label.startswith("bm_") and "British English, male" in label for label in visible)
    page.fill(".vnb-vx-search", "george")
    assert count.inner_text().startswith("1 of ")

    row = page.locator(".vnb-vx-row:not([hidden])")
    row.locator(".vnb-vx-play").click()
    sent = page.evaluate("window.__model.sent")
    assert sent == [{"type": "preview", "model": "tts-kokoro", "voice": "bm_george"}]
    assert row.locator(".vnb-vx-play").is_disabled()
    # Python answers with the sample as a binary buffer (what VoiceExplorer._preview sends).
    page.evaluate(
        """async () => { const buf = await window.__binary('speech.mp3');
        window.__model.receive({type: 'audio', model: 'tts-kokoro', voice: 'bm_george', mime: 'audio/mpeg', cached: false}, [buf]); }"""
    )
    page.wait_for_function("!document.querySelector('.vnb-vx-player').paused")
    assert not row.locator(".vnb-vx-play").is_disabled()
    row.locator(".vnb-vx-play").click()  # a second click plays the kept clip, no new request
    assert len(page.evaluate("window.__model.sent")) == 1

    row.locator(".vnb-vx-copy").click()
    page.wait_for_function(
        "document.querySelector('.vnb-vx-row:not([hidden]) .vnb-vx-copy').textContent !== 'copy'"
    )
    assert (
        page.evaluate("navigator.clipboard.readText()")
        == "%%venice_speak --model tts-kokoro --voice bm_george"
    )

    page.evaluate("window.__model.set('model_filter', ''); window.__model.set('query', '')")
    assert count.inner_text().startswith(
        f"{len([v for v in state['voices'] if v['gender'] == 'male' and v['accent'] == 'British'])} of "
    )


FIT = """width => {
  const host = document.querySelector('.widget-host');
  host.style.width = `${width}px`;
  const list = host.querySelector('.vnb-vx-list');
  const box = list.getBoundingClientRect();
  const rows = [...list.querySelectorAll('.vnb-vx-row:not([hidden])')];
  const right = (sel) => Math.max(...rows.map((r) => r.querySelector(sel).getBoundingClientRect().right));
  const clipped = rows.filter((r) => { const c = r.querySelector('.vnb-vx-code');
    return c.scrollWidth > c.clientWidth + 1; }).length;
  return { rows: rows.length, listRight: box.right - list.clientLeft, hostRight: host.getBoundingClientRect().right,
    copyRight: right('.vnb-vx-copy'), codeRight: right('.vnb-vx-code'),
    sideways: list.scrollWidth - list.clientWidth, clipped };
}"""


@pytest.mark.parametrize("width", [800, 560])
def test_voice_explorer_fits_the_output_width_copy_buttons_included(
    page: Any, widget_data: dict[str, Any], width: int
) -> None:
    """In an output as wide as JupyterLab's at its default size (800 px) or narrower, every copy
    button lies inside the list's visible box (no sideways scroll needed to reach it), and the
    magic lines wrap instead of being cut."""
    mount(page, "voice_explorer.js", "voice_explorer.css", widget_data["explorer"], {})
    fit = page.evaluate(FIT, width)
    assert fit["rows"] == len(widget_data["explorer"]["voices"]) > 100
    assert fit["copyRight"] <= fit["listRight"] + 0.5 <= fit["hostRight"] + 0.5, fit
    assert fit["sideways"] <= 1 and fit["clipped"] == 0, fit


LIVE_SETUP = """async () => {
  const { FakeModel } = await import('./fake_model.js');
  const live = (await import('./live.js')).default;
  const model = new FakeModel({ stream_id: 'probe', rate: 24000, summary: 'tts-kokoro / af_heart' });
  live.initialize({ model });
  const el = document.createElement('div');
  el.className = 'widget-host';
  document.body.appendChild(el);
  live.render({ model, el });
  // A quiet 440 Hz tone as 16-bit pcm (one second unless told), the way Python sends a chunk.
  window.liveChunk = (samples = 24000) => {
    const view = new DataView(new ArrayBuffer(2 * samples));
    for (let i = 0; i < samples; i += 1)
      view.setInt16(2 * i, Math.round(3000 * Math.sin((2 * Math.PI * 440 * i) / 24000)), true);
    model.receive({ type: 'pcm', seq: 0 }, [view]);
  };
  window.liveModel = model;
  window.liveStream = () => globalThis.__vnbLive.get('probe');
}"""


def test_live_player_plays_chunks_as_they_arrive_and_pauses_and_seeks_over_them(page: Any) -> None:
    page.evaluate(LIVE_SETUP)
    root = ".widget-host .vnb-live-player"
    assert page.get_attribute(root, "data-state") == "waiting"
    page.evaluate("window.liveChunk()")
    page.wait_for_function(f"document.querySelector('{root}').dataset.state === 'playing'")
    assert page.get_attribute(root, "data-scheduled") == "1"
    page.evaluate("window.liveChunk()")  # arrives while playing: scheduled after the first
    page.wait_for_function(f"document.querySelector('{root}').dataset.received === '2'")
    assert page.get_attribute(root, "data-scheduled") == "2"
    page.wait_for_function("window.liveStream().position() > 0.3")
    # Pause holds the position; seeking is bounded by what has arrived (2 s).
    page.click(f"{root} .vnb-live-toggle")
    assert page.get_attribute(root, "data-state") == "paused"
    held = page.evaluate("window.liveStream().position()")
    page.wait_for_timeout(300)
    assert page.evaluate("window.liveStream().position()") == held
    page.evaluate(
        f"""() => {{ const r = document.querySelector('{root} .vnb-live-seek');
        r.value = '1.5'; r.dispatchEvent(new Event('change')); }}"""
    )
    assert abs(page.evaluate("window.liveStream().position()") - 1.5) < 0.01
    assert page.evaluate(f"Number(document.querySelector('{root} .vnb-live-seek').max)") == 2
    page.click(f"{root} .vnb-live-toggle")
    page.wait_for_function("window.liveStream().position() > 1.6")
    # The end of synthesis, then the durable player's take-over: position and state handed on.
    page.evaluate("window.liveModel.receive({type: 'end'})")
    assert "synthesised" in page.inner_text(f"{root} .vnb-meta")
    handed = page.evaluate("window.liveStream().release()")
    assert handed["playing"] is True and 1.6 < handed["position"] <= 2.0
    assert page.evaluate("globalThis.__vnbLive.has('probe')") is False


def test_live_player_gathers_a_tiny_first_chunk_before_playing_then_plays_it_gaplessly(
    page: Any,
) -> None:
    """A first network read of a few milliseconds of audio does not start playback alone (it
    would run dry before the next chunk: a click and a gap); playback starts when a fifth of a
    second has arrived, from the first sample, as one buffer."""
    page.evaluate(LIVE_SETUP)
    # In one task, so that the gathering's timer cannot fire in between.
    seen = page.evaluate(
        """() => {
          const s = window.liveStream();
          const root = document.querySelector('.widget-host .vnb-live-player');
          window.liveChunk(480);  // 20 ms of audio
          const tiny = { playing: s.playing, scheduled: s.scheduled, state: root.dataset.state };
          window.liveChunk();  // the rest of the sentence
          return { tiny, playing: s.playing, scheduled: s.scheduled, from: s.startPos };
        }"""
    )
    assert seen["tiny"] == {"playing": False, "scheduled": 0, "state": "waiting"}
    assert seen["playing"] is True
    assert seen["scheduled"] == 1 and seen["from"] == 0  # one buffer, from the first sample


def test_live_player_starts_a_trickle_that_stays_small_after_a_short_wait(page: Any) -> None:
    """Chunks that stay tiny still play: the gathering waits a moment, not for a fifth of a
    second of audio that may come only much later."""
    page.evaluate(LIVE_SETUP)
    root = ".widget-host .vnb-live-player"
    state = page.evaluate(
        f"() => {{ window.liveChunk(480); return document.querySelector('{root}').dataset.state; }}"
    )
    assert state == "waiting"  # gathering
    page.wait_for_function(
        f"document.querySelector('{root}').dataset.state === 'playing'", timeout=10_000
    )
    assert page.get_attribute(root, "data-scheduled") == "1"


def test_an_hour_long_transcript_widget_plays_its_file_draws_fast_and_follows_smoothly(
    page: Any, site: FileServer
) -> None:
    """The live widget of a one-hour transcript whose audio is not embedded: the view asks the
    kernel for the file's bytes (here the fake model answers), draws 8,800 words in under a
    second and passes every long-view check (long_view.py)."""
    from venice_nb.notebook import settings

    quiet_wav(Path(site.root) / "hour.wav")
    settings.use(settings.Settings(widgets="always"))
    try:
        view = hour_transcript(audio_file="hour.wav").widget()
    finally:
        settings.use(None)
    state = {
        "audio": b"",
        "mime": view.mime,
        "groups": view.groups,
        "gaps": view.gaps,
        "duration": view.duration,
        "summary": view.summary,
        "badges": view.badges,
        "audio_file": view.audio_file,
        "audio_note": view.audio_note,
    }
    page.evaluate(
        "s => window.mount('transcript.js', 'transcript.css', "
        "{...s, audio: new DataView(new ArrayBuffer(0))})",
        json.loads(json.dumps({k: v for k, v in state.items() if k != "audio"})),
    )
    assert page.evaluate("window.__model.sent") == [{"type": "audio"}]
    page.evaluate(
        "async () => window.__model.receive({type: 'audio', mime: 'audio/wav'}, "
        "[await window.__binary('hour.wav')])"
    )
    figures = check_long_view(page, ".widget-host .vnb-transcript")
    print(f"anywidget, one hour: {figures}")
