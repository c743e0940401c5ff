"""Build venice_nb's JupyterLab / Notebook 7 extension into ``venice_nb/labextension``.

    python labextension/build.py

Needs node and npm (Debian's nodejs, or any node >= 18) and the ``jupyterlab`` Python package,
whose ``staging`` folder tells the builder which packages JupyterLab shares. Installs the npm
dependencies from ``package-lock.json`` (``npm ci``) the first time, then runs
``@jupyterlab/builder`` directly: ``jupyter labextension build`` in JupyterLab 4.6 wants to fetch
release metadata from the network, which this build does without. The wheel ships the result as
``share/jupyter/labextensions/venice-nb`` (see pyproject.toml).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "venice_nb" / "labextension"


def main() -> int:
    npm = shutil.which("npm")
    if npm is None:
        print(
            "labextension/build.py: npm is not installed (apt-get install nodejs npm)",
            file=sys.stderr,
        )
        return 2
    try:
        import jupyterlab
    except ImportError:
        print("labextension/build.py: pip install jupyterlab first", file=sys.stderr)
        return 2
    staging = Path(jupyterlab.__file__).resolve().parent / "staging"
    if not (HERE / "node_modules" / ".bin" / "build-labextension").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True
        )
    shutil.rmtree(OUT, ignore_errors=True)
    subprocess.run(
        [
            str(HERE / "node_modules" / ".bin" / "build-labextension"),
            "--core-path",
            str(staging),
            ".",
        ],
        cwd=HERE,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built {OUT.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
