"""Long audio with a known transcript, and a loopback transcription service that hears it
exactly, for the long-form tests and benchmarks.

Each "word" is a tone burst whose pitch names it (``WORDS[i]`` at ``300 + 40 i`` Hz), so the
stub's recognition is exact and instant and every timestamp is known: merging, offsets, cuts,
caching and faults can be checked to the hundredth of a second, independent of any speech model.
Sentences are runs of words with short gaps, separated by pauses of varied length.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiohttp import web

from .loopback import LoopbackServer

RATE = 16_000
WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango"
).split()
BASE_HZ = 300.0
STEP_HZ = 40.0
WORD_SECONDS = 0.25
WORD_GAP = 0.15


@dataclass(frozen=True)
class Spoken:
    word: str
    start: float
    end: float


def word_hz(word: str) -> float:
    return BASE_HZ + STEP_HZ * WORDS.index(word)


def burst(word: str, rate: int = RATE) -> np.ndarray:
    n = int(WORD_SECONDS * rate)
    t = np.arange(n) / rate
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms fades: no clicks
    return (0.4 * np.sin(2 * np.pi * word_hz(word) * t) * ramp * 32767).astype(np.int16)


def sentences(count: int, *, seed: int = 7, words: tuple[int, int] = (3, 7)) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [
        [WORDS[int(i)] for i in rng.integers(0, len(WORDS), int(rng.integers(*words)))]
        for _ in range(count)
    ]


def pauses(count: int, *, seed: int = 11) -> list[float]:
    """Pauses of different lengths between sentences (0.5 to 2.5 s)."""
    rng = np.random.default_rng(seed)
    return [round(float(p), 2) for p in rng.uniform(0.5, 2.5, count)]


def render(script: list[list[str]], gaps: list[float], *, noise: float = 0.0) -> tuple[np.ndarray, list[Spoken]]:
    """Int16 samples at 16 kHz and the words with their true times."""
    parts: list[np.ndarray] = []
    spoken: list[Spoken] = []
    pos = 0
    rng = np.random.default_rng(3)
    for sentence, gap in zip(script, gaps, strict=True):
        lead = np.zeros(int(gap * RATE), dtype=np.int16)
        parts.append(lead)
        pos += lead.size
        for k, word in enumerate(sentence):
            if k:
                space = np.zeros(int(WORD_GAP * RATE), dtype=np.int16)
                parts.append(space)
                pos += space.size
            b = burst(word)
            spoken.append(Spoken(word, pos / RATE, (pos + b.size) / RATE))
            parts.append(b)
            pos += b.size
    parts.append(np.zeros(RATE // 2, dtype=np.int16))
    samples = np.concatenate(parts)
    if noise:
        samples = (samples + rng.normal(0, noise * 32767, samples.size)).clip(-32768, 32767).astype(np.int16)
    return samples, spoken


def tone_recording(seconds: float, *, seed: int = 7) -> tuple[np.ndarray, list[Spoken]]:
    """About ``seconds`` of tone sentences."""
    per = 5 * (WORD_SECONDS + WORD_GAP) + 1.5
    count = max(1, int(seconds / per))
    return render(sentences(count, seed=seed), pauses(count, seed=seed + 1))


def write_audio(
    path: Path,
    samples: np.ndarray,
    *,
    fmt: str = "wav",
    codec: str = "pcm_s16le",
    rate: int = RATE,
    video: bool = False,
    extra_tracks: Iterable[np.ndarray] = (),
) -> Path:
    """Write mono int16 16 kHz ``samples`` as a file (any muxer and audio codec), optionally
    with a small video track and further audio tracks."""
    tracks = [samples, *extra_tracks]
    with av.open(str(path), "w", format=fmt) as out:
        vstream = None
        if video:
            vstream = out.add_stream("mpeg4", rate=5)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        streams = []
        for _ in tracks:
            st = out.add_stream(codec, rate=rate, layout="mono")
            streams.append(st)
        for st, data in zip(streams, tracks, strict=True):
            step = rate * 5
            for pos in range(0, data.size, step):
                part = np.ascontiguousarray(data[pos : pos + step]).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(part, format="s16", layout="mono")
                frame.sample_rate = rate
                frame.pts = pos
                for packet in st.encode(frame):
                    out.mux(packet)
            for packet in st.encode(None):
                out.mux(packet)
        if vstream is not None:
            seconds = samples.size / rate
            for i in range(int(seconds * 5)):
                img = np.full((48, 64, 3), (i * 7) % 255, dtype=np.uint8)
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                vf.pts = i
                for packet in vstream.encode(vf):
                    out.mux(packet)
            for packet in vstream.encode(None):
                out.mux(packet)
    return path


def hear(data: bytes) -> tuple[list[Spoken], float]:
    """What the stub hears in an upload: each tone burst as its word, times from the upload's
    start; and the upload's duration."""
    with av.open(io.BytesIO(data)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        chunks = []
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    x = (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)).astype(np.float32) / 32768
    frame = RATE // 100
    n = x.size // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)) if n else np.zeros(0)
    active = rms > 0.05
    words: list[Spoken] = []
    i = 0
    while i < n:
        if not active[i]:
            i += 1
            continue
        j = i
        while j < n and active[j]:
            j += 1
        if j - i >= 5:
            seg = x[i * frame : j * frame]
            spectrum = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
            hz = float(np.argmax(spectrum)) * RATE / seg.size
            index = round((hz - BASE_HZ) / STEP_HZ)
            if 0 <= index < len(WORDS):
                words.append(Spoken(WORDS[index], i * frame / RATE, j * frame / RATE))
        i = j
    return words, x.size / RATE


