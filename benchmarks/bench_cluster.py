"""Benchmark of batches on a Dask cluster against a loopback stub that enforces the service's
rate limit across every client.

Run: ``python benchmarks/bench_cluster.py`` (about 7 minutes: each 600-item run needs 90 s of
windows; ``--quick`` runs 120 items per run instead). Needs ``venice-nb[dask]``.

The stub (testkit/ratelimit.py) accepts 60 requests per 10 s window (fixed, opening at the first
request after the last one closed) and answers 429 past it, 50 ms per request; it counts every
request per text or file. Each run starts its own ``LocalCluster`` of worker processes (one
thread each) whose workers import this checkout. Targets (issue 20):

- 600 speech items over 2 and over 4 worker processes: throughput at least 85 % of the limit,
  at most 2 answers of 429 in all, no item lost, no file written twice;
- one worker process (the one holding the shared limiter) killed with SIGKILL at about half:
  the job completes, items lost 0, files written twice 0, a rerun sends 0 requests;
- 200 transcriptions over 2 workers: every transcript present.

Throughput is items per second of the whole call (cluster already started) against 6 per
second; a fresh window lets 60 through at once, so 600 items can finish no sooner than when the
tenth window opens (90 s). "Pacing" is that floor over the time the stub admitted requests.
"Written twice" is seen by a thread that polls the output folder for a file whose inode changed.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # testkit/ (shared with the tests) and venice_nb from this checkout
os.environ["PYTHONPATH"] = os.pathsep.join(  # ... and in the Dask worker processes
    [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)

from testkit.audio_fixtures import wav_bytes  # noqa: E402
from testkit.cluster import (  # noqa: E402
    WriteWatch,
    leftovers,
    limiter_worker,
    local_cluster,
    pacing_efficiency,
)
from testkit.ratelimit import RateLimitedStub, stub_audio  # noqa: E402
from venice_nb import speak_many, transcribe_many  # noqa: E402

LIMIT = 60
WINDOW = 10.0
LATENCY = 0.05


def row(name: str, measured: str, target: str, ok: bool | None) -> None:
    verdict = "" if ok is None else "PASS" if ok else "MISS"
    print(f"{name:<64} {measured:>24}   {target:<8} {verdict}", flush=True)


def lines(n: int, tag: str) -> dict[str, str]:
    return {f"{tag}-{i:04d}": f"Cluster item number {i} of run {tag}." for i in range(n)}


def lost(folder: Path, items: dict[str, str]) -> int:
    """Items whose file is missing or not the stub's exact answer."""
    bad = 0
    for name, text in items.items():
        path = folder / f"{name}.mp3"
        if not path.is_file() or path.read_bytes() != stub_audio(text, "af_heart", "mp3"):
            bad += 1
    return bad


def speech_run(stub: RateLimitedStub, items: int, workers: int, root: Path) -> None:
    stub.reset_counts()
    time.sleep(WINDOW)  # the last run's window closes: each run starts on a fresh one
    todo = lines(items, f"w{workers}")
    out = root / f"speech-{workers}"
    with local_cluster(stub.base_url, workers=workers) as client:
        started = time.monotonic()
        with WriteWatch(out) as watch:
            report = speak_many(todo, out_dir=out, scheduler=client, progress=False)
        elapsed = time.monotonic() - started
    floor = (math.ceil(items / LIMIT) - 1) * WINDOW
    throughput = items / elapsed
    label = f"{items} items, {workers} workers"
    row(f"{label}: time (floor {floor:.0f} s)", f"{elapsed:.1f} s", "", None)
    row(
        f"{label}: throughput",
        f"{throughput:.2f}/s = {throughput / (LIMIT / WINDOW):.0%} of limit",
        ">= 85 %",
        throughput >= 0.85 * LIMIT / WINDOW,
    )
    pacing = pacing_efficiency(stub.accepted_at, limit=LIMIT, window=WINDOW)
    row(f"{label}: pacing (floor / admitted span)", f"{pacing:.0%}", "", None)
    row(f"{label}: answers of 429", str(stub.rejected_429), "<= 2", stub.rejected_429 <= 2)
    missing = lost(out, todo) + len(leftovers(out))
    row(f"{label}: items lost or half written", str(missing), "0", missing == 0 and report.ok)
    twice = len(watch.written_twice)
    row(f"{label}: files written twice", str(twice), "0", twice == 0)
    sent_twice = sum(1 for n in stub.served.values() if n > 1)
    row(f"{label}: items answered twice", str(sent_twice), "", None)


