"""A tqdm.auto bar for long transcriptions (a widget in notebooks, text in terminals): minutes of
audio done out of the total, pieces, reused and failed pieces, and tqdm's own time left.

Fed with :class:`~venice_nb.longform.run.LongProgress` snapshots; ``show`` redraws only when the
snapshot changed, so it can be called from a polling loop.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import LongProgress

__all__ = ["ProgressBar"]

_KNOWN = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} min [{elapsed}<{remaining}{postfix}]"
_UNKNOWN = "{desc}: {n:.1f} min [{elapsed}{postfix}]"


class ProgressBar:
    """Minutes transcribed out of the file's length, with pieces and failures beside them."""

    def __init__(self, name: str = "", file: IO[str] | None = None) -> None:
        from tqdm.auto import tqdm

        self._bar: Any = tqdm(
            total=None,
            desc=f"Transcribing {name}".strip(),
            unit="min",
            unit_scale=False,
            file=file,
            dynamic_ncols=True,
            delay=0.5,  # work done within half a second draws no bar
            bar_format=_UNKNOWN,
        )
        self._shown: tuple[Any, ...] | None = None

    def show(self, progress: LongProgress | None) -> None:
        if progress is None:
            return
        total = None if progress.seconds_total is None else progress.seconds_total / 60
        pieces = f"{progress.pieces_done}/{progress.pieces_total or '?'} pieces"
        extra = []
        if progress.cached:
            extra.append(f"{progress.cached} from cache")
        if progress.failed:
            extra.append(f"{progress.failed} failed")
        text = ", ".join([pieces, *extra])
        state = (round(progress.seconds_done, 1), progress.seconds_total, text)
        if state == self._shown:
            return
        self._shown = state
        if total is not None and self._bar.total != total:
            self._bar.total = total
            self._bar.bar_format = _KNOWN
        self._bar.set_postfix_str(text, refresh=False)
        done = progress.seconds_done / 60
        self._bar.n = min(done, total) if total is not None else done
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()
