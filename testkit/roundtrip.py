"""Speak, then transcribe, over the offline engine's HTTP API: the round trip the language
tests and ``benchmarks/bench_languages.py`` measure voices by (one copy, not one per file)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import aiohttp

from testkit.quality import character_error_rate, word_error_rate, words


async def speak(
    s: aiohttp.ClientSession, base: str, voice: str, text: str, *, model: str = "tts-kokoro"
) -> tuple[bytes, str]:
    """MP3 of ``text`` in ``voice`` and the engine's plan label (``x-venice-nb-local-voice``)."""
    body = {"model": model, "voice": voice, "input": text, "response_format": "mp3"}
    async with s.post(f"{base}/audio/speech", json=body) as r:
        data = await r.read()
        if r.status != 200:
            raise AssertionError(f"{voice}: speech failed ({r.status}): {data[:300]!r}")
        return data, r.headers.get("x-venice-nb-local-voice", "?")


async def transcribe(s: aiohttp.ClientSession, base: str, mp3: bytes, **fields: str) -> str:
    """The text heard in ``mp3``; ``fields`` are form fields (``language``, ``model``)."""
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(mp3), filename="speech.mp3", content_type="audio/mpeg")
    for name, value in fields.items():
        form.add_field(name, value)
    async with s.post(f"{base}/audio/transcriptions", data=form) as r:
        body = await r.json()
        if r.status != 200:
            raise AssertionError(f"transcription failed ({r.status}): {body}")
        return str(body["text"])


CHARACTER_SCORED = frozenset({"zh", "cmn", "ja"})
"""Languages scored by character error rate (written without spaces between words)."""


def _characters(text: str) -> int:
    return len(re.sub(r"[^\w]", "", text))


@dataclass(frozen=True)
class Heard:
    """One round trip: what ``voice`` was given, what came back, and the engine's plan label."""

    voice: str
    text: str
    heard: str
    plan: str
    language: str

    @property
    def reference_units(self) -> int:
        """Words of the text (characters for Mandarin and Japanese)."""
        if self.language in CHARACTER_SCORED:
            return _characters(self.text)
        return len(words(self.text, self.language))

    @property
    def error_rate(self) -> float:
        """Word error rate (character error rate for Mandarin and Japanese)."""
        if self.language in CHARACTER_SCORED:
            return character_error_rate(self.text, self.heard)
        return word_error_rate(self.text, self.heard, self.language)


async def round_trip(
    s: aiohttp.ClientSession, base: str, voice: str, text: str, code: str, **fields: str
) -> Heard:
    """``text`` spoken by ``voice`` and transcribed back, scored as language ``code``; pass
    ``language=code`` in ``fields`` to tell the recogniser, or leave it out to have it detected."""
    mp3, plan = await speak(s, base, voice, text)
    return Heard(voice, text, await transcribe(s, base, mp3, **fields), plan, code)


def pooled_error_rate(results: list[Heard]) -> float:
    """Error rate over several sentences: their errors over their reference words (or
    characters)."""
    total = sum(r.reference_units for r in results)
    return sum(r.error_rate * r.reference_units for r in results) / max(1, total)
