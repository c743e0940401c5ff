"""The committed example notebooks: executed, small, compact audio, no secrets, readable anywhere.

These read the saved ``.ipynb`` files only (fast, no kernel); ``pytest notebooks`` re-runs
them and compares outputs, and ``python notebooks/rebuild.py`` regenerates them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {
    "quickstart",
    "voice_explorer",
    "transcripts",
    "long_text_narration",
    "voice_cloning",
    "async_core",
    "dialogue",
}
MAX_BYTES = 2_000_000
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
DATA_URI = re.compile(r"data:(audio/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=]+)")
BINDER = "https://mybinder.org/v2/gh/venice-nb/venice_nb/HEAD?urlpath=lab/tree/notebooks/"
# Notebook-layer objects whose saved output must be the plain HTML fallback (GitHub, docs).
FALLBACK_REPRS = ("<Speech ", "<Transcript ", "<Dialogue ", "<VoiceExplorer")
SECRET_PATTERNS = [
    re.compile(r"""(VENICE_API_KEY|api_key)["'\]]*\s*[=:,]\s*["'][^"'\s]{8,}["']"""),
    re.compile(r"%env\s+VENICE_API_KEY\s*=?\s*\S+"),
    re.compile(r"VENICE_API_KEY=[^\s\"'$]{8,}"),
    re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"authorization", re.IGNORECASE),
]
# A random token (secrets.token_urlsafe, API keys): long, with upper case, lower case and digits.
TOKEN = re.compile(r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[a-z])"
                   r"(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{24,}(?![A-Za-z0-9_-])")  # fmt: skip
HOME_PATH = re.compile(r"(/home/[^/\s]+|/root|/Users/[^/\s]+)/")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def code_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def output_texts(nb: dict[str, Any]) -> list[str]:
    """Every source and every textual output of a notebook."""
    texts = [joined(c["source"]) for c in nb["cells"]]
    for cell in code_cells(nb):
        for out in cell["outputs"]:
            if "text" in out:
                texts.append(joined(out["text"]))
            for mime, value in out.get("data", {}).items():
                texts.append(joined(value) if mime.startswith("text/") else json.dumps(value))
            if out["output_type"] == "error":
                texts.append(" ".join(out.get("traceback", [])))
    return texts


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_the_six_example_notebooks_are_committed() -> None:
    assert {p.stem for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_is_under_two_megabytes(path: Path) -> None:
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{path.name} is {size / 1e6:.2f} MB; keep notebooks under 2 MB"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_was_executed_top_to_bottom_without_errors(path: Path) -> None:
    nb = load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    cells = code_cells(nb)
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"{path.name} was not run in order: {counts}"
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name} has error outputs: {[e['ename'] for e in errors]}"
    with_output = [c for c in cells if c["outputs"]]
    assert len(with_output) >= len(cells) // 2, f"{path.name}: most code cells show nothing"