@dataclass
class ToneStub(LoopbackServer):
    """``POST /audio/transcriptions`` that hears tone words exactly. ``delay`` holds each answer;
    ``fail_on[word]`` lists statuses answered (one per request, in turn) for uploads holding
    that word, the last one forever when ``forever``; ``hold`` (an Event) parks requests from
    number ``hold_from`` on until set. Counts requests, uploads and the most requests in flight at once."""

    delay: float = 0.0
    fail_on: dict[str, list[int]] = field(default_factory=dict)
    forever: bool = False
    hold: asyncio.Event | None = None
    hold_from: int = 1
    """The first request held by ``hold`` (counting from 1): clients learn the rate-limit
    window from their first answer before sending more."""
    requests: int = 0
    answered: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    deaf: bool = False
    """Answer every upload with an empty transcript without decoding it (timing benchmarks)."""
    uploads: list[tuple[str, int]] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    answered_digests: list[str] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        LoopbackServer.__init__(self)

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/v1/audio/transcriptions", self._transcribe)
        return app

    async def _transcribe(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.arrivals.append(time.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            form = await request.post()
            upload: Any = form["file"]
            data = upload.file.read()
            self.uploads.append((upload.content_type, len(data)))
            digest = hashlib.sha256(data).hexdigest()
            self.digests.append(digest)
            if self.hold is not None and self.requests >= self.hold_from:
                await self.hold.wait()
            if self.deaf:
                await asyncio.sleep(self.delay)
                self.answered += 1
                self.answered_digests.append(digest)
                return web.json_response(answer([], 0.0, form.get("timestamps") == "true"))
            words, seconds = await asyncio.to_thread(hear, data)
            for word, statuses in self.fail_on.items():
                if statuses and any(w.word == word for w in words):
                    keep = self.forever and len(statuses) == 1
                    status = statuses[0] if keep else statuses.pop(0)
                    return web.json_response({"error": f"stub failure {status}"}, status=status)
            if self.delay:
                await asyncio.sleep(self.delay)
            self.answered += 1
            self.answered_digests.append(digest)
            return web.json_response(answer(words, seconds, form.get("timestamps") == "true"))
        finally:
            self.in_flight -= 1


def answer(words: list[Spoken], seconds: float, timestamps: bool) -> dict[str, Any]:
    segments: list[list[Spoken]] = []
    for w in words:
        if segments and w.start - segments[-1][-1].end < 0.5:
            segments[-1].append(w)
        else:
            segments.append([w])
    body: dict[str, Any] = {"text": " ".join(w.word for w in words), "duration": seconds}
    if timestamps:
        body["timestamps"] = {
            "word": [{"word": w.word, "start": w.start, "end": w.end} for w in words],
            "segment": [
                {"text": " ".join(w.word for w in s), "start": s[0].start, "end": s[-1].end}
                for s in segments
            ],
        }
    return body


def chunks(samples: np.ndarray, size: int = RATE * 10) -> Iterator[np.ndarray]:
    for pos in range(0, samples.size, size):
        yield samples[pos : pos + size]


# -- real speech with known sentence starts (the offline engine) -------------------------------
SENTENCES = (
    "The lighthouse keeper counted seven ships before the storm reached the harbor.",
    "Our train leaves the station at half past eight every morning.",
    "She planted tomatoes and beans in the garden behind the house.",
    "Every winter the lake freezes solid for three long weeks.",
    "The museum opens a new exhibit about ancient maps tomorrow.",
    "My brother fixed the old bicycle with a wrench and some patience.",
    "Fresh bread from the bakery smells wonderful early in the day.",
    "Please remember to close the windows before you leave the office.",
    "A small dog chased the red ball across the wet grass.",
    "Students in the library worked quietly until the bell rang.",
    "The river flows past the mill and down into the valley.",
    "Heavy rain delayed the football match by almost an hour.",
)


@dataclass(frozen=True)
class Sentence:
    text: str
    voice: str
    start: float
    """Seconds from the recording's start to the first sound of the sentence."""


def first_sound(samples: np.ndarray, threshold: int = 300) -> int:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return int(loud[0]) if loud.size else 0


async def speech_recording(
    client: Any,
    count: int,
    *,
    voices: tuple[str, ...] = ("am_michael", "af_heart", "bm_george"),
    seed: int = 5,
    model: str = "tts-kokoro",
) -> tuple[np.ndarray, list[Sentence]]:
    """``count`` sentences spoken by the engine in turn by ``voices``, with pauses of 0.5-2.5 s,
    as 16 kHz int16 samples, and when each sentence's first sound is."""
    from venice_nb.longform import open_media

    clips: dict[tuple[str, str], np.ndarray] = {}
    gaps = pauses(count, seed=seed)
    parts: list[np.ndarray] = []
    truth: list[Sentence] = []
    pos = 0
    for i in range(count):
        text, voice = SENTENCES[i % len(SENTENCES)], voices[i % len(voices)]
        if (text, voice) not in clips:
            audio = await client.audio.create_speech(
                input=text, model=model, voice=voice, response_format="wav"
            )
            with open_media(bytes(audio)) as media:
                clips[(text, voice)] = np.concatenate(list(media.samples()))
        clip = clips[(text, voice)]
        lead = np.zeros(int(gaps[i] * RATE), dtype=np.int16)
        parts += [lead, clip]
        pos += lead.size
        truth.append(Sentence(text, voice, (pos + first_sound(clip)) / RATE))
        pos += clip.size
    parts.append(np.zeros(RATE, dtype=np.int16))
    return np.concatenate(parts), truth


def start_errors(words: list[Any], truth: list[Sentence]) -> list[float]:
    """For each sentence, how far its first word's start lies from its true start (seconds; inf
    when no word nearby reads like its first word, or like the word before its second word, for
    a first word misheard)."""
    from .quality import words as normal_words

    heard = [(normal_words(w.word)[:1] or [""])[0] for w in words]
    out = []
    for sentence in truth:
        said = normal_words(sentence.text)
        near = [
            abs(float(w.start) - sentence.start)
            for i, w in enumerate(words)
            if abs(float(w.start) - sentence.start) < 3
            and (
                heard[i] == said[0]
                or (len(said) > 1 and i + 1 < len(words) and heard[i + 1] == said[1])
            )
        ]
        out.append(min(near) if near else float("inf"))
    return out
