"""A JupyterLab 4 / Notebook 7 server of the tests' own on 127.0.0.1.

Everything Jupyter reads is the test's (config, data with a kernel spec pointing at this
interpreter, runtime dirs, with ``JUPYTER_PREFER_ENV_PATH=0`` so a virtualenv's own ``python3``
kernel spec cannot win), except venice_nb's front-end extension: the one ``pip install`` put in
``share/jupyter/labextensions/venice-nb``, as README installs it. The token comes from the environment, never
the command line (it would show in the process list). One server serves both frontends:
``/lab/tree/NAME`` (JupyterLab) and ``/notebooks/NAME`` (Notebook 7).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import site
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from testkit.kernelspec import write_kernel_spec

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "venice_nb" / "labextension"
"""The checkout's committed build of the extension, which ``pip install`` copies."""
STAMP = "sources.sha256"


def installed_labextension() -> Path:
    """The ``share/jupyter`` folder where ``pip install`` (``-e`` or not, ``--user`` or not) put
    venice_nb's extension for this interpreter. Raises ``RuntimeError`` naming the fix when it is
    missing or is not the checkout's build (installed before the bundle was last rebuilt)."""
    for prefix in (sys.prefix, site.getuserbase()):
        share = Path(prefix) / "share" / "jupyter"
        installed = share / "labextensions" / "venice-nb"
        if (installed / "package.json").is_file():
            break
    else:
        raise RuntimeError(
            f"venice_nb's JupyterLab extension is not installed under {sys.prefix}: "
            f"run `pip install -e .` in {REPO}, as README says."
        )
    here = (BUNDLE / STAMP).read_text() if (BUNDLE / STAMP).is_file() else None
    there = (installed / STAMP).read_text() if (installed / STAMP).is_file() else None
    if here != there:
        raise RuntimeError(
            f"The installed extension ({installed}) is not this checkout's build "
            f"(venice_nb/labextension): run `pip install -e .` in {REPO} again."
        )
    return share


def _jupyter_path(share: Path) -> str:
    """``JUPYTER_PATH`` with ``share`` (the installed extension's) first."""
    return os.pathsep.join(filter(None, [str(share), os.environ.get("JUPYTER_PATH")]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterServer:
    """``jupyter lab`` on a free loopback port, in its own config/data/runtime dirs."""

    def __init__(
        self, base: Path, extra_env: dict[str, str], extra_args: Sequence[str] = ()
    ) -> None:
        self.base = base
        self.extra_args = list(extra_args)
        self.root = base / "work"
        self.root.mkdir(parents=True)
        data = base / "data"
        write_kernel_spec(data, "Python 3 (venice_nb tests)")
        extension_share = installed_labextension()
        config = base / "config"
        (config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension").mkdir(
            parents=True
        )
        # No news / update pop-ups over the notebook.
        (config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension" /
         "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )  # fmt: skip
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.env = {
            **os.environ,
            **extra_env,
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_DATA_DIR": str(data),
            "JUPYTER_PATH": _jupyter_path(extension_share),
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
            "JUPYTER_PREFER_ENV_PATH": "0",
            "JUPYTER_TOKEN": self.token,
            "JUPYTERLAB_SETTINGS_DIR": str(config / "lab" / "user-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        }
        self.log_path = base / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--allow-root",
                f"--port={self.port}",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.root_dir={self.root}",
                "--ServerApp.port_retries=0",
                "--LabApp.news_url=",
                "--MappingKernelManager.cull_idle_timeout=0",
                *self.extra_args,
            ],
            cwd=self.root,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 90
        while True:
            try:
                self.api("GET", "status")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Jupyter did not start:\n{self.log()}") from None
                time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def api(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            raw = answer.read()
        return json.loads(raw) if raw else None

    def url(self, frontend: str, name: str, host: str = "127.0.0.1") -> str:
        """The notebook's page; ``host`` another name for 127.0.0.1 (the browser must resolve it
        there and the server must accept it, see ``ServerApp.local_hostnames``)."""
        path = f"lab/tree/{name}" if frontend == "lab" else f"notebooks/{name}"
        return f"http://{host}:{self.port}/{path}?token={self.token}"

    def write_notebook(self, name: str, cells: list[str]) -> Path:
        """A notebook of code ``cells`` in the server's root, on the test kernel spec."""
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (venice_nb tests)",
            "language": "python",
        }
        nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
        path = self.root / name
        nbformat.write(nb, path)
        return path

    def kernels(self) -> list[dict[str, Any]]:
        """The running kernels. Jupyter Server answers 500 while a kernel is half-started
        (its ``last_activity`` not set yet): asked again, for up to 30 s."""
        deadline = time.monotonic() + 30
        while True:
            try:
                return list(self.api("GET", "kernels"))
            except urllib.error.HTTPError as exc:
                if exc.code != 500 or time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def shut_down_kernels(self) -> None:
        for kernel in self.kernels():
            self.api("DELETE", f"kernels/{kernel['id']}")
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}")


@contextlib.contextmanager
def running_jupyter(
    base: Path, extra_args: Sequence[str] = (), needs: Sequence[str] = ("jupyterlab", "notebook")
) -> Iterator[JupyterServer]:
    """A started :class:`JupyterServer` with venice_nb's extension, stopped afterwards; the test
    is skipped when a frontend package in ``needs`` is missing, failed when the extension is not
    installed."""
    import pytest

    for name in needs:
        pytest.importorskip(name)
    try:
        installed_labextension()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    server = JupyterServer(base, {}, extra_args)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def voila_server(notebook: Path, workdir: Path) -> Iterator[str]:
    """Voila serving ``notebook`` on 127.0.0.1, with venice_nb's extension where ``pip install``
    put it; yields the page's URL."""
    env = {
        **os.environ,
        "JUPYTER_DATA_DIR": str(workdir / "jupyter-data"),
        "JUPYTER_PATH": _jupyter_path(installed_labextension()),
    }
    port = _free_port()
    log = (workdir / "voila.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            str(notebook),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            "--VoilaConfiguration.file_allowlist=[]",
        ],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Voila did not start: {(workdir / 'voila.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
