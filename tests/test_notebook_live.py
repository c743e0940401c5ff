"""Hearing speech as it is made, on the Python side: a streaming model in a live frontend goes
through the live player (chunks forwarded while synthesis runs, then the durable player in the
same output); everywhere else (widgets="never", --no-stream, a model that does not stream,
cached speech) %%venice_speak behaves as before."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, ClassVar

import comm
import pytest
from aiohttp import web
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from testkit.loopback import API_PREFIX, LoopbackServer
from testkit.quality import word_error_rate
from venice_nb import session
from venice_nb.notebook import live, runner
from venice_nb.notebook.display import VNB_MIME, WIDGET_MIME
from venice_nb.notebook.live import LiveSpeech
from venice_nb.notebook.speech import Speech

pytestmark = pytest.mark.local

TEXT = (
    "The first train leaves at six. The second one follows an hour later. "
    "Both stop at every station along the coast."
)


@pytest.fixture
def shell(offline_shell: InteractiveShell) -> InteractiveShell:
    """The offline shell with widgets always on, as in a live frontend."""
    offline_shell.run_line_magic("config", "VeniceMagics.widgets = 'always'")
    return offline_shell


def speak(sh: InteractiveShell, line: str = "") -> tuple[Speech, list[dict[str, object]]]:
    with capture_output() as out:
        sh.run_cell_magic("venice_speak", f"--var s {line}", TEXT)
    assert not out.stderr, out.stderr
    return sh.user_ns["s"], [o.data for o in out.outputs]


def test_a_streaming_model_plays_live_then_becomes_the_durable_player(
    shell: InteractiveShell, tmp_path: Path
) -> None:
    speech, shown = speak(shell, "--out live.mp3")
    assert isinstance(speech, LiveSpeech)
    assert WIDGET_MIME in shown[0] and VNB_MIME not in shown[0]  # the live player first
    t = speech.timing
    assert t.first_byte is not None and t.first_forwarded is not None and t.finished is not None
    assert t.started < t.first_byte <= t.first_forwarded <= t.finished
    assert speech.format == "mp3" and (tmp_path / "live.mp3").read_bytes() == speech.data
    data = speech._repr_mimebundle_()
    assert data[VNB_MIME]["kind"] == "speech" and data[VNB_MIME]["live"] == speech.live_id
    assert WIDGET_MIME not in data and data["text/html"].count("data:audio/") == 1
    assert word_error_rate(TEXT, speech.transcribe().text) <= 0.15
    # Run again: from the cache, no live player.
    again, shown = speak(shell, "--format mp3")
    assert not isinstance(again, LiveSpeech) and again.cached


@pytest.mark.parametrize(
    ("setup", "line"),
    [
        ("VeniceMagics.widgets = 'never'", ""),
        (None, "--no-stream"),
        (None, "--model tts-orpheus --voice dan"),
    ],
)
def test_without_a_live_frontend_or_a_streaming_model_it_speaks_as_before(
    shell: InteractiveShell, setup: str | None, line: str
) -> None:
    if setup:
        shell.run_line_magic("config", setup)
    speech, shown = speak(shell, line)
    assert type(speech) is Speech
    assert all(WIDGET_MIME not in d for d in shown)


def test_a_notebook_run_by_nbclient_speaks_as_before(tmp_path: Path) -> None:
    """nbconvert / papermill run cells with no frontend watching: the output is today's
    execute_result speech player, with no live widget."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext venice_nb"),
        nbformat.v4.new_code_cell(f"%%venice_speak\n{TEXT}"),
    ]
    with pytest.MonkeyPatch.context() as m:
        m.setenv("VENICE_NB_CACHE_DIR", str(tmp_path / "cache"))
        root = str(Path(__file__).resolve().parents[1])
        m.setenv("PYTHONPATH", root)
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=300).execute()
    outputs = nb.cells[1].outputs
    assert [o.output_type for o in outputs] == ["execute_result"]
    assert VNB_MIME in outputs[0].data and WIDGET_MIME not in outputs[0].data


class _HeldStream(LoopbackServer):
    """A speech server that streams one sentence of pcm, then holds the rest back until the
    kernel has forwarded that sentence to the frontend (or ``hold`` seconds have passed)."""

    def __init__(self, forwarded: threading.Event, hold: float) -> None:
        super().__init__()
        self.forwarded = forwarded
        self.hold = hold
        self.forwarded_while_held: bool | None = None

    def build_app(self) -> web.Application:
        async def speech(request: web.Request) -> web.StreamResponse:
            await request.read()
            response = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(b"\x00\x01" * 24_000)  # one second at 24 kHz
            self.forwarded_while_held = await asyncio.to_thread(self.forwarded.wait, self.hold)
            await response.write(b"\x00\x02" * 24_000)
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_post(f"{API_PREFIX}/audio/speech", speech)
        return app


class _RecordingComm(comm.base_comm.BaseComm):
    """The kernel side of a widget's comm, keeping what would go to the frontend: the ``comm``
    package's own seam (``comm.create_comm``), which ipykernel fills the same way."""

    sent: ClassVar[list[tuple[dict[str, Any], int]]] = []
    first_pcm: ClassVar[threading.Event] = threading.Event()

    def publish_msg(
        self,
        msg_type: str,
        data: Any = None,
        metadata: Any = None,
        buffers: Any = None,
        **keys: Any,
    ) -> None:
        content = (data or {}).get("content") if msg_type == "comm_msg" else None
        if isinstance(content, dict) and content.get("type") == "pcm":
            type(self).sent.append((content, sum(len(b) for b in buffers or [])))
            type(self).first_pcm.set()


def test_the_first_chunk_is_forwarded_as_it_arrives_not_at_the_next_poll(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The waiting cell sends a chunk to the frontend when it arrives: with the fallback poll
    made longer than the server holds the rest back, the first sentence still reaches the
    frontend while the server waits (polling alone would send it only after the stream)."""
    _RecordingComm.sent, _RecordingComm.first_pcm = [], threading.Event()
    monkeypatch.setattr(comm, "create_comm", lambda *a, **kw: _RecordingComm(*a, **kw))
    monkeypatch.setattr(live, "FORWARD_SECONDS", 60.0)
    server = _HeldStream(_RecordingComm.first_pcm, hold=20.0)
    with server.in_thread() as base_url:
        monkeypatch.setenv("VENICE_BASE_URL", base_url)
        monkeypatch.setenv("VENICE_API_KEY", "test-key")
        monkeypatch.setenv("VENICE_NB_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setattr(session, "_backend", None)
        sh = InteractiveShell.instance()
        sh.run_line_magic("load_ext", "venice_nb")
        try:
            sh.run_line_magic("config", "VeniceMagics.widgets = 'always'")
            with capture_output():
                sh.run_cell_magic(
                    "venice_speak", "--model tts-kokoro --voice af_heart --no-cache --var s", TEXT
                )
            speech = sh.user_ns.pop("s")
        finally:
            sh.config.pop("VeniceMagics", None)
            sh.run_line_magic("unload_ext", "venice_nb")
            runner.shutdown()
    assert isinstance(speech, LiveSpeech)
    assert server.forwarded_while_held is True
    assert _RecordingComm.sent[0] == ({"type": "pcm", "seq": 0}, 48_000)
    assert sum(size for _, size in _RecordingComm.sent) == 96_000
