"""A griffe extension for the API reference: reStructuredText bits in docstrings become Markdown.

The code's docstrings are plain prose with a few reStructuredText habits: roles such as
``:class:`Transcript``` or ``:func:`venice_nb.transcribe```, and ``::`` introducing a literal
block. Markdown would show those literally, so when the docstrings are loaded each role becomes a
code span of its target (``~`` and leading dots dropped) and a line holding only ``::`` is dropped
(the indented block after it is already a Markdown code block). The source files are not touched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|obj|exc|data|const):`~?\.?([^`]+)`")
_LITERAL_MARKER = re.compile(r"^[ \t]*::[ \t]*\n", re.MULTILINE)


class SphinxRolesToCode(griffe.Extension):
    """Rewrite ``:role:`target``` to ```target``` and drop bare ``::`` lines in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            value = _ROLE.sub(r"`\1`", obj.docstring.value)
            obj.docstring.value = _LITERAL_MARKER.sub("", value)
