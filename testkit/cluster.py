"""What tests/test_cluster.py and benchmarks/bench_cluster.py share: a local Dask cluster whose
workers reach the rate-limited stub, the worker to kill, a watch on the output folder that sees
a file written twice, and the pacing figure."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

KEY = "test-key"


@contextmanager
def local_cluster(base_url: str, *, workers: int = 2) -> Iterator[Any]:
    """A ``LocalCluster`` of ``workers`` processes (one thread each) and its Client, the workers
    pointed at ``base_url``: they inherit this process's environment (VENICE_BASE_URL,
    VENICE_API_KEY, and PYTHONPATH, so they import this venice_nb)."""
    from distributed import Client, LocalCluster

    saved = {k: os.environ.get(k) for k in ("VENICE_BASE_URL", "VENICE_API_KEY")}
    os.environ["VENICE_BASE_URL"], os.environ["VENICE_API_KEY"] = base_url, KEY
    try:
        with (
            LocalCluster(
                n_workers=workers,
                processes=True,
                threads_per_worker=1,
                dashboard_address=None,
                silence_logs=40,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def limiter_worker(client: Any) -> tuple[str, int]:
    """The address and pid of the worker that holds a job's rate limiter (the actor)."""
    held = client.who_has()
    keys = [k for k in held if str(k).startswith("ClusterLimiter") and held[k]]
    if not keys:
        raise LookupError("no ClusterLimiter on the cluster: is a job running?")
    address = held[keys[0]][0]
    return address, int(client.run(os.getpid)[address])


def pacing_efficiency(accepted_at: list[float], *, limit: int, window: float) -> float:
    """The fastest a fixed window allows over the time the stub admitted requests: ``n`` requests
    need ``ceil(n / limit) - 1`` full windows after the first request."""
    if len(accepted_at) < 2:
        return 1.0
    ideal = (math.ceil(len(accepted_at) / limit) - 1) * window
    return ideal / (max(accepted_at) - min(accepted_at))


class WriteWatch:
    """Polls a folder and remembers every inode each name had: an atomic write that replaced a
    finished file shows as a second inode (a file written twice)."""

    def __init__(self, folder: Path, every: float = 0.01) -> None:
        self.folder = folder
        self.every = every
        self.inodes: dict[str, set[int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _look(self) -> None:
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return
        for entry in entries:
            if not entry.name.startswith("."):
                try:
                    self.inodes.setdefault(entry.name, set()).add(entry.inode())
                except OSError:
                    pass

    def _run(self) -> None:
        while not self._stop.is_set():
            self._look()
            time.sleep(self.every)

    def __enter__(self) -> WriteWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._look()

    @property
    def written_twice(self) -> list[str]:
        return sorted(name for name, seen in self.inodes.items() if len(seen) > 1)


def leftovers(folder: Path) -> list[str]:
    """Temporary files (``.name.XXXX.part``) left in ``folder``: half-written files."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))
