"""Benchmark of long-form transcription (venice_nb.longform), the targets of issue 19.

Run: ``python benchmarks/bench_longform.py`` (all parts, about 25 minutes on 2 cores), or name
parts: ``python benchmarks/bench_longform.py accuracy timing memory video resume``.

- ``accuracy``: a recording of ``--minutes`` (40) of known sentences by three voices with pauses
  of 0.5-2.5 s, made by the offline engine, transcribed three ways side by side: cut by hand at
  known silences every 10 minutes and sent as the original PCM (WAV), the same pieces as our
  compact mp3, and automatically (``transcribe_file``). Word error rates, and how far each
  sentence's first word lies from its true start (all sentences, those right after each cut, the
  last ones for drift). Targets: automatic WER within 1 point of hand-cut; mp3 within 0.5 point
  of WAV; every start within 0.3 s.
- ``timing``: an hour of tone speech against a loopback stub that answers each piece after
  ``--delay`` s: wall time against preparation time + ceil(pieces / concurrency) x delay
  (target <= 1.15x), and how much had been decoded when the first piece left (target < half).
- ``memory``: a 3-hour file transcribed in a child process against that stub: peak RSS above the
  process's start (target <= 400 MB).
- ``video``: a one-hour 1280x720 mp4 with an audio track: preparation time, decoding, cutting and
  encoding every piece (target <= 60 s on two cores).
- ``resume``: ``venice-nb transcribe`` on an hour, killed (SIGKILL) once half the pieces are
  answered, then run again: pieces answered in the first run and sent again (target 0).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # testkit/ (shared with the tests) and venice_nb from this checkout

import numpy as np  # noqa: E402

from testkit.longform import (  # noqa: E402
    RATE,
    ToneStub,
    speech_recording,
    start_errors,
    tone_recording,
    write_audio,
)
from testkit.quality import word_error_rate  # noqa: E402
from venice_nb import VeniceClient  # noqa: E402
from venice_nb.core.types import AudioTranscriptionResponse  # noqa: E402
from venice_nb.longform import cut_pieces, encode_mp3, open_media, transcribe_file  # noqa: E402
from venice_nb.longform.run import _merge, _Prepared  # noqa: E402

TOKEN = "bench-longform-token-0123456789"


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tone_hour(folder: Path, minutes: float, name: str, **kw: Any) -> Path:
    """``minutes`` of tone sentences, written piecewise (never whole in memory) as FLAC."""
    import av

    path = folder / name
    block, _ = tone_recording(600, seed=3)
    total = int(minutes * 60 * RATE)
    with av.open(str(path), "w", format="flac") as out:
        st = out.add_stream("flac", rate=RATE, layout="mono")
        pos = 0
        while pos < total:
            part = block[: min(block.size, total - pos)]
            frame = av.AudioFrame.from_ndarray(part.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = RATE
            frame.pts = pos
            for packet in st.encode(frame):
                out.mux(packet)
            pos += part.size
        for packet in st.encode(None):
            out.mux(packet)
    return path


# -- accuracy ------------------------------------------------------------------------------------
async def accuracy(minutes: float) -> None:
    from venice_nb.local import LocalConfig, LocalServer

    folder = Path(tempfile.mkdtemp(prefix="bench-longform-"))
    config = LocalConfig(data_dir=folder / "data", token=TOKEN)
    with LocalServer(config) as server:
        async with VeniceClient(api_key=TOKEN, base_url=server.base_url, timeout=1800) as client:
            count = int(minutes * 60 / 5.2)
            samples, truth = await speech_recording(client, count)
            while samples.size / RATE < minutes * 60:
                count += 8
                samples, truth = await speech_recording(client, count)
            path = write_audio(folder / "meeting.flac", samples, fmt="flac", codec="flac")
            seconds = samples.size / RATE
            reference = " ".join(s.text for s in truth)
            print(
                f"recording: {seconds / 60:.1f} min, {len(truth)} sentences, {path.stat().st_size / 1e6:.1f} MB FLAC"
            )

            # Cut by hand at known silences: in the pause before the first sentence past each
            # 10-minute mark.
            cuts = [0]
            for mark in range(600, int(seconds), 600):
                nxt = next(i for i, s in enumerate(truth) if s.start > mark)
                cuts.append(int((truth[nxt].start - 0.3) * RATE))
            cuts.append(samples.size)
            cut_starts = [c / RATE for c in cuts[1:-1]]

            async def by_hand(encode: str) -> tuple[AudioTranscriptionResponse, float]:
                started = time.monotonic()
                outcomes = []
                for k, (a, b) in enumerate(itertools.pairwise(cuts)):
                    piece = samples[a:b]
                    if encode == "wav":
                        from testkit.quality import wav_bytes

                        body = wav_bytes(piece.astype(np.float32) / 32768, RATE)
                    else:
                        body = encode_mp3(piece)
                    answer = await client.audio.transcribe(file=body, timestamps=True)
                    assert isinstance(answer, AudioTranscriptionResponse)
                    outcomes.append(
                        (_Prepared(k, a, b - a, 0, None, None, None, False), answer, None)
                    )
                merged, _ = _merge(outcomes, seconds)
                return merged, time.monotonic() - started

            started = time.monotonic()
            auto = await transcribe_file(client, path, cache=False)
            auto_s = time.monotonic() - started
            wav, wav_s = await by_hand("wav")
            mp3, mp3_s = await by_hand("mp3")

    print(
        "\n| run | pieces | WER | starts within 0.3 s | first word misheard | start error median / "
        "p95 / max | first sentence after each cut | last 10 (drift) | time |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, result, took, pieces, starts in (
        ("by hand, WAV", wav, wav_s, len(cuts) - 1, cut_starts),
        ("by hand, mp3 48 kb/s", mp3, mp3_s, len(cuts) - 1, cut_starts),
        ("automatic (transcribe_file)", auto, auto_s, auto.pieces, auto.piece_starts[1:]),
    ):
        errors = start_errors(result.words, truth)
        # The first sentence after each cut.
        after = [
            next(e for s, e in zip(truth, errors, strict=True) if s.start >= c) for c in starts
        ]
        wer = word_error_rate(reference, result.text)
        heard = [e for e in errors if math.isfinite(e)]
        last = [e for e in errors[-10:] if math.isfinite(e)]
        print(
            f"| {label} | {pieces} | {wer * 100:.2f} % | {sum(e <= 0.3 for e in errors)}/"
            f"{len(errors)} | {len(errors) - len(heard)} | {np.median(heard):.2f} / "
            f"{np.percentile(heard, 95):.2f} / {max(heard):.2f} s | "
            f"{', '.join(f'{e:.2f}' for e in after) or '-'} | mean {np.mean(last):.3f} s | "
            f"{took:.0f} s |"
        )
    print(
        "\ntargets: automatic WER within 1 point of by-hand WAV; mp3 within 0.5 point of WAV; "
        "every start within 0.3 s"
    )


# -- timing --------------------------------------------------------------------------------------
def prepare_only(path: Path, max_piece_seconds: float = 600) -> tuple[float, int]:
    """Seconds to decode, cut and encode every piece of ``path`` (no sending); pieces."""
    started = time.monotonic()
    with open_media(path) as media:
        count = 0
        for piece in cut_pieces(media.samples(), max_piece_seconds=max_piece_seconds):
            encode_mp3(piece.samples[piece.lead() :])
            count += 1
    return time.monotonic() - started, count


async def timing(delay: float, concurrency: int, minutes: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-longform-"))
    path = tone_hour(folder, minutes, "hour.flac")
    prep, pieces = prepare_only(path)
    async with ToneStub(deaf=True, delay=delay) as stub:
        async with VeniceClient(api_key=TOKEN, base_url=stub.base_url) as client:
            first: list[float] = []

            def seen(p: Any) -> None:
                if p.requests and not first:
                    first.append(p.decoded_seconds)

            started = time.monotonic()
            result = await transcribe_file(
                client, path, concurrency=concurrency, cache=False, on_progress=seen
            )
            wall = time.monotonic() - started
    ideal = prep + math.ceil(pieces / concurrency) * delay
    print(
        f"\ntiming: {minutes:.0f} min, {pieces} pieces, concurrency {concurrency}, stub delay {delay:.0f} s: "
        f"preparation alone {prep:.1f} s; wall {wall:.1f} s against {ideal:.1f} s = "
        f"{wall / ideal:.2f}x (target <= 1.15x); first piece left with {first[0] / 60:.1f} of "
        f"{result.duration / 60:.0f} min decoded (target < half)"
    )


# -- memory --------------------------------------------------------------------------------------
def memory(hours: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-longform-"))
    path = tone_hour(folder, hours * 60, "long.flac")
    code = f"""
