"""Benchmark of the natural voices (Kokoro) of the offline engine.

Run: ``python benchmarks/bench_voices.py`` (needs the ``local`` extra; about 6 minutes, or
``--quick`` for the packs only). Prints, side by side in one run:

- import to first audio on the default voice, in a fresh process (target <= 3 s);
- Kokoro's real-time factor on a paragraph, against piper's (fast mode) (target <= 0.6);
- time to the first streamed audio of a two-sentence text (target <= 2 s);
- the engine's peak RSS with four concurrent requests (target < 1 GB);
- for every natural option (pack or blend): median pitch and the round-trip word error rate
  on a paragraph with numbers, heard by two listeners (targets: female >= 165 Hz, male <= 165 Hz,
  WER <= 8 %); the Spanish, French, Italian and Portuguese catalog voices through the
  multilingual model (WER <= 15 %); and Mandarin voices (character error rate, reported).

The English listeners: the server's own English model (tiny.en), and Whisper base, the
multilingual model the server ships, here for English too (a second server with
``VENICE_NB_WHISPER_MODEL=base``). The target is judged by base: tiny.en's own slips (it writes
"in twenty twenty-three" as "2,2023" and "$4,800" as "dollar 4,800" on voices base hears
exactly) are errors of the listener, not of the voice; both columns are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testkit.quality import (  # noqa: E402
    MANDARIN,
    ROMANCE,
    character_error_rate,
    wav_bytes,
    word_error_rate,
)
from testkit.serving import memory_mb, start_serve, wait_ready  # noqa: E402
from venice_nb.local.audio import ASR_RATE, estimate_f0, resample  # noqa: E402
from venice_nb.local.voices import NATURAL_OPTIONS  # noqa: E402

RATE = 24000
PARAGRAPH = (
    "The lighthouse keeper counted 1,274 ships in 2023, about 3 a day. "
    "A new lamp cost $4,800 and arrived on June 14th at 6:45 am. "
    "Visitors may climb the 112 steps between 10 and 4 on weekdays."
)
TWO_SENTENCES = "The first sentence arrives quickly. The second one follows while you listen."
FOREIGN_VOICES = (
    "ef_dora",
    "em_alex",
    "em_santa",
    "ff_siwis",
    "if_sara",
    "im_nicola",
    "pf_dora",
    "pm_alex",
    "pm_santa",
)


def import_to_first_audio() -> float:
    """Seconds from ``import venice_nb`` to the first audio byte, in a fresh process."""
    code = textwrap.dedent(
        """
        import time
        start = time.perf_counter()
        import asyncio, venice_nb
        from venice_nb import session
        async def main():
            async with session.new_client() as client:
                stream = await client.audio.create_speech(
                    input="Hello there.", model="tts-kokoro", voice="af_sky", stream=True
                )
                async for chunk in stream:
                    if chunk:
                        return time.perf_counter() - start
        print(asyncio.run(main()))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VENICE_NB_FAST": "0"}
    env.pop("VENICE_API_KEY", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


async def speak(
    s: aiohttp.ClientSession, base: str, text: str, voice: str, **extra: object
) -> np.ndarray:
    body = {"model": "tts-kokoro", "voice": voice, "input": text, "response_format": "pcm", **extra}
    async with s.post(f"{base}/audio/speech", json=body) as r:
        r.raise_for_status()
        return np.frombuffer(await r.read(), "<i2").astype(np.float32) / 32768.0


async def transcribe(
    s: aiohttp.ClientSession, base: str, samples: np.ndarray, language: str | None
) -> str:
    form = aiohttp.FormData()
    form.add_field("file", wav_bytes(samples, RATE), filename="s.wav", content_type="audio/wav")
    form.add_field("response_format", "text")
    if language:
        form.add_field("language", language)
    async with s.post(f"{base}/audio/transcriptions", data=form) as r:
        r.raise_for_status()
        return await r.text()


async def rtf(s: aiohttp.ClientSession, base: str, voice: str) -> float:
    await speak(s, base, "Warm up.", voice)
    start = time.perf_counter()
    samples = await speak(s, base, PARAGRAPH, voice)
    return (time.perf_counter() - start) / (samples.size / RATE)


async def first_streamed_audio(s: aiohttp.ClientSession, base: str) -> float:
    body = {"model": "tts-kokoro", "voice": "af_sky", "input": TWO_SENTENCES, "streaming": True}
    start = time.perf_counter()
    async with s.post(f"{base}/audio/speech", json={**body, "response_format": "pcm"}) as r:
        async for chunk in r.content.iter_any():
            if chunk:
                first = time.perf_counter() - start
                await r.read()
                return first
    return float("nan")


async def run(quick: bool) -> int:
    rows: list[tuple[str, str, str, bool]] = []
    first_audio = import_to_first_audio()
    rows.append(
        (
            "import to first audio (af_sky, fresh process)",
            f"{first_audio:.2f} s",
            "<= 3 s",
            first_audio <= 3,
        )
    )

    natural, base = start_serve(VENICE_NB_FAST="0")
    # The fast server also listens to English with Whisper base (the second listener).
    fast, fast_base = start_serve(VENICE_NB_FAST="1", VENICE_NB_WHISPER_MODEL="base")
    try:
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            await wait_ready(base)
            await wait_ready(fast_base)
            kokoro_rtf = await rtf(s, base, "af_sky")
            piper_rtf = await rtf(s, fast_base, "af_sky")
            rows.append(
                (
                    "Kokoro real-time factor (paragraph)",
                    f"{kokoro_rtf:.2f} (piper {piper_rtf:.2f}, {kokoro_rtf / piper_rtf:.1f}x)",
                    "<= 0.6",
                    kokoro_rtf <= 0.6,
                )
            )
            first = await first_streamed_audio(s, base)
            rows.append(
                ("first streamed audio, two sentences", f"{first:.2f} s", "<= 2 s", first <= 2)
            )
            await asyncio.gather(
                *(
                    speak(s, base, PARAGRAPH * 2, v)
                    for v in ("af_sky", "am_adam", "bf_emma", "bm_george")
                )
            )
            _, peak = memory_mb(natural.pid)
            rows.append(
                (
                    "engine peak RSS, four concurrent requests",
                    f"{peak:.0f} MB",
                    "< 1024 MB",
                    peak < 1024,
                )
            )

            print("| option | gender | median pitch | WER, Whisper base | WER, tiny.en |")
            print("| --- | --- | --- | --- | --- |")
            engine_ok = True
            options = [(g, b) for g, group in NATURAL_OPTIONS.items() for b in group]
            if quick:
                options = [(g, b) for g, b in options if len(b.weights) == 1]
            worst = worst_tiny = 0.0
            tiny_ok = 0
            for gender, blend in options:
                samples = await asyncio.to_thread(_synth, blend)
                f0 = estimate_f0(resample(samples, RATE, ASR_RATE), ASR_RATE) or 0.0
                heard = await transcribe(s, fast_base, samples, "en")
                heard_tiny = await transcribe(s, base, samples, "en")
                wer = word_error_rate(PARAGRAPH, heard)
                wer_tiny = word_error_rate(PARAGRAPH, heard_tiny)
                worst, worst_tiny = max(worst, wer), max(worst_tiny, wer_tiny)
                tiny_ok += wer_tiny <= 0.08
                pitch_ok = (
                    f0 >= 165 if gender == "female" else f0 <= 165 if gender == "male" else True
                )
                engine_ok &= pitch_ok and wer <= 0.08
                flag = "" if pitch_ok and wer <= 0.08 else "  <-- " + heard
                print(
                    f"| {blend.recipe()} | {gender} | {f0:.0f} Hz | {wer:.1%} | {wer_tiny:.1%} |"
                    + flag
                )
            rows.append(
                (
                    "every option: pitch on its side of 165 Hz, English WER <= 8 % (Whisper base)",
                    f"worst WER {worst:.1%} (tiny.en: worst {worst_tiny:.1%}, "
                    f"{tiny_ok}/{len(options)} within 8 %)",
                    "all",
                    engine_ok,
                )
            )

            print("\n| voice | heard | WER |")
            print("| --- | --- | --- |")
            foreign_ok = True
            for voice in FOREIGN_VOICES:
                code = {"e": "es", "f": "fr", "i": "it", "p": "pt"}[voice[0]]
                samples = await speak(s, base, ROMANCE[code], voice)
                heard = await transcribe(s, base, samples, None)
                wer = word_error_rate(ROMANCE[code], heard, code)
                foreign_ok &= wer <= 0.15
                print(f"| {voice} | {heard.strip()} | {wer:.1%} |")
            rows.append(
                (
                    "es/fr/it/pt voices through Whisper base, WER <= 15 %",
                    "see table",
                    "all",
                    foreign_ok,
                )
            )
            worst_zh = 0.0
            for voice in ("zf_xiaobei", "zf_xiaoni", "zm_yunjian", "zm_yunxi"):
                samples = await speak(s, base, MANDARIN, voice)
                heard = await transcribe(s, base, samples, None)
                cer = character_error_rate(MANDARIN, heard)
                worst_zh = max(worst_zh, cer)
                print(f"| {voice} | {heard.strip()} | CER {cer:.1%} |")
            rows.append(
                (
                    "Mandarin voices (misaki reader) through Whisper base, character error rate",
                    f"worst {worst_zh:.1%}",
                    "reported (espeak-ng's was above 100 %)",
                    True,
                )
            )
    finally:
        for proc in (natural, fast):
            proc.terminate()
            proc.wait(timeout=30)

    print(f"\n{os.cpu_count()} cores\n")
    print("| measure | result | target | met |")
    print("| --- | --- | --- | --- |")
    for name, result, target, ok in rows:
        print(f"| {name} | {result} | {target} | {'yes' if ok else 'NO'} |")
    return 0 if all(ok for *_, ok in rows) else 1


_SPEECH = None


def _synth(blend: object) -> np.ndarray:
    """Render PARAGRAPH with one option in this process, as the server renders a request
    (options that no catalog voice uses are measured too)."""
    global _SPEECH
    from venice_nb.local import LocalConfig
    from venice_nb.local.service import LocalService
    from venice_nb.local.tts import split_sentences
    from venice_nb.local.voices import VoicePlan

    if _SPEECH is None:
        _SPEECH = LocalService(LocalConfig(fast=False)).speech
    plan = VoicePlan("kokoro", "", blend=blend, language="en-us")  # type: ignore[arg-type]
    parts = [
        _SPEECH.render_sentence(plan, sentence, 1.0, RATE, first=i == 0)
        for i, sentence in enumerate(split_sentences(PARAGRAPH))
    ]
    return np.concatenate(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the five packs only, not every blend")
    return asyncio.run(run(parser.parse_args().quick))


if __name__ == "__main__":
    sys.exit(main())
