"""venice_nb.notebook: what Jupyter users touch: magics, rich outputs, transcripts and voice widgets.

``%load_ext venice_nb`` registers the magics; ``venice_nb.speak`` / ``venice_nb.transcribe``
work in plain Python cells. Everything here runs the async core on one background loop
(:mod:`.runner`), so it works inside a kernel's running loop.
"""

from __future__ import annotations

from .api import SpeechRequest, UserError, play, speak, transcribe
from .cache import CacheInfo, SpeechCache
from .dialogue import Dialogue, DialogueLine, dialogue
from .embed import EmbeddedAudio
from .magics import VeniceMagics, load_ipython_extension, unload_ipython_extension
from .recorder import Recorder, RecorderWidget, Recording, RecordingError, record
from .speech import Speech, SpeechPlayer
from .transcript import Gap, Segment, Transcript, TranscriptWidget, Word
from .voices import VoiceExplorer, VoicePicker

__all__ = [
    "CacheInfo",
    "Dialogue",
    "DialogueLine",
    "EmbeddedAudio",
    "Gap",
    "Recorder",
    "RecorderWidget",
    "Recording",
    "RecordingError",
    "Segment",
    "Speech",
    "SpeechCache",
    "SpeechPlayer",
    "SpeechRequest",
    "Transcript",
    "TranscriptWidget",
    "UserError",
    "VeniceMagics",
    "VoiceExplorer",
    "VoicePicker",
    "Word",
    "dialogue",
    "load_ipython_extension",
    "play",
    "record",
    "speak",
    "transcribe",
    "unload_ipython_extension",
]