import asyncio, resource, sys
sys.path.insert(0, {str(ROOT)!r})
from benchmarks.bench_longform import rss_mb, TOKEN
from testkit.longform import ToneStub
from venice_nb import VeniceClient
from venice_nb.longform import transcribe_file
async def main():
    async with ToneStub(deaf=True, delay=0.5) as stub:
        async with VeniceClient(api_key=TOKEN, base_url=stub.base_url) as client:
            start = rss_mb()
            result = await transcribe_file(client, {str(path)!r}, cache=False)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{{start:.0f}} {{peak:.0f}} {{result.duration:.0f}} {{result.pieces}}")
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    start, peak, seconds, pieces = out.stdout.split()
    print(
        f"\nmemory: {float(seconds) / 3600:.1f} h ({path.stat().st_size / 1e6:.0f} MB FLAC), "
        f"{pieces} pieces: RSS {start} MB at start, peak {peak} MB = "
        f"+{float(peak) - float(start):.0f} MB (target <= 400 MB)"
    )


# -- video ---------------------------------------------------------------------------------------
def video(minutes: float) -> None:
    import av

    folder = Path(tempfile.mkdtemp(prefix="bench-longform-"))
    path = folder / "screen.mp4"
    block, _ = tone_recording(600, seed=9)
    made = time.monotonic()
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("mpeg4", rate=1)  # one frame a second: quick to make, as many bytes
        vs.width, vs.height, vs.pix_fmt, vs.bit_rate = 1280, 720, "yuv420p", 800_000
        aus = out.add_stream("aac", rate=44100, layout="stereo")
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=44100)
        total = int(minutes * 60)
        rng = np.random.default_rng(1)
        # A screen of 16 x 16 px blocks of flat colour (windows, text), as a recording of one has.
        blocks = rng.integers(0, 255, (45, 80, 3), dtype=np.uint8)
        img = np.ascontiguousarray(np.repeat(np.repeat(blocks, 16, axis=0), 16, axis=1))
        for second in range(total):
            off = (second * RATE) % block.size
            part = block[off : off + RATE]
            if part.size < RATE:
                part = np.pad(part, (0, RATE - part.size))
            frame = av.AudioFrame.from_ndarray(part.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = RATE
            frame.pts = second * RATE
            for f in resampler.resample(frame):
                for packet in aus.encode(f):
                    out.mux(packet)
            img[second % 720, :, :] = (second * 3) % 255  # a moving line
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = second
            for packet in vs.encode(vf):
                out.mux(packet)
        for packet in aus.encode(None):
            out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    made = time.monotonic() - made
    prep, pieces = prepare_only(path)
    print(
        f"\nvideo: {minutes:.0f} min 1280x720 mp4 ({path.stat().st_size / 1e6:.0f} MB, made in "
        f"{made:.0f} s): preparation {prep:.1f} s for {pieces} pieces (target <= 60 s)"
    )


# -- resume --------------------------------------------------------------------------------------
def resume(minutes: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-longform-"))
    path = tone_hour(folder, minutes, "meeting.flac")
    stub = ToneStub(deaf=True, delay=2.0)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VENICE_API_KEY": TOKEN,
        "VENICE_NB_CACHE_DIR": str(folder / "cache"),
    }
    argv = [
        sys.executable,
        "-m",
        "venice_nb",
        "transcribe",
        str(path),
        "--max-piece-seconds",
        "120",
        "--concurrency",
        "2",
        "--progress",
        "never",
        "--out",
        str(folder / "out.txt"),
    ]
    with stub.in_thread() as base_url:
        env["VENICE_BASE_URL"] = base_url
        pieces = math.ceil(minutes * 60 / 120)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while stub.answered < pieces // 2 and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first_answered = set(stub.answered_digests)
        first_sent = len(stub.digests)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
        del done
        again = stub.digests[first_sent:]
    twice = sum(d in first_answered for d in again)
    in_flight = len(set(stub.digests[:first_sent]) - first_answered)
    print(
        f"\nresume: {minutes:.0f} min in ~{pieces} pieces; killed after {len(first_answered)} "
        f"answered ({in_flight} in flight, lost with the process); the rerun sent "
        f"{len(again)}: answered pieces sent twice = {twice} (target 0)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "parts", nargs="*", default=["accuracy", "timing", "memory", "video", "resume"]
    )
    parser.add_argument("--minutes", type=float, default=40.0, help="accuracy recording length")
    parser.add_argument("--delay", type=float, default=10.0, help="timing: stub delay per piece")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--hours", type=float, default=3.0, help="memory: file length")
    parser.add_argument("--video-minutes", type=float, default=60.0)
    parser.add_argument("--resume-minutes", type=float, default=60.0)
    parser.add_argument("--timing-minutes", type=float, default=60.0)
    args = parser.parse_args()
    for part in args.parts:
        if part == "accuracy":
            asyncio.run(accuracy(args.minutes))
        elif part == "timing":
            asyncio.run(timing(args.delay, args.concurrency, args.timing_minutes))
        elif part == "memory":
            memory(args.hours)
        elif part == "video":
            video(args.video_minutes)
        elif part == "resume":
            resume(args.resume_minutes)
        else:
            parser.error(f"unknown part {part!r}")


if __name__ == "__main__":
    main()
