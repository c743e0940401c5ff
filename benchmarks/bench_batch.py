"""Benchmark of batches against a loopback stub that enforces the service's rate limit.

Run: ``python benchmarks/bench_batch.py`` (about 85 s; ``--hard-kill`` adds a SIGKILL run, whose
answers in flight at the kill are lost, so those items, at most ``concurrency``, are sent again;
``--window sliding`` makes the stub count a sliding window instead of a fixed one).
The stub (testkit/ratelimit.py) accepts 60 speech requests per 10 s window and answers 429 past
it, 50 ms per request; it counts every request per text. Targets (issue 14):

- 300 items in one run: no item lost or done twice, at most 2 answers of 429 in all, throughput
  at least 90 % of the limit;
- ``venice-nb speak --batch`` in a subprocess, stopped with SIGTERM at about half, then run again:
  the rest completes, no item sent twice, none lost.

Throughput is items per second of the whole run; since a fresh window lets 60 requests through at
once, the fastest any client can finish 300 is when the fifth window opens (40 s), so the table
also gives the run's time against that floor.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # testkit/ (shared with the tests) and venice_nb from this checkout

from testkit.ratelimit import RateLimitedStub, stub_audio  # noqa: E402
from venice_nb import VeniceClient  # noqa: E402
from venice_nb.core.batch import plan_batch, run_batch  # noqa: E402

ITEMS = 300
LIMIT = 60
WINDOW = 10.0
LATENCY = 0.05
CONCURRENCY = 4
KEY = "bench-key"


def texts() -> list[str]:
    return [f"Batch item number {i}, spoken once and only once." for i in range(ITEMS)]


def row(name: str, measured: str, target: str, ok: bool | None) -> None:
    verdict = "" if ok is None else "PASS" if ok else "MISS"
    print(f"{name:<52} {measured:>30}   {target:<14} {verdict}")


def check_files(out_dir: Path, stub: RateLimitedStub, items: list[str]) -> tuple[int, int, int]:
    """(files missing or not whole, items answered more than once, items sent more than once)."""
    names = {f"{i + 1:04d}": t for i, t in enumerate(items)}
    files = {p.name.split("-")[0]: p for p in out_dir.glob("*.mp3")}
    bad = sum(
        1
        for key, text in names.items()
        if key not in files or files[key].read_bytes() != stub_audio(text, "af_heart", "mp3")
    )
    return (
        bad,
        sum(1 for t in items if stub.served[t] > 1),
        sum(1 for t in items if stub.attempts[t] > 1),
    )


async def full_run(work: Path, kind: Literal["fixed", "sliding"]) -> list[bool]:
    items = texts()
    async with RateLimitedStub(
        limit=LIMIT, window=WINDOW, kind=kind, latency=LATENCY, api_key=KEY
    ) as stub:
        async with VeniceClient(api_key=KEY, base_url=stub.base_url) as client:
            plan = plan_batch(items, out_dir=work / "full")
            started = time.monotonic()
            result = await run_batch(client, plan, concurrency=CONCURRENCY)
            elapsed = time.monotonic() - started
    bad, twice, resent = check_files(work / "full", stub, items)
    rate = ITEMS / elapsed
    limit = LIMIT / WINDOW
    floor = (math.ceil(ITEMS / LIMIT) - 1) * WINDOW
    print(
        f"\n1. {ITEMS} items, one run: stub {LIMIT} requests / {WINDOW:g} s ({kind} window, 429 "
        f"past it), {LATENCY * 1000:.0f} ms per request, concurrency {CONCURRENCY}\n"
    )
    ok = [bad == 0 and twice == 0, stub.rejected_429 <= 2, rate >= 0.9 * limit]
    row("items lost / done twice", f"{bad} / {twice}", "0 / 0", ok[0])
    row("answers of 429", f"{stub.rejected_429}", "<= 2", ok[1])
    row(
        "throughput / limit",
        f"{rate:.2f}/s / {limit:.2f}/s = {rate / limit:.0%}",
        ">= 90%",
        ok[2],
    )
    row("run time / fastest the limit allows", f"{elapsed:.1f} s / {floor:.1f} s", "", None)
    row(
        "requests sent / items (items sent twice)",
        f"{result.requests} / {ITEMS} ({resent})",
        "",
        None,
    )
    row("holds before a window reset (429s avoided)", f"{result.slowdowns}", "", None)
    return ok


async def killed_and_rerun(
    work: Path, sig: signal.Signals, kind: Literal["fixed", "sliding"]
) -> list[bool]:
    items = texts()
    batch = work / f"rows-{sig.name}.csv"
    batch.write_text("text\n" + "\n".join(f'"{t}"' for t in items) + "\n", "utf-8")
    out_dir = work / f"killed-{sig.name}"
    log = work / f"stderr-{sig.name}.txt"
    async with RateLimitedStub(
        limit=LIMIT, window=WINDOW, kind=kind, latency=LATENCY, api_key=KEY
    ) as stub:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "VENICE_BASE_URL": stub.base_url,
            "VENICE_API_KEY": KEY,
        }
        argv = [sys.executable, "-m", "venice_nb", "speak", "--batch", str(batch)]
        argv += ["--out-dir", str(out_dir), "--concurrency", str(CONCURRENCY)]

        async def run() -> asyncio.subprocess.Process:
            with log.open("a") as err:
                return await asyncio.create_subprocess_exec(
                    *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=err
                )

        started = time.monotonic()
        proc = await run()
        half = asyncio.ensure_future(stub.wait_served(ITEMS // 2))
        exited = asyncio.ensure_future(proc.wait())
        await asyncio.wait([half, exited], return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            half.cancel()
            print(log.read_text(), file=sys.stderr)
            raise SystemExit(f"the batch exited early with status {exited.result()}")
        proc.send_signal(sig)
        first_code = await exited
        stopped = time.monotonic() - started
        expected = {f"{i + 1:04d}": t for i, t in enumerate(items)}
        visible = list(out_dir.glob("*.mp3"))
        written = len(visible)
        partial = sum(
            1
            for p in visible
            if p.read_bytes() != stub_audio(expected[p.name.split("-")[0]], "af_heart", "mp3")
        )
        temporary = len([p for p in out_dir.iterdir() if p.name.endswith(".part")])
        served_first = sum(stub.served.values())
        proc = await run()
        second_code = await proc.wait()
        total = time.monotonic() - started
    bad, twice, resent = check_files(out_dir, stub, items)
    graceful = sig == signal.SIGTERM
    how = "SIGTERM (stops like Ctrl-C)" if graceful else "SIGKILL (no chance to stop)"
    print(
        f"\n{2 if graceful else 3}. venice-nb speak --batch ({ITEMS} rows) in a subprocess, {how} "
        "at about half, then run again\n"
    )
    row("stopped after / exit status", f"{stopped:.1f} s / {first_code}", "", None)
    row("files written when stopped / answers sent", f"{written} / {served_first}", "", None)
    row("files that look complete but are not", f"{partial}", "0", partial == 0)
    row("hidden .part files left (removed by the rerun)", f"{temporary}", "", None)
    row("rerun exit status / total time", f"{second_code} / {total:.1f} s", "0", second_code == 0)
    row("items lost", f"{bad}", "0", bad == 0)
    target, verdict = ("0", twice == 0) if graceful else ("", None)
    row("items done twice (answered twice)", f"{twice}", target, verdict)
    row("items sent twice", f"{resent}", target, resent == 0 if graceful else None)
    row("answers of 429", f"{stub.rejected_429}", "<= 2", stub.rejected_429 <= 2)
    checks = [partial == 0, second_code == 0, bad == 0, stub.rejected_429 <= 2]
    return checks + ([twice == 0, resent == 0] if graceful else [])


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hard-kill", action="store_true", help="also kill a run with SIGKILL and report it"
    )
    parser.add_argument(
        "--window",
        choices=["fixed", "sliding"],
        default="fixed",
        help="how the stub counts: a fixed window (as the service's reset header describes) or "
        "a sliding one",
    )
    args = parser.parse_args()
    print(f"{'measure':<52} {'figure':>30}   {'target':<14} result")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ok = await full_run(work, args.window)
        ok += await killed_and_rerun(work, signal.SIGTERM, args.window)
        if args.hard_kill:
            await killed_and_rerun(work, signal.SIGKILL, args.window)  # informational: no target
    return 0 if all(ok) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