def kill_run(stub: RateLimitedStub, items: int, root: Path) -> None:
    stub.reset_counts()
    time.sleep(WINDOW)
    todo = lines(items, "kill")
    out = root / "speech-kill"
    killed: list[str] = []
    with local_cluster(stub.base_url, workers=2) as client:

        def kill_at_half() -> None:
            while sum(stub.served.values()) < items // 2:
                time.sleep(0.01)
            address, pid = limiter_worker(client)
            os.kill(pid, signal.SIGKILL)
            killed.append(address)

        killer = threading.Thread(target=kill_at_half, daemon=True)
        killer.start()
        started = time.monotonic()
        with WriteWatch(out) as watch:
            report = speak_many(todo, out_dir=out, scheduler=client, progress=False)
        elapsed = time.monotonic() - started
        killer.join(5)
        sent = sum(stub.attempts.values())
        again = speak_many(todo, out_dir=out, scheduler=client, progress=False)
        rerun = sum(stub.attempts.values()) - sent
    label = f"{items} items, limiter's worker killed at half"
    row(f"{label}: job completed", f"{report.ok} in {elapsed:.1f} s", "True", report.ok)
    missing = lost(out, todo) + len(leftovers(out))
    row(f"{label}: items lost or half written", str(missing), "0", missing == 0)
    twice = len(watch.written_twice)
    row(f"{label}: files written twice", str(twice), "0", twice == 0)
    sent_twice = sum(1 for n in stub.served.values() if n > 1)
    row(f"{label}: items answered twice (lost in flight)", str(sent_twice), "", None)
    row(f"{label}: answers of 429", str(stub.rejected_429), "", None)
    row(f"{label}: rerun requests", str(rerun), "0", rerun == 0 and len(again.skipped) == items)


def transcription_run(stub: RateLimitedStub, items: int, root: Path) -> None:
    stub.reset_counts()
    time.sleep(WINDOW)
    sources = root / "calls"
    sources.mkdir()
    audio = wav_bytes(0.5)
    for i in range(items):
        (sources / f"call-{i:04d}.wav").write_bytes(audio)
    out = root / "transcripts"
    with local_cluster(stub.base_url, workers=2) as client:
        started = time.monotonic()
        report = transcribe_many(sources, out_dir=out, scheduler=client, progress=False)
        elapsed = time.monotonic() - started
    present = sum(1 for i in range(items) if (out / f"call-{i:04d}.json").is_file())
    label = f"{items} transcriptions, 2 workers"
    ok = present == items and report.ok
    row(f"{label}: transcripts present", f"{present} in {elapsed:.1f} s", str(items), ok)
    row(f"{label}: answers of 429", str(stub.rejected_429), "<= 2", stub.rejected_429 <= 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="120 items per run, not 600")
    args = parser.parse_args()
    items = 120 if args.quick else 600
    stub = RateLimitedStub(limit=LIMIT, window=WINDOW, latency=LATENCY)
    print(f"stub: {LIMIT} requests per {WINDOW:g} s window (fixed), {LATENCY * 1000:.0f} ms each")
    with stub.in_thread(), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for workers in (2, 4):
            speech_run(stub, items, workers, root)
        kill_run(stub, items, root)
        transcription_run(stub, 200 if not args.quick else 60, root)


if __name__ == "__main__":
    main()
