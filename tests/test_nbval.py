"""``pytest --nbval-lax notebooks``, the conventional notebook check, works beside nbcheck.

A copy of ``notebooks/conftest.py`` (with ``nbcheck.py``) is run by pytest in a subprocess over two
small notebooks written here, as nbval runs the real ones: the project's own collector steps aside
(no notebook runs twice), nbval's kernel gets the environment of the project's runs (this
interpreter, no key, the natural voices, an empty cache of its own, no live widgets), only the
cells tagged ``nbval-check-output`` are compared, and a tagged cell whose output changed fails.
``--nbval`` (strict: every output) is refused with the reason. The real notebooks' tagged cells
are run by ``.ci/run`` on one of them (``--nbval-lax notebooks/voice_cloning.ipynb``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

REPO = Path(__file__).resolve().parents[1]
CHECK = "nbval-check-output"

pytestmark = [pytest.mark.local, pytest.mark.slow]

ENVIRONMENT = """\
import os, sys
from venice_nb.notebook.settings import current
from venice_nb.session import get_backend
cache = os.environ["VENICE_NB_CACHE_DIR"]
print(get_backend().kind, os.environ.get("VENICE_API_KEY"), os.environ["VENICE_NB_FAST"])
print("widgets:", current().widgets)
print("own cache:", os.path.basename(os.path.dirname(cache)).startswith("venice_nb_nbval_"))
print("cache empty:", not os.path.exists(cache) or not os.listdir(cache))
print(sys.executable)"""
EXPECTED = f"local None 0\nwidgets: never\nown cache: True\ncache empty: True\n{sys.executable}\n"


def _notebook(path: Path, checked_output: str) -> None:
    """Three cells: the extension, the environment (tagged, saved as ``checked_output``) and an
    untagged cell whose saved output is not what it prints (nbval-lax must not compare it)."""
    cells = [
        new_code_cell("%load_ext venice_nb", execution_count=1),
        new_code_cell(
            ENVIRONMENT,
            execution_count=2,
            metadata={"tags": [CHECK]},
            outputs=[new_output("stream", name="stdout", text=checked_output)],
        ),
        new_code_cell(
            'print("printed now")',
            execution_count=3,
            outputs=[new_output("stream", name="stdout", text="saved long ago\n")],
        ),
    ]
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with this repository's notebooks/conftest.py and two notebooks: ``same`` (saved
    as it prints) and ``changed`` (its tagged cell saved with other output)."""
    pytest.importorskip("nbval")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("conftest.py", "nbcheck.py"):
        shutil.copy(REPO / "notebooks" / name, notebooks / name)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    _notebook(notebooks / "same.ipynb", EXPECTED)
    _notebook(notebooks / "changed.ipynb", EXPECTED.replace("widgets: never", "widgets: auto"))
    return tmp_path


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    # What the notebooks' runs must not inherit from the shell that starts pytest.
    env["VENICE_API_KEY"] = "sk-must-not-reach-the-kernel"
    env["VENICE_NB_FAST"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_nbval_lax_checks_the_tagged_cells_in_the_projects_environment(project: Path) -> None:
    run = _pytest(project, "--nbval-lax", "notebooks")
    report = run.stdout + run.stderr
    # nbval's cells as -v shows them (under pytest 9: notebooks/same::ipynb::Cell 0 PASSED).
    lines = re.findall(
        r"^notebooks/(\w+)(?:\.|::)ipynb::Cell (\d+) (PASSED|FAILED)", run.stdout, re.M
    )
    results = {f"{name}.ipynb::Cell {cell}": outcome for name, cell, outcome in lines}
    assert results == {
        "changed.ipynb::Cell 0": "PASSED",
        "changed.ipynb::Cell 1": "FAILED",
        "changed.ipynb::Cell 2": "PASSED",
        "same.ipynb::Cell 0": "PASSED",
        "same.ipynb::Cell 1": "PASSED",
        "same.ipynb::Cell 2": "PASSED",
    }, report
    assert "6 items" in run.stdout, report  # nbval's cells only: the project's runs stepped aside
    assert "Cell outputs differ" in run.stdout and "widgets: auto" in run.stdout, report
    assert run.returncode == 1, report


def test_strict_nbval_is_refused_with_the_supported_commands(project: Path) -> None:
    run = _pytest(project, "--nbval", "notebooks/same.ipynb")
    assert run.returncode == 4, run.stdout + run.stderr  # pytest's usage error
    assert "pytest --nbval-lax notebooks" in run.stderr
    assert "pytest notebooks" in run.stderr
