"""Load benchmark of ``venice-nb serve``: 8, 16 and 32 concurrent clients for 60 s each.

Run: ``python benchmarks/bench_load.py`` (needs the ``local`` extra; about 4 minutes;
``--seconds 20`` for a quicker look). The server runs as a real ``venice-nb serve`` subprocess;
every client loops over a mix of speech (short mp3, long wav, the same long text streamed as
opus, medium flac and aac) and transcription, behaving as a polite client: on a 429 it waits the
``Retry-After`` it was given. Prints, per load: answers, refusals and how fast they came, failures
and timeouts, p50/p95 latency, streamed against whole time for the same text; and the server's
RSS before and after. Targets (issue 10): no request waits past its timeout unanswered; excess
refused within 1 s with Retry-After; streamed at most 1.3x whole; RSS after at most 1.5x before.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testkit.serving import memory_mb, start_serve, wait_ready  # noqa: E402

TOKEN = "bench-load-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TIMEOUT_S = 120.0
LONG = (
    "Every morning the old fisherman walked down to the harbor and checked the weather. "
    "He decided whether his small wooden boat could leave before the storm arrived from the north. "
    "On calm days he sailed past the lighthouse and returned with a basket of silver fish. "
    "On rough days he stayed home, mended his nets, and told stories to anyone who would listen. "
    "The children of the village loved those stories more than anything else in the world. "
    "Years later they still told them to their own children, on rough days by the fire."
)
SHORT = "The quick brown fox jumps over the lazy dog."
MEDIUM = "On calm days he sailed past the lighthouse and returned with a basket of silver fish."


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    refusals: list[float] = field(default_factory=list)
    refusals_without_retry_after: int = 0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    timeouts: int = 0


async def request(
    s: aiohttp.ClientSession, base: str, kind: str, wav: bytes
) -> tuple[int, float, float | None]:
    """One request of ``kind``: (status, seconds to the whole answer, Retry-After if refused)."""
    start = time.perf_counter()
    if kind == "transcribe":
        form = aiohttp.FormData()
        form.add_field("file", wav, filename="clip.wav", content_type="audio/wav")
        form.add_field("model", "nvidia/parakeet-tdt-0.6b-v3")
        ctx = s.post(f"{base}/audio/transcriptions", data=form)
    else:
        text, fmt, streaming = {
            "short_mp3": (SHORT, "mp3", False),
            "medium_flac": (MEDIUM, "flac", False),
            "medium_aac": (MEDIUM, "aac", False),
            "long_whole": (LONG, "opus", False),
            "long_streamed": (LONG, "opus", True),
        }[kind]
        body = {
            "model": "tts-kokoro",
            "voice": "af_heart",
            "input": text,
            "response_format": fmt,
            "streaming": streaming,
        }
        ctx = s.post(f"{base}/audio/speech", json=body)
    async with ctx as r:
        await r.read()
        after = r.headers.get("Retry-After")
        return r.status, time.perf_counter() - start, float(after) if after else None


KINDS = (
    "long_whole",
    "short_mp3",
    "long_streamed",
    "transcribe",
    "medium_flac",
    "long_whole",
    "long_streamed",
    "medium_aac",
)


async def client_loop(
    index: int, base: str, wav: bytes, until: float, tally: Tally, s: aiohttp.ClientSession
) -> None:
    step = index
    while time.monotonic() < until:
        kind = KINDS[step % len(KINDS)]
        step += 1
        try:
            status, seconds, after = await asyncio.wait_for(
                request(s, base, kind, wav), timeout=TIMEOUT_S
            )
        except TimeoutError:
            tally.timeouts += 1
            continue
        except aiohttp.ClientError as exc:
            tally.failures[type(exc).__name__] += 1
            continue
        if status == 200:
            tally.latencies[kind].append(seconds)
        elif status == 429:
            tally.refusals.append(seconds)
            if after is None:
                tally.refusals_without_retry_after += 1
            await asyncio.sleep(after or 1.0)
        else:
            tally.failures[f"HTTP {status}"] += 1


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(
    proc: subprocess.Popen[bytes], base: str, clients_list: list[int], seconds: float
) -> int:
    """Warm the server up, run each load, print the table; 0 when every target is met."""
    ok = True
    await wait_ready(base)
    timeout = aiohttp.ClientTimeout(total=None)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(headers=AUTH, timeout=timeout, connector=connector) as s:
        body = {
            "model": "tts-kokoro",
            "voice": "af_heart",
            "input": MEDIUM,
            "response_format": "wav",
        }
        async with s.post(f"{base}/audio/speech", json=body) as r:
            wav = await r.read()
        for kind in ("long_whole", "long_streamed", "transcribe", "short_mp3"):
            await request(s, base, kind, wav)  # warm every path once
        before, _ = memory_mb(proc.pid)
        print(f"venice-nb serve (pid {proc.pid}), {os.cpu_count()} cores, {seconds:g} s per load")
        print(
            "| clients | answered | refused (max s to refuse) | failed / timed out | "
            "p50 / p95 s | streamed / whole (long text) |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for clients in clients_list:
            tally = Tally()
            until = time.monotonic() + seconds
            await asyncio.gather(
                *(client_loop(i, base, wav, until, tally, s) for i in range(clients))
            )
            answered = sum(len(v) for v in tally.latencies.values())
            every = [x for v in tally.latencies.values() for x in v]
            whole = statistics.mean(tally.latencies["long_whole"] or [float("nan")])
            streamed = statistics.mean(tally.latencies["long_streamed"] or [float("nan")])
            ratio = streamed / whole
            failed = sum(tally.failures.values())
            max_refusal = max(tally.refusals, default=0.0)
            print(
                f"| {clients} | {answered} | {len(tally.refusals)} ({max_refusal:.2f} s) | "
                f"{failed} / {tally.timeouts} | {pct(every, 0.5):.2f} / {pct(every, 0.95):.2f} | "
                f"{streamed:.2f} / {whole:.2f} = {ratio:.2f}x |"
            )
            if tally.failures:
                print(f"  failures: {dict(tally.failures)}")
            ok &= tally.timeouts == 0 and failed == 0
            ok &= max_refusal <= 1.0 and tally.refusals_without_retry_after == 0
            ok &= ratio <= 1.3
    after, peak = memory_mb(proc.pid)
    growth = after / before
    ok &= growth <= 1.5
    print(
        f"\nserver RSS: {before:.0f} MB before, {after:.0f} MB after = {growth:.2f}x "
        f"(target <= 1.5x); peak {peak:.0f} MB"
    )
    print(
        "targets: no timeouts or failures; refusals within 1 s, all with Retry-After; "
        f"streamed <= 1.3x whole; RSS <= 1.5x: {'met' if ok else 'NOT MET'}"
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each load (60)")
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[8, 16, 32], help="loads to run (8 16 32)"
    )
    args = parser.parse_args()
    proc, base = start_serve(VENICE_NB_SERVER_TOKEN=TOKEN)
    try:
        return asyncio.run(run(proc, base, args.clients, args.seconds))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
