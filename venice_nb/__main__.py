"""``python -m venice_nb`` runs the ``venice-nb`` command line."""

from .cli import main

raise SystemExit(main())
