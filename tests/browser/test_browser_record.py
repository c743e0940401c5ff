"""%venice_record in JupyterLab 4 and Notebook 7, in headless Chromium with a fake microphone fed
from a WAV of known speech (spoken by the offline engine): the recorder records, stops by itself,
the transcript view appears with the words of the file (WER at most 15 %), the variable holds the
Recording, and the saved notebook keeps recording and transcript. With the microphone denied, with
no capture device, or on a page that is not a secure context, the output says so in one line and
the variable stays unset. Waits are for the events checked, with generous bounds."""

from __future__ import annotations

import json
import re
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser_jupyter import MIME, _menu, _saved_outputs, _wait_kernel_idle

from testkit.chromium import CHROMIUM, CHROMIUM_ARGS
from testkit.jupyter_env import JupyterServer, running_jupyter, voila_server

pytestmark = [pytest.mark.browser, pytest.mark.local, pytest.mark.slow]

SPOKEN = (
    "The library opens at nine in the morning. Students arrive early to find a quiet table "
    "near the window."
)
LONG_WAIT = 240_000
RECORDER = ".vnb-output .vnb-recorder:visible"
INSECURE_HOST = "vnb-insecure.test"
"""Another name for 127.0.0.1, which Chromium resolves there: over http it is not a secure
context (only localhost and 127.0.0.1 are)."""


