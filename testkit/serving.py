"""A real ``venice-nb serve`` in a subprocess for the benchmarks: a free port, the process, its
base URL, waiting until it answers, and its memory as the kernel counts it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(**env: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m venice_nb serve`` on a free port with ``env`` added; (process, base URL)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "venice_nb", "serve", "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}/api/v1"


async def wait_ready(base: str, bound: float = 120.0) -> None:
    """Wait until ``GET /models`` answers 200."""
    deadline = time.monotonic() + bound
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(f"{base}/models") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"venice-nb serve did not answer within {bound:g} s")
            await asyncio.sleep(0.2)


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) memory of ``pid`` in MB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]
