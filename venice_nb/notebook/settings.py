"""Notebook defaults as traitlets, shared by the magics and the plain-Python helpers.

:class:`~venice_nb.notebook.magics.VeniceMagics` inherits these traits, so in a notebook
``%config VeniceMagics.voice = "af_sky"`` changes what both ``%%venice_speak`` and
``venice_nb.speak()`` use; ``c.VeniceMagics.voice`` in ``ipython_config.py`` works too.
"""

from __future__ import annotations

from pathlib import Path

from traitlets import Bool, Enum, Float, Int, Unicode
from traitlets.config import Configurable

from venice_nb.core.files import default_cache_dir

__all__ = [
    "DEFAULT_ASR_MODEL",
    "DEFAULT_MODEL",
    "DEFAULT_VOICE",
    "Settings",
    "current",
    "default_cache_dir",
    "use",
]

DEFAULT_MODEL = "tts-kokoro"
DEFAULT_VOICE = "af_heart"
DEFAULT_ASR_MODEL = "nvidia/parakeet-tdt-0.6b-v3"


class Settings(Configurable):
    """Defaults for speaking, transcribing, embedding audio and caching speech."""

    model = Unicode(DEFAULT_MODEL, help="TTS model used when --model is not given.").tag(
        config=True
    )
    voice = Unicode(DEFAULT_VOICE, help="Voice used when --voice is not given.").tag(config=True)
    format = Unicode(
        None,
        allow_none=True,
        help="Audio format to request (mp3, opus, aac, flac, wav, pcm); None: the model's default.",
    ).tag(config=True)
    speed = Float(
        None, allow_none=True, help="Speaking speed 0.25 to 4.0; None: the model's default."
    ).tag(config=True)
    language = Unicode(None, allow_none=True, help="Language hint for speech models.").tag(
        config=True
    )
    transcribe_model = Unicode(
        DEFAULT_ASR_MODEL, help="ASR model used by %venice_transcribe when --model is not given."
    ).tag(config=True)
    autoplay = Bool(False, help="Start playing speech as soon as it is shown.").tag(config=True)
    long_text_concurrency = Int(
        4, help="Segments in flight when text over 4096 characters is spoken in parts."
    ).tag(config=True)
    transcribe_concurrency = Int(
        4, help="Pieces of long audio or video in flight at once when it is transcribed in pieces."
    ).tag(config=True)
    max_piece_seconds = Float(
        600.0,
        help="Longest piece (seconds) that long audio is cut into, at a quiet moment, for "
        "transcription.",
    ).tag(config=True)
    embed_mb_per_minute = Float(
        0.5,
        help="Most notebook megabytes (base64 included) one minute of embedded audio may take; "
        "larger audio is re-encoded as compact mp3.",
    ).tag(config=True)
    embed_bitrate = Int(
        32000, help="Bit rate (bits/s) of the mono mp3 that embedded audio is re-encoded to."
    ).tag(config=True)
    embed_max_mb = Float(
        20.0, help="Audio larger than this (after re-encoding) is not embedded in the notebook."
    ).tag(config=True)
    embed_max_minutes = Float(
        10.0,
        help="A transcript's audio longer than this is not embedded in the notebook: the view "
        "plays the source file beside the notebook through Jupyter's file server instead.",
    ).tag(config=True)
    cache_dir = Unicode(
        "",
        help="Directory of the speech cache; empty: $VENICE_NB_CACHE_DIR, else "
        "~/.cache/venice_nb/speech.",
    ).tag(config=True)
    use_cache = Bool(True, help="Serve repeated speech from the on-disk cache.").tag(config=True)
    widgets = Enum(
        ["auto", "always", "never"],
        "auto",
        help="Live widgets for the voice explorer and picker: auto (inside a Jupyter kernel), "
        "always, or never (their static view only). Players and transcripts never need them: "
        "they are data that outlives the kernel.",
    ).tag(config=True)

    @property
    def cache_path(self) -> Path:
        """The speech cache directory in force (the environment is read at each use)."""
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()


_DEFAULT: Settings | None = None
_ACTIVE: Settings | None = None


def current() -> Settings:
    """The settings in force: the loaded ``VeniceMagics`` instance, else process defaults."""
    global _DEFAULT
    if _ACTIVE is not None:
        return _ACTIVE
    if _DEFAULT is None:
        _DEFAULT = Settings()
    return _DEFAULT


def use(settings: Settings | None) -> None:
    """Make ``settings`` the ones in force (the extension does this on load; None resets)."""
    global _ACTIVE
    _ACTIVE = settings
