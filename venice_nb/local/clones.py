"""Cloned-voice handles (``vv_<hex>``), kept in a JSON file in the data dir across restarts.

The engine does not copy a speaker: it keeps the sample's measured pitch and formants and
renders the handle with the nearest Kokoro pack or blend (``voices.VoiceBook.clone``; in fast
mode, the piper voice shifted to the pitch). The sample itself is not kept.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

RETENTION_S = 7 * 24 * 3600
_FORGET_AFTER_S = 30 * 24 * 3600  # expired handles are remembered a while, to say "expired"
PERSISTENT_MODELS = frozenset({"tts-minimax-speech-02-hd"})
"""Models whose handle's 7-day window restarts with each successful use (as on the cloud)."""


@dataclass
class ClonedVoice:
    """One handle: the model it pairs with, when it expires, and the sample's measurements."""

    id: str
    model: str
    created: float
    expires: float
    f0_hz: float | None
    sample_seconds: float
    formants_hz: tuple[float, float] | None = None


_LOG = logging.getLogger(__name__)


class CloneStore:
    """Thread-safe store of cloned voices, written atomically (temp file + rename) on each change."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "cloned_voices.json"
        self._lock = threading.Lock()
        self._voices: dict[str, ClonedVoice] = {}
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            return  # unreadable store: start empty rather than refuse to serve
        now = time.time()
        for item in raw.get("voices", []):
            try:
                voice = ClonedVoice(**item)
            except TypeError:
                continue
            if voice.formants_hz is not None:
                voice.formants_hz = (float(voice.formants_hz[0]), float(voice.formants_hz[1]))
            if voice.expires + _FORGET_AFTER_S > now:
                self._voices[voice.id] = voice

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"voices": [asdict(v) for v in self._voices.values()]}
        fd, tmp = tempfile.mkstemp(prefix=".cloned_voices.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=1)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def create(
        self,
        model: str,
        f0_hz: float | None,
        sample_seconds: float,
        formants_hz: tuple[float, float] | None = None,
    ) -> ClonedVoice:
        """Mint and persist a new handle valid for seven days."""
        now = time.time()
        voice = ClonedVoice(
            id=f"vv_{secrets.token_hex(12)}",
            model=model,
            created=now,
            expires=now + RETENTION_S,
            f0_hz=None if f0_hz is None else round(f0_hz, 2),
            sample_seconds=round(sample_seconds, 3),
            formants_hz=None
            if formants_hz is None
            else (round(formants_hz[0]), round(formants_hz[1])),
        )
        with self._lock:
            self._voices[voice.id] = voice
            try:
                self._save()
            except OSError:
                del self._voices[voice.id]  # no handle that would not survive a restart
                raise
        return voice

    def get(self, voice_id: str) -> ClonedVoice | None:
        """The handle, expired or not (None if never minted here or long forgotten)."""
        with self._lock:
            return self._voices.get(voice_id)

    def touch(self, voice_id: str) -> None:
        """Restart the retention window of a persistent-model handle after a successful use."""
        with self._lock:
            voice = self._voices.get(voice_id)
            if voice is None or voice.model not in PERSISTENT_MODELS:
                return
            voice.expires = time.time() + RETENTION_S
            try:
                self._save()
            except OSError as exc:  # the speech was made; only the renewal is lost
                _LOG.warning("could not renew cloned voice %s in %s: %s", voice_id, self.path, exc)
