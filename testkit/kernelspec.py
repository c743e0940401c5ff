"""A ``python3`` kernel spec of the tests' own: this interpreter, in a Jupyter data dir the test
owns (used with ``JUPYTER_PREFER_ENV_PATH=0``, so a virtualenv's or the user's spec cannot win)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def write_kernel_spec(data_dir: Path, display_name: str = "Python 3") -> None:
    spec = data_dir / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": display_name, "language": "python"})
    )
