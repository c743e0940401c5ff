"""Execute the example notebooks top to bottom on the offline engine and save their outputs.

    python notebooks/rebuild.py                 # every notebook
    python notebooks/rebuild.py quickstart      # some of them
    python notebooks/rebuild.py --sample        # also remake assets/lighthouse.mp3 first

Each notebook runs in a fresh python3 kernel with no VENICE_API_KEY or VENICE_BASE_URL (so the
embedded offline engine answers), an empty speech cache and data directory (so the outputs are the
same run after run, which ``pytest notebooks`` compares with tolerances, see nbcheck.py), and
``VeniceMagics.widgets = "never"``: the voice controls are saved as their static views, which
need no kernel. Players and transcripts are data in any case (venice_nb's mimetype for
JupyterLab and Notebook 7, HTML for GitHub and the docs). Plain ipywidgets that are shown
(progress bars, buttons) keep their saved state; widgets never shown are dropped from it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MODEL_REF = re.compile(r"IPY_MODEL_([0-9a-f]+)")
NOTEBOOKS = [
    "quickstart",
    "voice_explorer",
    "transcripts",
    "long_text_narration",
    "voice_cloning",
    "async_core",
    "dialogue",
    "long_recordings",
]
SAMPLE_TEXT = (
    "The lighthouse keeper climbed the stairs at dusk. He lit the lamp and watched the fishing "
    "boats come home across the bay. When the fog rolled in, he rang the old brass bell until "
    "morning. At sunrise, a letter arrived from Venice. It asked him to teach the new keeper "
    "everything he knew: how to read the clouds, how to mend the nets, and how to keep the light "
    "burning through a storm."
)


def clean(nb: nbformat.NotebookNode) -> None:
    """Drop outputs, counts and run metadata so the saved notebook only holds this run."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def prune_widget_state(nb: nbformat.NotebookNode) -> None:
    """Keep the saved state of the widgets an output shows (and the models they refer to) only.

    Widgets made but never displayed (a transcript view used only to ``seek``, an explorer
    driven from code) would otherwise carry their audio and JavaScript in the notebook for nothing.
    """
    saved = nb.metadata.get("widgets", {}).get(WIDGET_STATE)
    if not saved:
        return
    state = saved["state"]
    todo = [
        out["data"][WIDGET_VIEW]["model_id"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if WIDGET_VIEW in out.get("data", {})
    ]
    keep: set[str] = set()
    while todo:
        model = todo.pop()
        if model in keep or model not in state:
            continue
        keep.add(model)
        todo.extend(MODEL_REF.findall(json.dumps(state[model])))
    saved["state"] = {k: v for k, v in state.items() if k in keep}
    if not keep:
        del nb.metadata["widgets"]


def execute(name: str, timeout: int) -> float:
    """Run one notebook in place in a fresh environment; returns the seconds it took."""
    path = HERE / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    clean(nb)
    with tempfile.TemporaryDirectory(prefix="venice_nb_rebuild_") as scratch:
        os.environ["VENICE_NB_CACHE_DIR"] = str(Path(scratch) / "cache")
        os.environ["VENICE_NB_DATA_DIR"] = str(Path(scratch) / "data")
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=timeout,
            record_timing=False,
            store_widget_state=True,
            resources={"metadata": {"path": str(HERE)}},
            extra_arguments=["--VeniceMagics.widgets=never"],
        )
        start = time.perf_counter()
        client.execute()
        elapsed = time.perf_counter() - start
    prune_widget_state(nb)
    nbformat.write(nb, path)
    return elapsed


def make_sample() -> None:
    """Speak ``SAMPLE_TEXT`` offline and save it as a compact 32 kbit/s mono mp3."""
    from venice_nb.notebook import api
    from venice_nb.notebook.embed import transcode_mp3

    speech = api.speak(SAMPLE_TEXT, voice="am_michael", model="tts-kokoro", format="mp3")
    target = HERE / "assets" / "lighthouse.mp3"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(transcode_mp3(speech.data, "mp3", bitrate=32000))
    print(f"wrote {target.relative_to(HERE.parent)} ({target.stat().st_size:,} bytes)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", help=f"notebooks to run (default: {' '.join(NOTEBOOKS)})"
    )
    parser.add_argument("--sample", action="store_true", help="remake assets/lighthouse.mp3 first")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    for variable in ("VENICE_API_KEY", "VENICE_BASE_URL"):
        os.environ.pop(variable, None)
    unknown = [n for n in args.names if n not in NOTEBOOKS]
    if unknown:
        parser.error(
            f"unknown notebook(s) {', '.join(unknown)}; choose from {', '.join(NOTEBOOKS)}"
        )
    if args.sample:
        with tempfile.TemporaryDirectory() as scratch:
            os.environ["VENICE_NB_CACHE_DIR"] = scratch
            make_sample()
    for name in args.names or NOTEBOOKS:
        seconds = execute(name, args.timeout)
        size = (HERE / f"{name}.ipynb").stat().st_size
        print(f"{name}.ipynb: executed in {seconds:.0f} s, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
