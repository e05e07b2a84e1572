"""8. Restart: how soon a restarted `travelbuddy serve` is ready, and how big it is, as the
store's history grows (embedded default).

A data folder is pre-filled with whole booking lives from the real command handler
(`bench.prefill.fill_sqlite`): 10,002 events (3,334 bookings), then 90,000 more for
100,002 (1,002 with --quick). At each size `travelbuddy serve` (the real command, started
as benchmark 6 starts it: everything it runs by default, partners answering at once,
readiness at lag 0) runs once until /readyz says 200, so its projector has done its first
catch-up (and checkpointed it in `readmodels.sqlite3`), and is stopped (SIGTERM). Then it
is started again, three times (once with --quick), and measured each time:
- time from starting the process to the first /readyz 200 (polled every 20 ms);
- its RSS at that moment (psutil);
- on the first restart only, its RSS again 10 s later (0.5 s with --quick), with the CPU it
  used meanwhile and its peak RSS: what the work it does after being ready (the relay's
  start, the partners' answers) costs.
Baseline, same run: the same measurements of `travelbuddy serve` started on an empty data
folder (a fresh one each time). The headline of a size is the median over its restarts.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.context import EMBEDDED, BenchContext
from bench.prefill import fill_sqlite
from bench.processes import ServiceProcess, travelbuddy_serve
from bench.serve_memory import peak_rss, stored_events
from bench.stats import Figure, Measurement, Side, figure
from bench.traffic import COMMANDS_PER_BOOKING, recorded_events
from travelbuddy.bootstrap import EVENTS_FILE

NAME = "8 restart"
USES_MONGODB = False
MIB = 2**20


@dataclass
class Start:
    """One start of `travelbuddy serve`, as measured."""

    ready_seconds: float
    ready_mib: float
    later_mib: float | None = None
    later_note: str = ""


async def start(ctx: BenchContext, data_dir: Path, later_seconds: float | None) -> Start:
    """Start `travelbuddy serve` on `data_dir` until /readyz is 200; with `later_seconds`,
    stay that long more and read its RSS again. Stopped on the way out."""
    with travelbuddy_serve(data_dir, ctx.sizes.time_limit) as service:
        measured = _ready(service)
        if later_seconds is not None:
            process = psutil.Process(service.pid)
            before = process.cpu_times()
            behind = await followers_behind(service)
            await asyncio.sleep(later_seconds)
            after = process.cpu_times()
            measured.later_mib = process.memory_info().rss / MIB
            used = (after.user - before.user) + (after.system - before.system)
            peak = peak_rss(service.pid)
            measured.later_note = (
                f"{used:.1f} s of CPU in the {later_seconds:.0f} s after ready"
                + (f", peak RSS {peak / MIB:.1f} MiB" if peak else "")
                + f"; followers behind at ready: {behind}, "
                f"{later_seconds:.0f} s later: {await followers_behind(service)}")
    return measured


async def followers_behind(service: ServiceProcess) -> str:
    """The followers /readyz lists as not caught up or lagging, with their lag in events
    (the relay's first catch-up, say); "none" when all are caught up."""
    try:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=5) as http:
            report = (await http.get("/readyz")).json()
    except (httpx.HTTPError, ValueError):
        return "unknown (/readyz did not answer)"
    followers = report.get("followers") if isinstance(report, dict) else None
    if not isinstance(followers, dict):
        return "not reported"
    behind = []
    for name, state in followers.items():
        if not isinstance(state, dict) or (state.get("caught_up", True)
                                           and not state.get("lag")):
            continue
        lag = state.get("lag")
        behind.append(f"{name} {'lagging' if state.get('caught_up', True) else 'catching up'}"
                      f", {f'{lag:,}' if isinstance(lag, int) else '?'} events behind")
    return "; ".join(behind) or "none"


def _ready(service: ServiceProcess) -> Start:
    assert service.ready_seconds is not None and service.ready_rss is not None
    return Start(service.ready_seconds, service.ready_rss / MIB)


def _side(name: str, unit: str, values: list[float]) -> Side:
    return Side.of(name, unit, [Measurement(value) for value in values])


async def run(ctx: BenchContext) -> list[Figure]:
    sizes = ctx.sizes
    rounds, later = sizes.restart_rounds, sizes.restart_later_seconds
    empty = [await start(ctx, ctx.folder("restart-empty") / "data",
                         later if number == 0 else None) for number in range(rounds)]
    ctx.log(f"{NAME}: empty folder: ready in "
            f"{statistics.median(s.ready_seconds for s in empty):.2f} s, "
            f"{empty[0].ready_mib:.1f} MiB, {empty[0].later_mib:.1f} MiB {later:.0f} s later")
    data_dir = ctx.folder("restart") / "data"
    events_file = data_dir / EVENTS_FILE
    bookings = 0
    figures: list[Figure] = []
    for target in sizes.restart_events:
        wanted = -(-target // COMMANDS_PER_BOOKING)  # whole booking lives
        begun = time.monotonic()
        await fill_sqlite(events_file, await recorded_events(
            (wanted - bookings) * COMMANDS_PER_BOOKING, first=bookings))
        bookings = wanted
        filled = time.monotonic() - begun
        first = await start(ctx, data_dir, None)  # the first catch-up, checkpointed
        events = stored_events(events_file)
        restarts = [await start(ctx, data_dir, later if number == 0 else None)
                    for number in range(rounds)]
        after = stored_events(events_file)
        note = (f"{events:,} events ({after - events:+,} during the restarts); pre-filled in "
                f"{filled:.0f} s; the first start (catch-up) was ready in "
                f"{first.ready_seconds:.1f} s at {first.ready_mib:.1f} MiB")
        case = f"restart after {events:,} events"
        figures += [
            figure(NAME, EMBEDDED, f"{case}: start → /readyz 200",
                   _side("travelbuddy serve restarted", "s",
                         [s.ready_seconds for s in restarts]),
                   _side("travelbuddy serve on an empty data folder", "s",
                         [s.ready_seconds for s in empty]),
                   higher_is_better=False, note=note),
            figure(NAME, EMBEDDED, f"{case}: RSS at ready",
                   _side("RSS at the first /readyz 200", "MiB",
                         [s.ready_mib for s in restarts]),
                   _side("same, empty data folder", "MiB", [s.ready_mib for s in empty]),
                   higher_is_better=False),
            figure(NAME, EMBEDDED, f"{case}: RSS {later:.0f} s after ready",
                   _side(f"RSS {later:.0f} s after ready", "MiB",
                         [restarts[0].later_mib or 0.0]),
                   _side("same, empty data folder", "MiB", [empty[0].later_mib or 0.0]),
                   higher_is_better=False,
                   note=f"ours: {restarts[0].later_note}; baseline: {empty[0].later_note}"),
        ]
        ctx.log(f"{NAME} {events:,} events: ready in "
                f"{statistics.median(s.ready_seconds for s in restarts):.2f} s, "
                f"{restarts[0].ready_mib:.1f} MiB, {restarts[0].later_mib:.1f} MiB "
                f"{later:.0f} s later ({restarts[0].later_note}); {note}")
    return figures