@pytest.fixture(scope="module")
def speech_wav(offline_env: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """SPOKEN as a 48 kHz 16-bit WAV (what Chromium's fake capture reads) and its seconds."""
    from venice_nb.notebook import api
    from venice_nb.notebook.embed import _decode_s16

    speech = api.speak(SPOKEN, format="wav", progress=False)
    samples, rate = _decode_s16(speech.data, "wav", None, 48_000)
    path = tmp_path_factory.mktemp("mic") / "speech.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples)
    return path, len(samples) / 2 / rate


def _launch(extra: list[str]) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + extra)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def jupyter(offline_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    # Also answers as INSECURE_HOST (a name Jupyter would otherwise refuse as non-local).
    hostnames = [f"--ServerApp.local_hostnames={h}" for h in ("localhost", INSECURE_HOST)]
    with running_jupyter(tmp_path_factory.mktemp("jupyter-rec"), hostnames) as server:
        yield server


def _fake_mic(wav: Path | None = None, *, loop: bool = False) -> list[str]:
    """Chromium flags for an allowed fake microphone, fed from ``wav`` (once unless ``loop``)."""
    flags = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    if wav is not None:
        flags.append(f"--use-file-for-fake-audio-capture={wav}{'' if loop else '%noloop'}")
    return flags


def _press_record(page: Any, recorder: str = RECORDER) -> None:
    """Wait for the recorder to be ready and press Record."""
    page.wait_for_selector(f"{recorder}[data-state='idle']", timeout=LONG_WAIT)
    page.locator(f"{recorder} .vnb-rec-record").click()


def _open_and_run_all(
    page: Any, server: JupyterServer, frontend: str, name: str, host: str = "127.0.0.1"
) -> None:
    url = server.url(frontend, name, host) + ("&reset" if frontend == "lab" else "")  # no old tabs
    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell:visible", timeout=120_000)
    _wait_kernel_idle(server)
    page.locator(".jp-Notebook .jp-Cell:visible").first.click()
    _menu(page, "Run", "Run All Cells")


@pytest.mark.parametrize("frontend", ["lab", "notebook"])
def test_record_from_the_microphone_into_a_transcript(
    jupyter: JupyterServer, speech_wav: tuple[Path, float], frontend: str
) -> None:
    from testkit.quality import word_error_rate

    wav, seconds = speech_wav
    limit = round(seconds + 1.5, 1)
    name = f"record-{frontend}.ipynb"
    path = jupyter.write_notebook(
        name,
        [
            "%load_ext venice_nb",
            f"%venice_record --seconds {limit} --transcribe --var rec",
            "print(type(rec).__name__, round(rec.duration, 1))",
        ],
    )
    flags = _fake_mic(wav)
    for browser in _launch(flags):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        try:
            _open_and_run_all(page, jupyter, frontend, name)
            _press_record(page)
            page.wait_for_selector(f"{RECORDER}[data-state='recording']", timeout=60_000)
            # The level meter moves while the file's speech plays into the microphone.
            page.wait_for_function(
                "() => Number(document.querySelector('.vnb-live .vnb-recorder').dataset.peak) > 0.05",
                timeout=60_000,
            )
            # It stops by itself; the transcript replaces the recorder.
            transcript = ".vnb-output .vnb-transcript[data-wired='1'] .vnb-word"
            page.wait_for_selector(transcript, timeout=LONG_WAIT)
            heard = " ".join(page.locator(transcript).all_inner_texts())
            wer = word_error_rate(SPOKEN, heard)
            print(f"{frontend}: WER {wer:.3f}: {heard!r}")
            assert wer <= 0.15, heard
            page.wait_for_function(
                "() => { const a = document.querySelector('.vnb-output .vnb-transcript audio');"
                " return a && a.duration > 0; }",
                timeout=60_000,
            )
            # The variable holds the Recording: run the last cell again.
            last = page.locator(".jp-Notebook .jp-Cell:visible").nth(2)
            last.click()
            page.keyboard.press("Shift+Enter")
            page.wait_for_selector("text=/Recording \\d+\\.\\d/", timeout=60_000)
            text = last.inner_text()
            duration = float(re.search(r"Recording (\d+\.\d)", text).group(1))
            assert abs(duration - limit) < 1.0, (duration, limit)

            # Saved: the transcript (words and audio) is in the file, durable.
            _menu(page, "File", "Save( Notebook)?")
            deadline = time.monotonic() + 60
            while not any(MIME in o.get("data", {}) for o in _saved_outputs(path)):
                assert time.monotonic() < deadline, "the notebook was not saved"
                time.sleep(0.5)
            saved = [o for o in _saved_outputs(path) if MIME in o.get("data", {})]
            assert [o["data"][MIME]["kind"] for o in saved] == ["transcript"]
            assert "".join(saved[0]["data"]["text/html"]).count("data:audio/") == 1
            assert "vnd.jupyter.widget-view" not in json.dumps(saved[0]["data"])
        except Exception:
            page.screenshot(path=str(jupyter.base / f"record-{frontend}.png"), full_page=True)
            print(jupyter.log())
            raise
        finally:
            context.close()
            jupyter.shut_down_kernels()


def _record_fails_in_one_line(
    server: JupyterServer,
    frontend: str,
    case: str,
    line: str,
    *,
    flags: list[str],
    permissions: list[str],
    host: str = "127.0.0.1",
) -> bool:
    """Open ``%venice_record --var rec`` in a Chromium launched with ``flags`` and press Record:
    the cell's output becomes ``line`` alone, and ``rec`` stays unset (the cell after it, run
    again, says so). Returns the page's ``window.isSecureContext``."""
    name = f"{case}-{frontend}.ipynb"
    server.write_notebook(
        name, ["%load_ext venice_nb", "%venice_record --var rec", "print('rec' in globals())"]
    )
    for browser in _launch(flags):
        context = browser.new_context(
            viewport={"width": 1200, "height": 900}, permissions=permissions
        )
        page = context.new_page()
        try:
            _open_and_run_all(page, server, frontend, name, host)
            _press_record(page)
            # The kernel's answer replaces the recorder ("venice_nb: " is in no recorder view).
            page.wait_for_selector(
                f".jp-OutputArea-output:has-text('venice_nb: {line[:24]}')", timeout=60_000
            )
            cells = page.locator(".jp-Notebook .jp-Cell:visible")
            outputs = cells.nth(1).locator(".jp-OutputArea-output").all_inner_texts()
            assert [t.strip() for t in outputs if t.strip()] == [f"venice_nb: {line}"], outputs
            last = cells.nth(2)
            last.click()
            page.keyboard.press("Shift+Enter")
            last.locator(".jp-InputPrompt:has-text('[4]')").wait_for(timeout=60_000)
            assert last.locator(".jp-OutputArea-output").inner_text().strip() == "False"
            return bool(page.evaluate("window.isSecureContext"))
        except Exception:
            page.screenshot(path=str(server.base / f"{case}-{frontend}.png"), full_page=True)
            print(server.log())
            raise
        finally:
            context.close()
            server.shut_down_kernels()
    raise AssertionError("no browser")


@pytest.mark.parametrize("frontend", ["lab", "notebook"])
def test_denied_microphone_says_so_in_one_line(jupyter: JupyterServer, frontend: str) -> None:
    line = (
        "Microphone access was denied; allow the microphone for this page in the browser's "
        "site settings, then run the cell again."
    )
    flags = ["--use-fake-device-for-media-stream"]
    _record_fails_in_one_line(jupyter, frontend, "denied", line, flags=flags, permissions=[])


@pytest.mark.parametrize("frontend", ["lab", "notebook"])
def test_no_microphone_says_so_in_one_line(jupyter: JupyterServer, frontend: str) -> None:
    """The microphone allowed, but no capture device: headless Chromium without the fake device
    has none (enumerateDevices lists nothing), and getUserMedia rejects with NotFoundError."""
    line = (
        "No microphone was found; connect one (or pick an input in the system settings), "
        "then run the cell again."
    )
    _record_fails_in_one_line(
        jupyter, frontend, "nodevice", line, flags=[], permissions=["microphone"]
    )


@pytest.mark.parametrize("frontend", ["lab", "notebook"])
def test_insecure_page_says_so_in_one_line(jupyter: JupyterServer, frontend: str) -> None:
    """The same server reached as http://vnb-insecure.test is not a secure context: the recorder
    says so before asking for the microphone (which is there, fake, and allowed)."""
    line = (
        "Recording needs a secure page (https:// or http://localhost); open Jupyter through "
        "one of those, then run the cell again."
    )
    flags = [*_fake_mic(), f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1"]
    secure = _record_fails_in_one_line(
        jupyter, frontend, "insecure", line, flags=flags, permissions=[], host=INSECURE_HOST
    )
    assert secure is False


def test_kernel_restart_mid_recording_says_nothing_was_saved(
    jupyter: JupyterServer, speech_wav: tuple[Path, float]
) -> None:
    wav, _ = speech_wav
    name = "restart-lab.ipynb"
    jupyter.write_notebook(name, ["%load_ext venice_nb", "%venice_record --var rec"])
    flags = _fake_mic(wav, loop=True)
    for browser in _launch(flags):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        try:
            _open_and_run_all(page, jupyter, "lab", name)
            _press_record(page)
            page.wait_for_selector(f"{RECORDER}[data-state='recording']", timeout=60_000)
            (kernel,) = jupyter.kernels()
            jupyter.api("POST", f"kernels/{kernel['id']}/restart")
            page.wait_for_selector(
                f"{RECORDER}[data-state='error']:has-text('kernel restarted')", timeout=60_000
            )
            assert page.locator(f"{RECORDER} .vnb-rec-stop").is_disabled()
        except Exception:
            page.screenshot(path=str(jupyter.base / "restart-lab.png"), full_page=True)
            raise
        finally:
            context.close()
            jupyter.shut_down_kernels()


def test_record_in_voila_shows_the_transcript_under_the_recorder(
    offline_env: Path, speech_wav: tuple[Path, float], tmp_path: Path
) -> None:
    """Voila runs the notebook itself and does not apply display updates to a page already
    shown: the result appears in the Output under the recorder."""
    pytest.importorskip("voila")
    nbformat = pytest.importorskip("nbformat")
    from testkit.quality import word_error_rate

    wav, seconds = speech_wav
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext venice_nb"),
        nbformat.v4.new_code_cell(f"%venice_record --seconds {seconds + 1.5:.1f} --transcribe"),
    ]
    path = tmp_path / "record.ipynb"
    nbformat.write(nb, path)
    flags = _fake_mic(wav)
    with voila_server(path, tmp_path) as url:
        for browser in _launch(flags):
            page = browser.new_page()
            try:
                page.goto(url, wait_until="domcontentloaded", timeout=120_000)
                recorder = ".vnb-live .vnb-recorder"
                _press_record(page, recorder)
                words = ".vnb-transcript[data-wired='1'] .vnb-word"
                page.wait_for_selector(words, timeout=LONG_WAIT)
                heard = " ".join(page.locator(words).all_inner_texts())
                print(f"voila: WER {word_error_rate(SPOKEN, heard):.3f}: {heard!r}")
                assert word_error_rate(SPOKEN, heard) <= 0.15, heard
            except Exception:
                page.screenshot(path=str(tmp_path / "voila-record.png"), full_page=True)
                print((tmp_path / "voila.log").read_text()[-3000:])
                raise
