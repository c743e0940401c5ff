"""Benchmark of the offline engine: real-time factors, cold start, throughput.

Run: ``python benchmarks/bench_local.py`` (needs the ``local`` extra). Prints one table of
measured figures next to their targets. Everything goes over HTTP to a ``LocalServer`` running
in this process (the embedded default), except the cold start, which runs in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from venice_nb.local import LocalConfig, LocalServer  # noqa: E402

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PARAGRAPH = (
    "Every morning the old fisherman walked down to the harbor, checked the weather, and "
    "decided whether his small wooden boat could safely leave before the storm arrived from the "
    "north. On calm days he sailed past the lighthouse and returned with a basket of silver fish. "
    "On rough days he stayed home, mended his nets, and told stories to anyone who would listen."
)
SENTENCE = "The quick brown fox jumps over the lazy dog while the farmer watches from the porch."


@dataclass
class Row:
    name: str
    measured: str
    target: str
    ok: bool | None


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


async def speech(
    s: aiohttp.ClientSession, base: str, text: str, voice: str, fmt: str = "wav"
) -> tuple[bytes, float]:
    start = time.perf_counter()
    body = {"input": text, "voice": voice, "response_format": fmt}
    async with s.post(f"{base}/audio/speech", json=body) as r:
        data = await r.read()
        if r.status != 200:
            raise RuntimeError(f"speech failed: {r.status} {data[:200]!r}")
    return data, time.perf_counter() - start


async def bench_speech_rtf(base: str, repeats: int) -> list[Row]:
    rows = []
    async with aiohttp.ClientSession(headers=AUTH) as s:
        await speech(s, base, "Warm up.", "am_adam")  # load piper
        await speech(s, base, "Warm up.", "ff_siwis")
        for voice, label in (
            ("am_adam", "piper, male"),
            ("af_heart", "piper, female pitch"),
            ("ff_siwis", "espeak-ng fr"),
        ):
            ratios = []
            for _ in range(repeats):
                data, elapsed = await speech(s, base, PARAGRAPH, voice)
                ratios.append(elapsed / wav_seconds(data))
            rtf = statistics.median(ratios)
            rows.append(
                Row(
                    f"speech RTF ({label}, {wav_seconds(data):.1f} s wav)",
                    f"{rtf:.3f}",
                    "<= 0.10",
                    rtf <= 0.1,
                )
            )
        seconds = wav_seconds((await speech(s, base, PARAGRAPH, "am_adam"))[0])
        mp3 = statistics.median(
            [
                (await speech(s, base, PARAGRAPH, "am_adam", "mp3"))[1] / seconds
                for _ in range(repeats)
            ]
        )
        rows.append(
            Row(
                "speech RTF (piper, male, mp3: the default format)",
                f"{mp3:.3f}",
                "<= 0.10",
                mp3 <= 0.1,
            )
        )
    return rows


async def bench_transcription_rtf(base: str, repeats: int) -> tuple[list[Row], bytes]:
    async with aiohttp.ClientSession(headers=AUTH) as s:
        audio, _ = await speech(s, base, PARAGRAPH, "bm_george")
        seconds = wav_seconds(audio)

        async def once(timestamps: bool) -> float:
            form = aiohttp.FormData()
            form.add_field("file", audio, filename="p.wav", content_type="audio/wav")
            form.add_field("model", "openai/whisper-large-v3")
            form.add_field("timestamps", "true" if timestamps else "false")
            start = time.perf_counter()
            async with s.post(f"{base}/audio/transcriptions", data=form) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"transcription failed: {r.status}")
            return time.perf_counter() - start

        await once(False)  # load whisper
        plain = statistics.median([await once(False) / seconds for _ in range(repeats)])
        words = statistics.median([await once(True) / seconds for _ in range(repeats)])
    return [
        Row(
            f"transcription RTF ({seconds:.1f} s, tiny.en int8)",
            f"{plain:.3f}",
            "<= 0.20",
            plain <= 0.2,
        ),
        Row("transcription RTF with word timestamps", f"{words:.3f}", "<= 0.20", words <= 0.2),
    ], audio


COLD_START = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import asyncio
    import venice_nb
    from venice_nb.session import new_client

    async def main():
        async with new_client() as client:
            stream = await client.audio.create_speech(
                input="Hello from the offline engine. This is the second sentence.",
                model="tts-kokoro", voice="af_heart", stream=True)
            async with stream:
                async for chunk in stream:
                    if chunk:
                        return time.perf_counter() - t0
    print(f"FIRST_BYTE {asyncio.run(main()):.3f}")
    """
)


