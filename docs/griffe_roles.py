"""A griffe extension for the API reference: Sphinx roles in docstrings become code spans.

The code's docstrings are plain prose with reStructuredText-style roles here and there
(``:class:`Transcript```, ``:func:`venice_nb.transcribe```); Markdown would show the role names
literally, so each role is rewritten to a code span of its target (``~`` and leading dots
dropped) when the docstrings are loaded. The source files are not touched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|obj|exc|data|const):`~?\.?([^`]+)`")


class SphinxRolesToCode(griffe.Extension):
    """Rewrite ``:role:`target``` in every docstring to ```target```."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(r"`\1`", obj.docstring.value)
