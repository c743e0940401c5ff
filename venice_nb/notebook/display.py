"""Small helpers shared by the rich outputs: time stamps, asset files, when to use widgets."""

from __future__ import annotations

import html
import sys
import uuid
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "WIDGET_MIME",
    "asset",
    "clock",
    "new_dom_id",
    "report_error",
    "widget_bundle",
    "widgets_enabled",
]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_HERE = Path(__file__).resolve().parent


@cache
def asset(name: str) -> str:
    """The text of a ``.js``/``.css`` file shipped beside this module."""
    return (_HERE / name).read_text(encoding="utf-8")


def clock(seconds: float) -> str:
    """``mm:ss`` (or ``h:mm:ss`` past an hour) for transcript stamps and durations."""
    total = max(0, int(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def new_dom_id(prefix: str) -> str:
    """A unique element id for one rendered output."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def widgets_enabled() -> bool:
    """Whether outputs should carry a widget view (settings ``widgets``: auto/always/never)."""
    from .settings import current

    mode = current().widgets
    if mode == "never":
        return False
    try:
        import anywidget  # noqa: F401
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return mode == "always" or _in_kernel()


def widget_bundle(widget: Any) -> dict[str, Any]:
    """The widget-view entry of ``widget``'s MIME bundle."""
    data = widget._repr_mimebundle_()
    if isinstance(data, tuple):
        data = data[0]
    return {WIDGET_MIME: data[WIDGET_MIME]}


class RichOutput:
    """Mixin of results shown in a notebook: the interactive widget inside a kernel that can show
    it, plus plain HTML (works untrusted, on GitHub, in nbconvert) and a text summary."""

    def _repr_html_(self) -> str:
        raise NotImplementedError

    def widget(self) -> Any:
        raise NotImplementedError

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"text/plain": repr(self), "text/html": self._repr_html_()}
        if widgets_enabled():
            data.update(widget_bundle(self.widget()))
        return data


def report_error(message: str) -> None:
    """Show a user error as one line on stderr (no traceback)."""
    print(f"venice_nb: {message}", file=sys.stderr)


def escape(text: Any) -> str:
    """HTML-escape ``text`` (attribute-safe)."""
    return html.escape(str(text), quote=True)
