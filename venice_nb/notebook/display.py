"""Small helpers shared by the rich outputs: time stamps, asset files, when to use widgets."""

from __future__ import annotations

import html
import sys
import uuid
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "VNB_MIME",
    "WIDGET_MIME",
    "asset",
    "clock",
    "live_frontend",
    "new_dom_id",
    "report_error",
    "widget_bundle",
    "widgets_enabled",
]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
VNB_MIME = "application/vnd.venice-nb.v1+json"
"""venice_nb's own output mimetype, drawn by the JupyterLab / Notebook 7 extension shipped in the
wheel (``labextension/``) with no kernel and no trust; other frontends show ``text/html``."""
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


def live_frontend() -> bool:
    """Whether the running cell came from an interactive frontend that shows outputs as they
    arrive: JupyterLab, Notebook 7 and VS Code send the cell's id with it; nbclient (nbconvert,
    papermill) and Voila's executor do not. ``%config VeniceMagics.widgets = 'always'`` counts as
    one, ``'never'`` as none."""
    from .settings import current

    mode = current().widgets
    if mode != "auto":
        return mode == "always"
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None or not hasattr(kernel, "get_parent"):
        return False
    try:
        parent = kernel.get_parent()
    except Exception:  # an older kernel without per-request parents
        return False
    metadata = parent.get("metadata") if isinstance(parent, dict) else None
    return isinstance(metadata, dict) and bool(metadata.get("cellId"))


def widget_bundle(widget: Any) -> dict[str, Any]:
    """The widget-view entry of ``widget``'s MIME bundle."""
    data = widget._repr_mimebundle_()
    if isinstance(data, tuple):
        data = data[0]
    return {WIDGET_MIME: data[WIDGET_MIME]}


class RichOutput:
    """Mixin of results shown in a notebook. Results are data, not live widgets, so they outlive
    the kernel (as Plotly and Vega outputs do): venice_nb's mimetype for the JupyterLab /
    Notebook 7 extension, ``text/html`` for every other frontend (nbconvert, VS Code, Colab,
    GitHub) and a text summary. ``.widget()`` still gives the anywidget for live control."""

    def _repr_html_(self) -> str:
        raise NotImplementedError

    def _payload(self) -> dict[str, Any]:
        raise NotImplementedError

    def widget(self) -> Any:
        raise NotImplementedError

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        return {
            "text/plain": repr(self),
            "text/html": self._repr_html_(),
            VNB_MIME: self._payload(),
        }


AUDIO_IN_HTML = "text/html"
"""Where a payload's audio is: the first ``<audio src="data:...">`` of the output's HTML, so the
notebook stores the audio once."""


def audio_ref(mime: str | None) -> dict[str, Any] | None:
    """The payload's ``audio`` entry for audio embedded in the output's ``text/html``."""
    return None if mime is None else {"mime": mime, "ref": AUDIO_IN_HTML}


def meta_html(summary: str, badges: list[list[str]], tag: str = "span") -> str:
    """The summary line and badges, with ``·`` separators that the stylesheet hides: where a
    sanitizer strips the ``<style>`` block (untrusted notebooks, GitHub) the text stays apart."""
    parts = [f"<span>{escape(summary)}</span>"]
    parts += [
        f'<span class="vnb-sep"> · </span>'
        f'<span class="vnb-badge vnb-badge-{escape(kind)}">{escape(text)}</span>'
        for text, kind in badges
    ]
    return f'<{tag} class="vnb-meta">{"".join(parts)}</{tag}>'


def report_error(message: str) -> None:
    """Show a user error as one line on stderr (no traceback)."""
    print(f"venice_nb: {message}", file=sys.stderr)


def escape(text: Any) -> str:
    """HTML-escape ``text`` (attribute-safe)."""
    return html.escape(str(text), quote=True)
