"""The fault suite as a report: 300 requests against a loopback stand-in injecting transient faults.

Run: ``python benchmarks/bench_faults.py [--seed N]``. Runs the same seeded workload as
``tests/test_faults.py`` (``testkit/faults.py``) (speech whole and streamed, transcription, voice cloning and
stream_long_text in six formats; 30 % of attempts meet a 429 with Retry-After, a 503, a connection
reset before or during the body, or a stall past the timeout; about 8 % of single requests end in
a non-retryable answer) and prints what happened: requests, faults by kind, attempts, successes,
typed errors by class, attempts per request against the budget, byte identity of the long-text
output with a fault-free run, and wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # testkit/ (shared with the tests) and venice_nb from this checkout

from testkit.faults import (  # noqa: E402
    BACKOFF,
    BUDGET,
    FAULT_RATE,
    LONG_FORMATS,
    OPS,
    OVER_BUDGET,
    STALL,
    TIMEOUT,
    TRANSIENT_KINDS,
    SuiteReport,
    make_fault,
    path_of,
    run_fault_suite,
    single_request,
)
from testkit.standin import StandIn  # noqa: E402
from venice_nb import VeniceClient  # noqa: E402
from venice_nb.core.errors import APIError  # noqa: E402

OVER_TIMEOUT = 0.3
"""The over-budget runs use a shorter timeout (stalls of twice that) to stay quick."""


def print_report(report: SuiteReport) -> bool:
    """Print the figures; return True when every target was met."""
    outcomes = report.outcomes
    singles = [o for o in outcomes if o.op != "long_text"]
    long_calls = [o for o in outcomes if o.op == "long_text"]
    retryable = [o for o in outcomes if o.terminal is None]
    terminal = [o for o in outcomes if o.terminal is not None]
    transient = sum(n for k, n in report.faults_by_kind.items() if not _terminal_kind(k))
    faulted_requests = sum(1 for o in singles if o.faults) + sum(
        1 for n in report.long_segment_attempts if n > 1
    )

    print(
        f"client: max_retries={BUDGET} (budget {BUDGET + 1} attempts), timeout={TIMEOUT}s, "
        f"backoff={BACKOFF}s; stand-in: fault rate {FAULT_RATE:.0%} per attempt, stall {STALL}s"
    )
    print()
    print(f"logical requests                {report.logical_requests:>6}")
    by_op = Counter(o.op for o in singles)
    for op, n in sorted(by_op.items()):
        print(f"  {op:<29} {n:>6}")
    print(
        f"  {'long_text segments':<29} {len(report.long_segment_attempts):>6}"
        f"   ({len(long_calls)} calls: {', '.join(LONG_FORMATS)})"
    )
    print(f"HTTP attempts                   {report.attempts:>6}")
    for path, n in sorted(report.attempts_by_path.items()):
        print(f"  {path:<29} {n:>6}")
    print(
        f"faults injected                 {report.faults:>6}"
        f"   (transient {transient} = {transient / report.attempts:.1%} of attempts; "
        f"{faulted_requests} requests met at least one)"
    )
    for kind, n in report.faults_by_kind.most_common():
        tag = "non-retryable" if _terminal_kind(kind) else "transient"
        print(f"  {kind:<29} {n:>6}   {tag}")
    ok = [o for o in retryable if o.error is None and o.verified]
    print(
        f"successes                       {len(ok) - len(long_calls) + len(report.long_segment_attempts):>6}"
        f"   of {report.logical_requests - len(terminal)} retryable requests (output verified)"
    )
    errors = Counter(type(o.error).__name__ for o in outcomes if o.error is not None)
    print(f"typed errors                    {sum(errors.values()):>6}")
    for name, n in errors.most_common():
        print(f"  {name:<29} {n:>6}")
    right = sum(
        1 for o in terminal if type(o.error) is o.expected_error and o.attempts == len(o.faults) + 1
    )
    print(
        f"  as expected (class, no retry)  {right:>5}   of {len(terminal)} non-retryable requests"
    )
    single_max = max(o.attempts for o in singles)
    segment_max = max(report.long_segment_attempts)
    print(
        f"max attempts per request        {max(single_max, segment_max):>6}   "
        f"budget {BUDGET + 1} (single requests {single_max}, long-text segments {segment_max})"
    )
    histogram = Counter(o.attempts for o in singles) + Counter(report.long_segment_attempts)
    print(
        "attempts histogram              "
        + ", ".join(f"{k}x: {v}" for k, v in sorted(histogram.items()))
    )
    identical = [f for f in LONG_FORMATS if report.long_faulted[f] == report.long_reference[f]]
    print(
        f"long text byte-identical        {len(identical):>6}   of {len(LONG_FORMATS)} formats "
        f"({', '.join(identical)})"
    )
    print(f"contract violations             {len(report.violations):>6}")
    print(f"wall time                       {report.wall_seconds:>6.1f} s")

    checks = {
        "every retryable request succeeded": len(ok) == len(retryable),
        "every non-retryable request raised its typed error at once": right == len(terminal),
        "no request beyond the budget": max(single_max, segment_max) <= BUDGET + 1,
        "long text byte-identical in every format": len(identical) == len(LONG_FORMATS),
        "no contract violation": not report.violations,
    }
    print()
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'MISS'}  {name}")
    return all(checks.values())


async def over_budget(folder: Path) -> bool:
    """Each operation meets BUDGET + 1 faults of one kind: print the error raised and attempts."""
    print()
    print(f"over budget: {BUDGET + 1} faults of one kind per request, max_retries={BUDGET}")
    print(f"  {'operation':<15} {'fault':<19} {'raised':<22} {'expected':<22} attempts")
    good = True
    started = time.perf_counter()
    async with StandIn(api_key="test-key") as standin:
        async with VeniceClient(
            api_key="test-key",
            base_url=standin.base_url,
            timeout=OVER_TIMEOUT,
            max_retries=BUDGET,
            backoff=BACKOFF,
        ) as client:
            await client.models.list("tts")
            await client.models.list("asr")
            for op in OPS:
                for kind in TRANSIENT_KINDS:
                    path = path_of(op)
                    before = standin.count(path)
                    faults = [make_fault(kind, op, stall=2 * OVER_TIMEOUT)] * (BUDGET + 1)
                    standin.inject(path, *faults)
                    raised = "nothing"
                    try:
                        await single_request(op, client, folder)
                    except APIError as exc:
                        raised = type(exc).__name__
                    attempts = standin.count(path) - before
                    expected = OVER_BUDGET[kind].__name__
                    ok = raised == expected and attempts == BUDGET + 1
                    good = good and ok
                    print(
                        f"  {op:<15} {kind:<19} {raised:<22} {expected:<22} {attempts}"
                        f"{'' if ok else '   MISS'}"
                    )
    print(f"  wall time {time.perf_counter() - started:.1f} s")
    return good


def _terminal_kind(kind: str) -> bool:
    return kind == "reset after bytes" or (kind.startswith("HTTP 4") and kind != "HTTP 429")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2024, help="seed of the fault plan")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = asyncio.run(run_fault_suite(Path(folder), seed=args.seed))
        suite_ok = print_report(report)
        over_ok = asyncio.run(over_budget(Path(folder)))
    verdict = "PASS" if over_ok else "MISS"
    print(
        f"{verdict}  every over-budget request raised the last fault's typed error, after 4 attempts"
    )
    return 0 if suite_ok and over_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
