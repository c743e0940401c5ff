"""What a batch reports: each item's outcome, progress snapshots, and the run's result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from ..ratelimit import RateLimitState

R = TypeVar("R")

__all__ = ["BatchProgress", "BatchResult", "ByStatus", "ItemResult", "Status", "format_usd"]

Status = Literal["done", "skipped", "failed", "pending"]


def format_usd(amount: float) -> str:
    """Dollars with two significant digits below a cent: ``$1.25``, ``$0.50``, ``$0.000018``."""
    if amount <= 0:
        return "$0"
    digits = max(2, 1 - math.floor(math.log10(amount)))
    return f"${amount:.{digits}f}"


@dataclass
class ItemResult:
    """What happened to one item."""

    index: int
    name: str
    path: Path
    text: str
    model: str
    voice: str
    status: Status = "pending"
    reason: str | None = None
    """Why it failed (the server's message and status), or why it was skipped."""
    http_status: int | None = None
    attempts: int = 0
    """Requests sent for it in this run."""
    bytes: int = 0
    cost_usd: float | None = None
    """Estimated from the catalog's price; None when unpriced, skipped or spoken offline."""
    error: BaseException | None = field(default=None, repr=False, compare=False)

    def record(self) -> dict[str, Any]:
        """A flat dict (for tables)."""
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "http_status": self.http_status,
            "attempts": self.attempts,
            "bytes": self.bytes,
            "cost_usd": self.cost_usd,
            "path": str(self.path),
            "voice": self.voice,
            "model": self.model,
        }


@dataclass(frozen=True)
class BatchProgress:
    """A snapshot passed to ``on_progress``: counts so far and the rate-limit state."""

    total: int
    done: int
    skipped: int
    failed: int
    in_flight: int
    cost_usd: float | None
    """Estimated spend of the items done in this run (None: no priced item)."""
    estimated_usd: float | None
    """Estimated spend of every item this run had to speak, at the start."""
    rate: RateLimitState
    last: ItemResult | None = None
    """The item that just finished, if that is why this snapshot was sent."""

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed


class ByStatus(Generic[R]):
    """The outcomes of a run grouped by status (speech batches, transcription batches)."""

    items: list[R]

    def _with(self, status: str) -> list[R]:
        return [r for r in self.items if r.status == status]  # type: ignore[attr-defined]

    @property
    def done(self) -> list[R]:
        return self._with("done")

    @property
    def skipped(self) -> list[R]:
        return self._with("skipped")

    @property
    def failed(self) -> list[R]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """Every item's file exists (made now or before)."""
        return all(r.status in ("done", "skipped") for r in self.items)  # type: ignore[attr-defined]

    @property
    def counts(self) -> dict[str, int]:
        return {s: len(self._with(s)) for s in ("done", "skipped", "failed", "pending")}


@dataclass
class BatchResult(ByStatus[ItemResult]):
    """Every item's outcome, in input order, and figures about the run."""

    items: list[ItemResult]
    out_dir: Path
    elapsed: float
    requests: int
    """Speech requests sent in this run (retries included)."""
    rate_limited: int
    """429 answers met."""
    slowdowns: int
    """Times the batch held back until a rate-limit window reset."""

    @property
    def pending(self) -> list[ItemResult]:
        return self._with("pending")


    @property
    def cost_usd(self) -> float | None:
        """Estimated spend of this run; None when no item spoken had a price."""
        costs = [r.cost_usd for r in self.items if r.cost_usd is not None]
        return sum(costs) if costs else None

    def records(self) -> list[dict[str, Any]]:
        return [r.record() for r in self.items]

    def __str__(self) -> str:
        c = self.counts
        parts = [f"{c['done']} done", f"{c['skipped']} skipped", f"{c['failed']} failed"]
        if c["pending"]:
            parts.append(f"{c['pending']} not sent")
        cost = f", est. {format_usd(self.cost_usd)}" if self.cost_usd is not None else ""
        return f"{len(self.items)} items: {', '.join(parts)}{cost} ({self.elapsed:.1f} s)"
