"""Hearing speech as it is made, on the Python side: a streaming model in a live frontend goes
through the live player (chunks forwarded while synthesis runs, then the durable player in the
same output); everywhere else (widgets="never", --no-stream, a model that does not stream,
cached speech) %%venice_speak behaves as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from testkit.quality import word_error_rate
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
