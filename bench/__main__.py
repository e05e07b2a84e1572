"""`python -m bench [--quick] [--only NAME,...] [--embedded-only]`: run the benchmarks,
write bench/results/, print the table. Exits non-zero when a benchmark failed."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import (
    command_throughput,
    e2e_latency,
    failover,
    instrumentation,
    ownership_timing,
    peer_eventsourcing,
    projection_throughput,
    query_latency,
    restart,
    serve_memory,
    subscription_fanout,
)
from bench.context import EMBEDDED, MONGODB, BenchContext, mongodb, mongodb_label
from bench.machine import describe
from bench.report import markdown, plot_latency, write_json
from bench.sizes import FULL, QUICK
from bench.stats import Figure

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

BENCHMARKS: dict[str, ModuleType] = {
    "commands": command_throughput,
    "projection": projection_throughput,
    "e2e": e2e_latency,
    "queries": query_latency,
    "peer": peer_eventsourcing,
    "memory": serve_memory,
    "fanout": subscription_fanout,
    "restart": restart,
    "failover": failover,
    "ownership": ownership_timing,
    "instrumentation": instrumentation,
}
"""Each module has NAME, USES_MONGODB and `async def run(ctx) -> list[Figure]` (and may
have `uses_mongodb(sizes) -> bool`, when that depends on the sizes)."""


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, under a minute (what CI runs)")
    parser.add_argument("--only", default="",
                        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--embedded-only", action="store_true",
                        help="skip the MongoDB backend (no Java needed)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="output folder")
    return parser.parse_args(argv)


def run_one(ctx: BenchContext, module: ModuleType, with_mongodb: bool, budget: float
            ) -> list[Figure]:
    """One benchmark, on a MongoDB of its own when it uses one, within `budget` seconds.
    A module may also say per size whether it uses MongoDB (`uses_mongodb(sizes)`)."""
    uses = getattr(module, "uses_mongodb", lambda sizes: module.USES_MONGODB)(ctx.sizes)
    with mongodb(ctx.scratch, with_mongodb and uses) as url:
        ctx.mongodb_url = url
        figures: list[Figure] = asyncio.run(asyncio.wait_for(module.run(ctx), timeout=budget))
        return figures


def run_all(ctx: BenchContext, names: list[str], with_mongodb: bool, budget: float
            ) -> tuple[list[Figure], dict[str, str], dict[str, float]]:
    figures: list[Figure] = []
    failures: dict[str, str] = {}
    timings: dict[str, float] = {}
    for name in names:
        module = BENCHMARKS[name]
        ctx.log(f"{module.NAME}: start")
        begun = time.monotonic()
        try:
            figures += run_one(ctx, module, with_mongodb, budget)
        except Exception as error:  # one broken benchmark must not hide the others
            failures[name] = f"{type(error).__name__}: {error}"
            ctx.log(f"{module.NAME}: FAILED\n{traceback.format_exc()}")
        timings[name] = time.monotonic() - begun
        ctx.log(f"{module.NAME}: done in {timings[name]:.1f}s")
    return figures, failures, timings


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    sizes = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    started = time.monotonic()
    machine = describe(ROOT)
    scratch = Path(tempfile.mkdtemp(prefix="travelbuddy-bench-"))
    label = mongodb_label(not args.embedded_only)
    ctx = BenchContext(sizes=sizes, quick=args.quick, scratch=scratch, mongodb_url=None,
                       mongodb_label=label, started=started)
    ctx.log(f"{mode} run; MongoDB: {label}")
    try:
        budget = 45.0 if args.quick else 300.0
        figures, failures, timings = run_all(ctx, names, not args.embedded_only, budget)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    run: dict[str, Any] = {
        "mode": mode,
        "machine": machine,
        "wall_seconds": time.monotonic() - started,
        # Other work on the machine moves every figure: this says whether some ran meanwhile.
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "backends": {MONGODB: label, EMBEDDED: ctx.label(EMBEDDED)},
        "sizes": sizes.__dict__,
        "timings": timings,
        "failures": failures,
        "notes": ([] if not args.quick else [
            f"quick run: small sizes (projection {sizes.projection_events:,} events, memory "
            f"after {' and '.join(f'{n:,}' for n in sizes.memory_events)} events, one round "
            "per figure, e2e half a second at each of 20 and 100 commands/s, "
            f"{', '.join(f'{n:,}' for n in sizes.fanout_subscriptions)} subscriptions on the "
            "embedded default only, a restart after "
            f"{', '.join(f'{n:,}' for n in sizes.restart_events)} events); it keeps the "
            "harness alive, it is not for decisions"]),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    prefix = "latest" if not args.quick else "quick"
    write_json(args.results / f"{prefix}.json", run, figures)
    table = markdown(run, figures)
    (args.results / f"{prefix}.md").write_text(table)
    plot_latency(args.results / ("latency.png" if not args.quick else "quick-latency.png"),
                 figures)
    print(table)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
