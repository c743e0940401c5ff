"""Transcribing what people record: audio and video of any size and length.

:func:`transcribe_file` sends a file that fits one request as it is, and otherwise decodes it
with PyAV as a stream, cuts it at quiet moments into pieces of at most ten minutes, sends them
in parallel under the service's rate limit, caches each finished piece and merges the answers
with their true offsets. It sits above :mod:`venice_nb.core` (whose ``transcribe`` stays one
request) because it needs PyAV and NumPy.
"""

from __future__ import annotations

from .cache import PieceCache, default_piece_cache_dir
from .media import RATE, AudioTrack, Media, open_media
from .pieces import (
    DEFAULT_BITRATE,
    DEFAULT_MAX_PIECE_SECONDS,
    DEFAULT_SEARCH_SECONDS,
    Piece,
    cut_pieces,
    encode_mp3,
)
from .progress import ProgressBar
from .run import DEFAULT_CONCURRENCY, LongProgress, LongTranscription, transcribe_file

__all__ = [
    "DEFAULT_BITRATE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_PIECE_SECONDS",
    "DEFAULT_SEARCH_SECONDS",
    "RATE",
    "AudioTrack",
    "LongProgress",
    "LongTranscription",
    "Media",
    "Piece",
    "PieceCache",
    "ProgressBar",
    "cut_pieces",
    "default_piece_cache_dir",
    "encode_mp3",
    "open_media",
    "transcribe_file",
]
