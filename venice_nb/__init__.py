"""venice_nb: make Jupyter speak and listen through the Venice AI audio API.

``from venice_nb import VeniceClient`` for the async client; ``%load_ext venice_nb`` in a notebook
for the magics; ``venice_nb.speak`` / ``venice_nb.transcribe`` / ``venice_nb.dialogue`` for plain
Python cells; ``venice_nb.speak_many`` for a batch of texts to files, ``venice_nb.transcribe_many`` for a
batch of recordings to transcripts.
"""

from __future__ import annotations

from typing import Any

from .batch import BatchReport, speak_many
from .core import *  # noqa: F403
from .core import __all__ as _core_all
from .transcribe_batch import TranscriptReport, transcribe_many

__all__ = [
    *_core_all,
    "BatchReport",
    "TranscriptReport",
    "dialogue",
    "load_ipython_extension",
    "play",
    "record",
    "speak",
    "speak_many",
    "transcribe",
    "transcribe_many",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext venice_nb``: register the magics."""
    from .notebook.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .notebook.magics import unload_ipython_extension as _unload

    _unload(ipython)


def speak(text: str, **kwargs: Any) -> Any:
    """Speak ``text`` from a plain Python cell and show the player (see venice_nb.notebook.api)."""
    from .notebook.api import speak as _speak

    return _speak(text, **kwargs)


def play(source: Any, **kwargs: Any) -> Any:
    """Show audio (an AudioResponse, bytes or a path) as the player that outlives the kernel."""
    from .notebook.api import play as _play

    return _play(source, **kwargs)


def record(seconds: float | None = None, transcribe: bool = False, **kwargs: Any) -> Any:
    """Record from the microphone in the cell's output; returns the recorder, whose
    ``.recording`` (and ``.transcript``) arrive when recording stops (see venice_nb.notebook.recorder)."""
    from .notebook.recorder import record as _record

    return _record(seconds, transcribe, **kwargs)


def dialogue(lines: Any, **kwargs: Any) -> Any:
    """Speak a script in several voices as one file, shown with its clickable script
    (see venice_nb.notebook.dialogue)."""
    from .notebook.dialogue import dialogue as _dialogue

    return _dialogue(lines, **kwargs)


def transcribe(source: Any, **kwargs: Any) -> Any:
    """Transcribe audio from a plain Python cell and show the transcript view."""
    from .notebook.api import transcribe as _transcribe

    return _transcribe(source, **kwargs)