NBVAL_CHECK = "nbval-check-output"
NO_NBVAL_CHECK = {"long_recordings"}  # every output there holds numbers of synthesized speech


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_nbval_lax_checks_cells_tagged_in_metadata(path: Path) -> None:
    """``pytest --nbval-lax notebooks`` compares the cells tagged ``nbval-check-output``: some in
    each notebook, none also ``volatile-output``, each with saved text output, and tagged in the
    cell's metadata, not with ``# NBVAL_`` comments in the code readers see."""
    cells = code_cells(load(path))
    tagged = [c for c in cells if NBVAL_CHECK in c["metadata"].get("tags", [])]
    assert bool(tagged) != (path.stem in NO_NBVAL_CHECK), f"{path.name}: {len(tagged)} tagged"
    for cell in tagged:
        assert "volatile-output" not in cell["metadata"]["tags"], joined(cell["source"])
        assert cell["outputs"], joined(cell["source"])
    assert not [c for c in cells if "NBVAL_" in joined(c["source"])], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_every_speak_and_transcribe_magic_shows_a_player(path: Path) -> None:
    for cell in code_cells(load(path)):
        source = joined(cell["source"])
        shows_view = source.startswith("%%venice_speak") or (
            source.startswith("%venice_transcribe") and "--format" not in source
        )
        if not shows_view or "venice_nb:" in json.dumps(cell["outputs"]):  # a one-line user error
            continue
        html = "".join(joined(o.get("data", {}).get("text/html", "")) for o in cell["outputs"])
        assert "<audio" in html and DATA_URI.search(html), f"{path.name}: no player for {source!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_embedded_audio_is_compact(path: Path) -> None:
    """At most ~0.5 MB of notebook per minute of speech (the notebook layer's default budget)."""
    checked = 0
    for cell in code_cells(load(path)):
        for out in cell["outputs"]:
            data = out.get("data", {})
            plain = joined(data.get("text/plain", ""))
            html = joined(data.get("text/html", ""))
            for mime, payload in DATA_URI.findall(html):
                assert mime != "audio/wav", f"{path.name}: WAV embedded ({len(payload):,} bytes)"
                assert len(payload) > 1000, f"{path.name}: suspiciously small audio in {plain!r}"
                seconds = re.search(r"(\d+(?:\.\d+)?) s\b", plain)
                if plain.startswith(("<Speech ", "<Transcript ", "<Dialogue ")) and seconds:
                    budget = max(8_000, 0.5e6 * (float(seconds.group(1)) + 0.05) / 60)
                    assert len(payload) <= budget, (
                        f"{path.name}: {len(payload):,} base64 bytes for {plain!r}"
                    )
                    checked += 1
    if path.stem in EXPECTED - {"async_core"}:
        assert checked, f"{path.name}: expected embedded speech or transcripts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_api_key_or_secret_is_committed(path: Path) -> None:
    nb = load(path)
    for text in output_texts(nb):
        text = DATA_URI.sub("", text)
        for pattern in SECRET_PATTERNS:
            match = pattern.search(text)
            assert match is None, f"{path.name} contains {match.group(0)[:12]!r}..."
        token = TOKEN.search(text)
        assert token is None, f"{path.name} contains a token-like string {token.group(0)[:6]!r}..."
        home = HOME_PATH.search(text)
        assert home is None, f"{path.name} shows a home directory path {home.group(0)!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_saved_outputs_render_without_a_kernel(path: Path) -> None:
    """Speech, transcripts and the explorer are saved as HTML (what GitHub and the docs show);
    the plain ipywidgets that are saved have their state in the notebook."""
    nb = load(path)
    state = nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in code_cells(nb):
        for out in cell["outputs"]:
            data = out.get("data", {})
            plain = joined(data.get("text/plain", ""))
            if plain.startswith(FALLBACK_REPRS):
                assert WIDGET_VIEW not in data, (
                    f"{path.name}: {plain[:40]!r} saved as a widget view"
                )
                assert "text/html" in data
            if WIDGET_VIEW in data:
                model = data[WIDGET_VIEW]["model_id"]
                assert model in state, f"{path.name}: widget {model} has no saved state"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_opens_with_its_binder_badge(path: Path) -> None:
    first = load(path)["cells"][0]
    assert first["cell_type"] == "markdown"
    assert f"{BINDER}{path.name})" in joined(first["source"])


def test_binder_installs_the_project_with_the_local_extra() -> None:
    binder = REPO / "binder"
    post_build = (binder / "postBuild").read_text(encoding="utf-8")
    assert re.search(r"pip install [^\n]*\.\[[^\]]*local", post_build)
    assert (binder / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"
    assert "jupyterlab" in (binder / "requirements.txt").read_text(encoding="utf-8")
    sections = (REPO / "README.md").read_text(encoding="utf-8")
    launch = re.search(r"\((https://mybinder\.org/v2/gh/[^)]+)\)", sections)
    assert launch is not None, "the README carries no Binder launch badge"
    target = launch.group(1).split("urlpath=lab/tree/", 1)[1]
    assert (REPO / target).is_file(), f"the Binder badge opens {target}, which does not exist"
