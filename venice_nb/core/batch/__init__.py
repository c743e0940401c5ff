"""Many texts to many audio files: one file per item, written atomically, resumable, paced by the
service's rate limits. The engine behind ``venice_nb.speak_many`` and ``venice-nb speak --batch``.

Three steps, each usable alone:

- :func:`batch_items` / :func:`read_batch_file` turn a list, dict, pandas Series or DataFrame, or
  a CSV / JSON Lines file into validated :class:`BatchItem` rows;
- :func:`plan_batch` checks everything that can be checked without the network (empty text, text
  over one request's limit, names that collide as files, an unknown format, an ``out_dir`` that is
  a file) and gives each item its file;
- :func:`run_batch` speaks the items whose file is not there yet, ``concurrency`` at a time.

A file exists only once complete (temporary file + ``os.replace``), so a rerun skips what is done
and sends the rest. Cancelling :func:`run_batch` stops sending at once but lets requests already
sent finish and be written, so a stopped batch loses no paid answer and a rerun sends no item twice.
A 429 or 5xx delays its item (429s hold the whole batch until the window resets); any other 4xx
fails only its item; 401, 402 and 403 stop the batch (every item would fail the same way).

The pieces: :mod:`.items` (rows and their sources), :mod:`.plan` (checks, names and files),
:mod:`.engine` (the run) and :mod:`.results` (what it reports); pacing is in
:mod:`venice_nb.core.ratelimit`.
"""

from .engine import check_run_options, run_batch, speak_many_async
from .items import COLUMNS, BatchItem, batch_items, read_batch_file
from .plan import (
    DEFAULT_FORMAT,
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    BatchPlan,
    PlannedItem,
    is_complete,
    plan_batch,
    sanitize_name,
)
from .results import BatchProgress, BatchResult, ItemResult, Status, format_usd

__all__ = [
    "COLUMNS",
    "DEFAULT_FORMAT",
    "DEFAULT_MODEL",
    "DEFAULT_VOICE",
    "BatchItem",
    "BatchPlan",
    "BatchProgress",
    "BatchResult",
    "ItemResult",
    "PlannedItem",
    "Status",
    "batch_items",
    "check_run_options",
    "format_usd",
    "is_complete",
    "plan_batch",
    "read_batch_file",
    "run_batch",
    "sanitize_name",
    "speak_many_async",
]
