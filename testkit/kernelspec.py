"""A ``python3`` kernel spec of the tests' own: this interpreter, in a Jupyter data dir the test
owns (used with ``JUPYTER_PREFER_ENV_PATH=0``, so a virtualenv's or the user's spec cannot win)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path


def write_kernel_spec(
    data_dir: Path, display_name: str = "Python 3", extra_args: Sequence[str] = ()
) -> None:
    """Write the spec; ``extra_args`` are appended to the kernel's command line (traitlets
    options such as ``--VeniceMagics.widgets=never``, for runners that cannot pass their own)."""
    spec = data_dir / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", *extra_args]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": display_name, "language": "python"})
    )
