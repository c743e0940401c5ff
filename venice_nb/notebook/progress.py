"""A progress bar for long speech, fed from the runner thread and drawn in the cell's output.

``update`` may be called from any thread (it only records numbers); ``draw`` runs in the kernel's
main thread, where output reaches the right cell, through a display handle: an ipywidgets
``IntProgress`` when widgets are on, else an HTML ``<progress>``. Closing empties the output.
"""

from __future__ import annotations

import threading
from typing import Any

from .display import escape, widgets_enabled

__all__ = ["ProgressBar"]


def _in_ipython() -> bool:
    from IPython import get_ipython

    return get_ipython() is not None


class ProgressBar:
    """Parts done out of total (``unit``: segments of long text, lines of a dialogue), shown once
    the total is known."""

    def __init__(self, description: str = "Speaking", unit: str = "segments") -> None:
        self.description = description
        self.unit = unit
        self.completed = 0
        self.total = 0
        self._lock = threading.Lock()
        self._drawn: tuple[int, int] | None = None
        self._widget: Any = None
        self._handle: Any = None

    def update(self, completed: int, total: int) -> None:
        """Record progress (thread-safe; drawing happens in :meth:`draw`)."""
        with self._lock:
            self.completed, self.total = completed, total

    def _html(self, completed: int, total: int) -> str:
        return (
            f'<div class="vnb-progress"><progress value="{completed}" max="{total}"></progress> '
            f"{escape(self.description)}: {completed}/{total} {escape(self.unit)}</div>"
        )

    def draw(self) -> None:
        """Show or refresh the bar (call from the kernel's main thread)."""
        with self._lock:
            state = (self.completed, self.total)
        if state == self._drawn or state[1] == 0 or not _in_ipython():
            return
        self._drawn = state
        completed, total = state
        from IPython.display import HTML, display

        if self._handle is None:
            if widgets_enabled():
                import ipywidgets

                self._widget = ipywidgets.IntProgress(
                    value=completed, min=0, max=total, description=self.description
                )
                self._label = ipywidgets.Label(f"{completed}/{total} {self.unit}")
                self._box = ipywidgets.HBox([self._widget, self._label])
                self._handle = display(self._box, display_id=True)
            else:
                self._handle = display(HTML(self._html(completed, total)), display_id=True)
            return
        if self._widget is not None:
            self._widget.max = total
            self._widget.value = completed
            self._label.value = f"{completed}/{total} {self.unit}"
        else:
            self._handle.update(HTML(self._html(completed, total)))

    def close(self) -> None:
        """Remove the bar, leaving an empty output (no stale widget in a saved notebook)."""
        if self._widget is not None:
            self._box.close()
            self._widget = None
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)
            self._handle = None
