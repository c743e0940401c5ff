"""Long-text splitting and audio joining for ``stream_long_text`` (a facade).

Long input is cut into sentence-aligned segments that each fit a model's budget; every segment is
synthesised by its own request, and the whole per-segment files are joined into ONE valid file of
the requested format (mp3, wav, pcm, flac, opus, aac). The code lives in
:mod:`venice_nb.core.sentences` (text splitting) and :mod:`venice_nb.core.containers` (joining,
one module per container format); this module re-exports their public names.
"""

from __future__ import annotations

from .containers import (
    JOINABLE_FORMATS,
    AudioJoinError,
    SegmentJoiner,
    TimedJoin,
    finalize,
    join_segments,
    join_with_pauses,
    silence,
    sniff_format,
)
from .sentences import DEFAULT_MAX_WORDS, QWEN3_MAX_WORDS, max_words_for_model, split_text

__all__ = [
    "DEFAULT_MAX_WORDS",
    "JOINABLE_FORMATS",
    "QWEN3_MAX_WORDS",
    "AudioJoinError",
    "SegmentJoiner",
    "TimedJoin",
    "finalize",
    "join_segments",
    "join_with_pauses",
    "max_words_for_model",
    "silence",
    "sniff_format",
    "split_text",
]
