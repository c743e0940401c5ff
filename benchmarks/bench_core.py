"""Benchmarks of the async core against a loopback stand-in of the service.

Run: ``python benchmarks/bench_core.py``. Prints figures measured side by side in one run and
the ratio each target is about (see issue 2):

- stream_long_text over a 2,000-word text, 300 ms per segment, concurrency 4: wall time against
  the ideal ceil(segments/4) x 300 ms (target <= 1.15x) and against sequential calls (>= 3.5x);
- time to the first audio byte against one segment's latency (target <= 1.2x);
- per-request overhead of create_speech against a bare aiohttp request (target <= 1.2x).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # testkit/ (shared with the tests) and venice_nb from this checkout

from testkit.standin import StandIn  # noqa: E402
from venice_nb import VeniceClient  # noqa: E402
from venice_nb.core.segments import split_text  # noqa: E402

LATENCY = 0.3
WORDS = 2000
SENTENCE = "The quick brown fox jumps over the lazy dog near the quiet river bank today."


def long_text(words: int) -> str:
    per = len(SENTENCE.split())
    return " ".join([SENTENCE] * math.ceil(words / per))


def row(name: str, measured: str, target: str, ok: bool) -> None:
    print(f"{name:<48} {measured:>26}   {target:<16} {'PASS' if ok else 'MISS'}")


async def main() -> int:
    text = long_text(WORDS)
    segments = len(split_text(text, max_words=100))
    async with StandIn(latency=LATENCY) as server:
        async with VeniceClient(api_key="test-key", base_url=server.base_url) as client:
            await client.models.list("tts")  # warm the catalog cache, as any real session has
            # Warm the stand-in's audio cache so its encoding time does not count.
            server.latency = 0.0
            async for _ in client.audio.stream_long_text(
                input=text, model="tts-kokoro", voice="af_heart"
            ):
                pass
            server.latency = LATENCY

            started = time.perf_counter()
            first_byte = None
            async for _chunk in client.audio.stream_long_text(
                input=text, model="tts-kokoro", voice="af_heart", max_concurrency=4
            ):
                if first_byte is None:
                    first_byte = time.perf_counter() - started
            parallel = time.perf_counter() - started

            started = time.perf_counter()
            async for _ in client.audio.stream_long_text(
                input=text, model="tts-kokoro", voice="af_heart", max_concurrency=1
            ):
                pass
            sequential = time.perf_counter() - started

            server.latency = 0.0
            body = {"input": "Hello there.", "model": "tts-kokoro", "voice": "af_heart"}
            headers = {"Authorization": "Bearer test-key"}
            url = server.base_url + "/audio/speech"
            async with aiohttp.ClientSession() as bare:
                for _ in range(20):  # warm both paths
                    await client.audio.create_speech(**body)
                    async with bare.post(url, json=body, headers=headers) as r:
                        await r.read()
                sdk_times, bare_times = [], []
                for _ in range(200):  # interleaved, so noise hits both alike
                    t = time.perf_counter()
                    await client.audio.create_speech(**body)
                    sdk_times.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    async with bare.post(url, json=body, headers=headers) as r:
                        await r.read()
                    bare_times.append(time.perf_counter() - t)

    ideal = math.ceil(segments / 4) * LATENCY
    sdk = statistics.median(sdk_times)
    raw = statistics.median(bare_times)
    assert first_byte is not None
    print(
        f"stream_long_text: {WORDS} words -> {segments} segments, {LATENCY * 1000:.0f} ms per segment, concurrency 4\n"
    )
    print(f"{'measure':<48} {'figure':>26}   {'target':<16} result")
    ok = [
        parallel / ideal <= 1.15,
        sequential / parallel >= 3.5,
        first_byte / LATENCY <= 1.2,
        sdk / raw <= 1.2,
    ]
    row(
        "wall time / ideal ceil(n/4) x 300 ms",
        f"{parallel:.3f}s / {ideal:.3f}s = {parallel / ideal:.3f}x",
        "<= 1.15x",
        ok[0],
    )
    row(
        "speed-up over sequential calls",
        f"{sequential:.3f}s / {parallel:.3f}s = {sequential / parallel:.2f}x",
        ">= 3.5x",
        ok[1],
    )
    row(
        "time to first byte / one segment",
        f"{first_byte:.3f}s / {LATENCY:.3f}s = {first_byte / LATENCY:.3f}x",
        "<= 1.2x",
        ok[2],
    )
    row(
        "create_speech / bare aiohttp (median of 200)",
        f"{sdk * 1000:.2f}ms / {raw * 1000:.2f}ms = {sdk / raw:.3f}x",
        "<= 1.2x",
        ok[3],
    )
    return 0 if all(ok) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
