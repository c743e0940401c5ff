"""SRT and WebVTT from a transcript's segments (or words, when no segments were returned)."""

from __future__ import annotations

from .types import AudioTranscriptionResponse

__all__ = ["cues", "format_timestamp", "to_srt", "to_vtt"]


def format_timestamp(seconds: float, *, sep: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT) or with ``sep="."`` ``HH:MM:SS.mmm`` (WebVTT)."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def cues(
    result: AudioTranscriptionResponse, *, max_words: int = 12
) -> list[tuple[float, float, str]]:
    """(start, end, text) cues: the segments, or words grouped ``max_words`` at a time."""
    if result.segments:
        return [(s.start, s.end, s.text.strip()) for s in result.segments if s.text.strip()]
    words = result.words
    if not words:
        end = result.duration or 0.0
        return [(0.0, end, result.text.strip())] if result.text.strip() else []
    out = []
    for i in range(0, len(words), max_words):
        group = words[i : i + max_words]
        out.append((group[0].start, group[-1].end, " ".join(w.word.strip() for w in group)))
    return out


def to_srt(result: AudioTranscriptionResponse) -> str:
    """The transcript as SubRip subtitles."""
    blocks = [
        f"{n}\n{format_timestamp(a)} --> {format_timestamp(b)}\n{text}\n"
        for n, (a, b, text) in enumerate(cues(result), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(result: AudioTranscriptionResponse) -> str:
    """The transcript as WebVTT subtitles."""
    blocks = [
        f"{format_timestamp(a, sep='.')} --> {format_timestamp(b, sep='.')}\n{text}\n"
        for a, b, text in cues(result)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
