"""The microphone recorder's Python side: chunks assembled and checked (gaps, silence, junk),
the Recording usable as speech, the transcript after --transcribe, one-line failures with nothing
stored, and the fallback outside a live frontend. Messages are fed as the widget's comm would."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from ipywidgets.widgets.widget import _instances

from testkit.audio_fixtures import encode_with
from testkit.quality import word_error_rate
from venice_nb.notebook import api
from venice_nb.notebook.display import VNB_MIME, WIDGET_MIME
from venice_nb.notebook.embed import _decode_s16
from venice_nb.notebook.recorder import (
    Assembly,
    Recorder,
    Recording,
    RecordingError,
    inspect_recording,
)

pytestmark = pytest.mark.local

SENTENCE = "The library opens at nine in the morning. Students arrive early to find a quiet table."
MIME = "audio/webm;codecs=opus"


def webm(samples: np.ndarray, rate: int = 48_000) -> bytes:
    """Int16 mono samples as webm/opus, as Chromium's MediaRecorder records."""
    return encode_with("webm", "libopus", samples.reshape(1, -1), rate=rate)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """SENTENCE spoken by the offline engine, re-encoded as a browser recording."""
    with pytest.MonkeyPatch.context() as m:
        m.setenv("VENICE_NB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        speech = api.speak(SENTENCE, format="wav", progress=False)
    samples, _ = _decode_s16(speech.data, "wav", None, 48_000)
    return webm(np.frombuffer(samples, "<i2"))


@pytest.fixture
def shell(offline_shell: InteractiveShell) -> InteractiveShell:
    """The offline shell with widgets always on, as in a live frontend."""
    offline_shell.run_line_magic("config", "VeniceMagics.widgets = 'always'")
    return offline_shell


class View:
    """The recorder a magic displayed, reached as the frontend reaches it: its widget (messages
    go through the widget's comm handler) and the Output under it."""

    def __init__(self, displayed: Any) -> None:
        model_id = displayed.data[WIDGET_MIME]["model_id"]
        box = _instances[model_id]
        self.widget, self.output = box.children
        self.payload = displayed.data[VNB_MIME]

    def send(self, content: dict[str, Any], buffers: list[Any] | None = None) -> None:
        self.widget._handle_custom_msg(content, buffers or [])

    def feed(self, data: bytes, *, size: int = 700) -> None:
        """``data`` as the view sends it: start, numbered chunks (last first), stop."""
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        self.send({"type": "start", "mime": MIME})
        for seq in [len(chunks) - 1, *range(len(chunks) - 1)]:
            self.send({"type": "chunk", "seq": seq}, [memoryview(chunks[seq])])
        self.send({"type": "stop", "chunks": len(chunks), "mime": MIME, "seconds": 4.0})

    def shown(self) -> dict[str, Any]:
        """What the Output (and the display handle) last showed."""
        assert self.output.outputs, "nothing shown"
        return dict(self.output.outputs[-1]["data"])


def record(shell: InteractiveShell, line: str) -> View:
    with capture_output() as out:
        shell.run_line_magic("venice_record", line)
    assert not out.stderr, out.stderr
    return View(out.outputs[0])


def test_chunks_assemble_in_order_whatever_order_they_arrive() -> None:
    parts = Assembly()
    for seq, data in [(2, b"cc"), (0, b"aa"), (1, b"bb")]:
        parts.add(seq, data)
    assert parts.finish(3) == b"aabbcc"


@pytest.mark.parametrize(
    ("chunks", "count", "message"),
    [
        ([(0, b"aa"), (2, b"cc")], 3, "1 of 3 parts"),
        ([], 0, "recorded nothing"),
    ],
)
def test_a_broken_transfer_is_refused(chunks: list[Any], count: int, message: str) -> None:
    parts = Assembly()
    for seq, data in chunks:
        parts.add(seq, data)
    with pytest.raises(RecordingError, match=message):
        parts.finish(count)


def test_a_chunk_sent_twice_is_refused() -> None:
    parts = Assembly()
    parts.add(0, b"aa")
    with pytest.raises(RecordingError, match="twice"):
        parts.add(0, b"aa")


def test_inspect_gives_duration_and_level_of_a_browser_recording(spoken: bytes) -> None:
    info = inspect_recording(spoken, MIME)
    assert info.format == "webm"
    assert 2.5 < info.duration < 8
    assert info.peak_dbfs is not None and info.peak_dbfs > -30


def test_silence_and_junk_are_refused_with_one_line() -> None:
    with pytest.raises(RecordingError, match="silent"):
        inspect_recording(webm(np.zeros(48_000 * 2, np.int16)), MIME)
    with pytest.raises(RecordingError, match="not audio"):
        inspect_recording(b"<html>nope</html>", MIME)
    with pytest.raises(RecordingError, match="only"):
        inspect_recording(webm((np.ones(480) * 8000).astype(np.int16)), MIME)


def test_recording_is_speech_saved_and_transcribed(spoken: bytes, tmp_path: Path) -> None:
    rec = Recording.from_bytes(spoken, MIME)
    assert rec.format == "webm" and rec.data == spoken
    assert rec.save(tmp_path / "take.webm").read_bytes() == spoken
    data = rec._repr_mimebundle_()
    assert data[VNB_MIME]["kind"] == "speech"
    assert data["text/html"].count("data:audio/") == 1
    assert "recorded (webm)" in data["text/plain"]
    transcript = rec.transcribe()
    assert word_error_rate(SENTENCE, transcript.text) <= 0.15, transcript.text


def test_record_magic_keeps_the_recording_and_shows_its_transcript(
    shell: InteractiveShell, spoken: bytes
) -> None:
    view = record(shell, "--seconds 5 --transcribe --var rec")
    assert view.payload["kind"] == "recorder" and view.widget.seconds == 5
    assert "rec" not in shell.user_ns
    view.feed(spoken)
    rec = shell.user_ns["rec"]
    assert isinstance(rec, Recording) and 2.5 < rec.duration < 8
    assert view.shown()[VNB_MIME]["kind"] == "speech"
    deadline = time.monotonic() + 120
    while view.shown()[VNB_MIME]["kind"] != "transcript":
        assert time.monotonic() < deadline, "no transcript"
        time.sleep(0.05)
    data = view.shown()
    assert data["text/html"].count("data:audio/") == 1
    words = [w[0] for g in data[VNB_MIME]["groups"] for w in g["words"]]
    assert word_error_rate(SENTENCE, " ".join(words)) <= 0.15, words
    # %venice_transcribe takes the recording like any speech variable.
    with capture_output() as out:
        shell.run_line_magic("venice_transcribe", "rec --format text")
    assert word_error_rate(SENTENCE, out.stdout) <= 0.15


def test_denied_microphone_and_silence_store_nothing(shell: InteractiveShell) -> None:
    view = record(shell, "--var r")
    view.send({"type": "error", "reason": "denied", "message": "NotAllowedError"})
    assert "r" not in shell.user_ns
    assert "Microphone access was denied" in view.shown()["text/plain"]
    assert view.widget.state == "error"
    view.feed(webm(np.zeros(48_000 * 2, np.int16)))
    assert "r" not in shell.user_ns
    assert "silent" in view.shown()["text/plain"]


def test_python_record_returns_the_recorder_shown_once(
    shell: InteractiveShell, spoken: bytes
) -> None:
    with capture_output() as out:
        result = shell.run_cell("import venice_nb\nvenice_nb.record(seconds=3)")
    assert len(out.outputs) == 1  # the recorder, not also its repr
    recorder = result.result
    assert isinstance(recorder, Recorder) and recorder.recording is None
    View(out.outputs[0]).feed(spoken)
    assert isinstance(recorder.recording, Recording)
    assert repr(recorder).startswith("<Recorder: <Recording ")


def test_outside_a_live_frontend_record_says_so_in_one_line(shell: InteractiveShell) -> None:
    shell.run_line_magic("config", "VeniceMagics.widgets = 'never'")
    with capture_output() as out:
        shell.run_line_magic("venice_record", "")
    assert out.stderr.count("\n") == 1
    assert "needs a live notebook frontend" in out.stderr
    assert not out.outputs
