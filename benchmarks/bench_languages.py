"""Round trip of every non-English Kokoro catalog voice on sentences no tuning has seen.

Run: ``python benchmarks/bench_languages.py`` (needs the ``local`` extra; about 2 minutes per
voice on two cores), or ``--voices ff_siwis,ef_dora`` for some of them. Each voice speaks every
sentence of ``testkit.sentences.UNSEEN`` for its language (20 or more: liaisons, elisions, accents,
numbers, times, questions) through the offline engine's HTTP API; each answer is transcribed
back with ``language`` given (the multilingual Whisper base the engine ships). Prints, per voice,
the word error rate over all its sentences (character error rate for Mandarin and Japanese;
target <= 15 %, issue 21) and the sentences heard worst, so a listener can tell the voice's slips
from the recogniser's. Hindi voices are not run: Whisper base writes Hindi speech in Urdu script.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testkit.roundtrip import pooled_error_rate, round_trip
from testkit.sentences import UNSEEN
from venice_nb.local import LocalConfig, LocalServer
from venice_nb.local.catalog import KOKORO_LANGUAGES

TARGET = 0.15
TOKEN = "bench-languages"


async def main(only: set[str]) -> int:
    config = LocalConfig(data_dir=Path(tempfile.mkdtemp(prefix="bench_languages_")), token=TOKEN)
    failing = 0
    with LocalServer(config) as server:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession(headers=headers) as s:
            async with s.get(f"{server.base_url}/models?type=tts") as r:
                models = {m["id"]: m["model_spec"]["voices"] for m in (await r.json())["data"]}
            print(f"{'voice':12} {'language':8} {'sentences':>9} {'error':>7}  target  rendering")
            for voice in models["tts-kokoro"]:
                catalog_language = KOKORO_LANGUAGES.get(voice[0], "")
                if catalog_language not in UNSEEN or (only and voice not in only):
                    continue
                code = catalog_language.split("-")[0]
                given = "zh" if code == "cmn" else code  # the recogniser's ISO 639-1 code
                started = time.monotonic()
                results = [
                    await round_trip(s, server.base_url, voice, text, code, language=given)
                    for text in UNSEEN[catalog_language]
                ]
                rate = pooled_error_rate(results)
                ok = rate <= TARGET
                failing += not ok
                print(
                    f"{voice:12} {catalog_language:8} {len(results):9} {rate:7.1%}  "
                    f"{'ok' if ok else 'OVER':6}  {results[-1].plan}  "
                    f"({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
                for r in sorted(results, key=lambda r: r.error_rate, reverse=True)[:3]:
                    if r.error_rate > 0:
                        print(f"    {r.error_rate:5.0%}  {r.text}\n           heard: {r.heard}")
    return 1 if failing else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", default="", help="comma-separated voice ids (default: all)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main({v for v in args.voices.split(",") if v})))