def bench_cold_start(runs: int) -> list[Row]:
    env = {k: v for k, v in os.environ.items() if k not in ("VENICE_API_KEY", "VENICE_BASE_URL")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    figures, totals = [], []
    with tempfile.TemporaryDirectory() as data_dir:
        env["VENICE_NB_DATA_DIR"] = data_dir
        for _ in range(runs):
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", COLD_START],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            totals.append(time.perf_counter() - start)
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("FIRST_BYTE")), None)
            if line is None:
                raise RuntimeError(f"cold start run failed:\n{out.stderr[-2000:]}")
            figures.append(float(line.split()[1]))
    best, median = min(figures), statistics.median(figures)
    return [
        Row(
            f"cold start: import venice_nb -> first audio byte (median of {runs})",
            f"{median:.2f} s",
            "<= 3 s",
            median <= 3.0,
        ),
        Row(
            "cold start: whole process incl. interpreter (median)",
            f"{statistics.median(totals):.2f} s",
            "-",
            None,
        ),
        Row("cold start: best run", f"{best:.2f} s", "-", None),
    ]


async def bench_throughput(base: str, clients: int, per_client: int) -> list[Row]:
    voices = [
        "af_heart",
        "am_adam",
        "bf_emma",
        "bm_george",
        "af_bella",
        "am_michael",
        "bf_lily",
        "bm_lewis",
    ]
    audio_seconds = 0.0
    latencies: list[float] = []

    async def client(i: int, s: aiohttp.ClientSession) -> None:
        nonlocal audio_seconds
        for _ in range(per_client):
            data, elapsed = await speech(s, base, SENTENCE, voices[i % len(voices)])
            audio_seconds += wav_seconds(data)
            latencies.append(elapsed)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(headers=AUTH, connector=connector) as s:
        await speech(s, base, "Warm up.", "am_adam")
        start = time.perf_counter()
        await asyncio.gather(*(client(i, s) for i in range(clients)))
        wall = time.perf_counter() - start
    total = clients * per_client
    return [
        Row(
            f"throughput, {clients} concurrent clients ({total} x ~5 s speech, wav)",
            f"{total / wall:.2f} req/s",
            "-",
            None,
        ),
        Row(
            "throughput in audio",
            f"{audio_seconds / wall:.1f} audio-s/s",
            "-",
            None,
        ),
        Row(
            "latency per request under that load (median / max)",
            f"{statistics.median(latencies):.2f} / {max(latencies):.2f} s",
            "-",
            None,
        ),
    ]


def print_table(rows: list[Row]) -> None:
    width = max(len(r.name) for r in rows)
    mwidth = max(len(r.measured) for r in rows)
    print(f"{'measure':<{width}}  {'measured':>{mwidth}}  {'target':<16}  verdict")
    print(f"{'-' * width}  {'-' * mwidth}  {'-' * 16}  -------")
    for r in rows:
        verdict = "" if r.ok is None else ("ok" if r.ok else "MISSED")
        print(f"{r.name:<{width}}  {r.measured:>{mwidth}}  {r.target:<16}  {verdict}")


async def run_http(base: str, args: argparse.Namespace) -> list[Row]:
    rows = await bench_speech_rtf(base, args.repeats)
    asr_rows, _ = await bench_transcription_rtf(base, args.repeats)
    rows += asr_rows
    rows += await bench_throughput(base, args.clients, args.per_client)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per real-time-factor figure")
    parser.add_argument(
        "--cold-runs", type=int, default=3, help="fresh processes for the cold start"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=4)
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    cold = bench_cold_start(args.cold_runs)  # first, before this process loads anything heavy
    with (
        tempfile.TemporaryDirectory() as data_dir,
        LocalServer(LocalConfig(data_dir=Path(data_dir), token=TOKEN)) as server,
    ):
        rows = asyncio.run(run_http(server.base_url, args))
    print_table(rows + cold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
