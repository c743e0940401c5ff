"""``python -m venice_nb.local``: the same as ``venice-nb serve``."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
