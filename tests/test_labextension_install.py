"""A checkout install is the whole product: the JupyterLab / Notebook 7 extension is committed
built (venice_nb/labextension), so ``pip install .`` and ``pip install -e .`` from a fresh clone,
with no node, install it where Jupyter finds it, enabled and OK; and the committed build is
checked against its sources (labextension/build.py --check), since its bytes are not reproducible.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
EXT = "share/jupyter/labextensions/venice-nb"


def _load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "labext_build", REPO / "labextension" / "build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


def test_committed_extension_build_matches_its_sources() -> None:
    """CI fails when a source of the extension changed and the bundle was not rebuilt."""
    assert build.stale_reasons(REPO) == [], build.REBUILD


@pytest.fixture
def checkout_copy(tmp_path: Path) -> Path:
    """The extension's sources and its committed build, copied with their layout."""
    for name in build.source_files(REPO):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "venice_nb" / "labextension", tmp_path / "venice_nb" / "labextension")
    return tmp_path


def test_staleness_check_names_each_changed_added_or_missing_source(checkout_copy: Path) -> None:
    root = checkout_copy
    assert build.stale_reasons(root) == []
    transcript = root / "venice_nb" / "notebook" / "transcript.js"
    transcript.write_text(transcript.read_text() + "\n// a change\n")
    assert build.stale_reasons(root) == [
        "changed since the build: venice_nb/notebook/transcript.js"
    ]
    # A module newly imported by index.js is a source the build never saw.
    (root / "labextension" / "lib" / "extra.js").write_text("export default 1;\n")
    index = root / "labextension" / "lib" / "index.js"
    index.write_text('import extra from "./extra.js";\n' + index.read_text())
    assert set(build.stale_reasons(root)) == {
        "changed since the build: venice_nb/notebook/transcript.js",
        "changed since the build: labextension/lib/index.js",
        "new source, not in the build: labextension/lib/extra.js",
    }
    (root / "venice_nb" / "labextension" / "sources.sha256").unlink()
    assert "sources.sha256 is missing" in build.stale_reasons(root)[0]


def test_staleness_check_ignores_windows_line_endings(checkout_copy: Path) -> None:
    css = checkout_copy / "venice_nb" / "notebook" / "player.css"
    css.write_bytes(css.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert build.stale_reasons(checkout_copy) == []


def test_a_checkout_with_no_build_is_reported(checkout_copy: Path) -> None:
    shutil.rmtree(checkout_copy / "venice_nb" / "labextension")
    assert "holds no built extension" in build.stale_reasons(checkout_copy)[0]


# -- installs from a fresh clone, with no node -----------------------------------------------


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``git clone`` of this checkout's HEAD (what a newcomer gets), without node_modules."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    # pip builds with this interpreter's hatchling (the dev extra), offline: --no-build-isolation.
    pytest.importorskip("hatchling")
    pytest.importorskip("editables")
    pytest.importorskip("jupyterlab")
    clone = tmp_path_factory.mktemp("clone") / "venice-nb"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    yield clone


def _no_node_env(tmp: Path) -> dict[str, str]:
    """This environment with a PATH holding nothing: no node, no npm, no jlpm."""
    empty = tmp / "empty-bin"
    empty.mkdir(exist_ok=True)
    env = {**os.environ, "PATH": str(empty), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    return env


def _pip(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-deps", "--no-build-isolation", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _labextension_list(share: Path) -> str:
    """``jupyter labextension list``'s lines for ``share``'s labextensions folder."""
    env = {**os.environ, "JUPYTER_PATH": str(share)}
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    section = str(share / "labextensions")
    lines = out.splitlines()
    assert section in [line.strip() for line in lines], out
    start = [line.strip() for line in lines].index(section) + 1
    body = []
    for line in lines[start:]:
        if not line.startswith((" ", "\t")) or not line.strip():
            break
        body.append(line.strip())
    return "\n".join(body)


def _assert_own_install_untouched(folder: Path) -> None:
    """This interpreter still imports venice_nb: pip, installing into a prefix, uninstalls the
    same project from the running environment unless told --ignore-installed (the notebooks run
    later in CI then found no venice_nb)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import venice_nb"], cwd=folder, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr


def _assert_installed(share: Path) -> None:
    ext = share / "labextensions" / "venice-nb"
    package = ext / "package.json"
    assert package.is_file()
    load = json.loads(package.read_text())["jupyterlab"]["_build"]["load"]
    assert re.fullmatch(r"static/remoteEntry\.[0-9a-f]+\.js", load)
    assert (ext / load).is_file()
    listed = _labextension_list(share)
    assert re.search(r"^venice-nb v\S+ enabled\s+OK \(python, venice-nb\)$", listed, re.M), listed


@pytest.mark.slow
def test_pip_install_from_a_fresh_clone_without_node_installs_the_extension(
    fresh_clone: Path, tmp_path: Path
) -> None:
    env = _no_node_env(tmp_path)
    _pip(["wheel", "-w", str(tmp_path / "dist"), str(fresh_clone)], env)
    (wheel,) = (tmp_path / "dist").glob("venice_nb-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    data = [n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n]
    assert f"{EXT}/package.json" in data
    assert any(re.fullmatch(rf"{EXT}/static/remoteEntry\.[0-9a-f]+\.js", n) for n in data)
    # Shipped once: as shared-data, not also inside the package.
    assert not [n for n in names if n.startswith("venice_nb/labextension/")]
    # The offline engine's own Kokoro packs (es, fr, it, pt-br voices) travel in the wheel.
    packs = {n.rsplit("/", 1)[1] for n in names if "/data/kokoro_packs/" in n}
    assert {"SOURCE.json", "LICENSE", "ff_siwis.bin", "if_sara.bin"} <= packs, packs
    prefix = tmp_path / "prefix"
    _pip(["install", "--ignore-installed", "--prefix", str(prefix), str(wheel)], env)
    _assert_installed(prefix / "share" / "jupyter")
    _assert_own_install_untouched(tmp_path)


@pytest.mark.slow
def test_editable_install_from_a_fresh_clone_without_node_installs_the_extension(
    fresh_clone: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "prefix"
    _pip(
        ["install", "--ignore-installed", "--prefix", str(prefix), "-e", str(fresh_clone)],
        _no_node_env(tmp_path),
    )
    _assert_installed(prefix / "share" / "jupyter")
    _assert_own_install_untouched(tmp_path)
