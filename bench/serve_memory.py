"""6. Memory: resident memory of `travelbuddy serve` on the embedded default.

`travelbuddy serve` runs as its own process (data folder in a temporary folder; partner
replies at once, logs at WARNING) with everything it runs by default: API, projector,
and on the in-process bus the relay, inbound consumer and simulated partners. First 10
bookings go through its HTTP API (so every path has run once); that is the baseline, the
same process's RSS then. Then booking requests are appended to its SQLite file by the
harness, as `travelbuddy seed` would from another process (requesting 50,000 events'
worth over HTTP would take longer than the whole run may: a mutation costs ~10 ms here),
and the service does the rest itself: its relay hands each request to the simulated hotel
and airline, whose confirmations come back through its inbound consumer as commands, so a
booking is three events, and its projector applies all of them. RSS is read with psutil
once the store holds 10,000 and then 50,000 events (1,000 and 2,000 with --quick), every
booking is confirmed and the projector has caught up (/readyz with lag 0).
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import psutil

from bench.context import EMBEDDED, BenchContext
from bench.identity import headers
from bench.operations import operation
from bench.processes import ServiceProcess, travelbuddy_serve
from bench.stats import Figure, Measurement, Side, figure
from bench.traffic import recorded_events, request_input
from travelbuddy.bootstrap import EVENTS_FILE
from travelbuddy.eventstore.sqlite import SqliteEventStore

NAME = "6 memory of travelbuddy serve"
USES_MONGODB = False
CONCURRENCY = 8
WARM_UP_BOOKINGS = 10
EVENTS_PER_BOOKING = 3
MIB = 2**20


def stored_events(path: Path) -> int:
    """Events in the service's SQLite file, read-only beside the running service."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(connection.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        connection.close()


def peak_rss(pid: int) -> int | None:
    """The process's high-water mark of resident memory (VmHWM), in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class Load:
    """Booking requests: through the service's command endpoint, or into its file."""

    def __init__(self, service: ServiceProcess, events_file: Path) -> None:
        self.service = service
        self.events_file = events_file
        self.customer = f"memory-{uuid.uuid4().hex[:8]}"
        self.requested = 0
        self.failed = 0
        self._numbers = itertools.count()

    async def append(self, bookings: int) -> None:
        """Append `bookings` BookingRequested events to the service's SQLite file."""
        first = next(self._numbers)
        self._numbers = itertools.count(first + bookings)
        requests = await recorded_events(bookings, requests_only=True, first=first)
        store = SqliteEventStore(self.events_file)
        try:
            for recorded in requests:
                await store.append(recorded.stream_id, 0, [recorded.event])
        finally:
            store.close()
        self.requested += len(requests)

    async def book(self, http: httpx.AsyncClient, bookings: int, deadline: float) -> None:
        remaining = itertools.count()

        async def worker() -> None:
            while next(remaining) < bookings and time.monotonic() < deadline:
                response = await http.post("/graphql/command", json={
                    "query": operation("RequestBooking"), "operationName": "RequestBooking",
                    "variables": {"input": request_input(next(self._numbers))}})
                result = (response.json().get("data") or {}).get("requestBooking") or {}
                if result.get("__typename") == "CommandAccepted":
                    self.requested += 1
                else:
                    self.failed += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

    async def settled(self, http: httpx.AsyncClient, deadline: float) -> int:
        """Wait until every request was confirmed by both partners and projected."""
        wanted = self.requested * EVENTS_PER_BOOKING
        while time.monotonic() < deadline:
            count = stored_events(self.events_file)
            if count >= wanted and (await http.get("/readyz")).status_code == 200:
                await asyncio.sleep(0.5)  # let the last responses and buffers go
                return count
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the service did not settle at {wanted} events")


def _measurement(process: psutil.Process, events: int) -> Measurement:
    rss = process.memory_info().rss
    peak = peak_rss(process.pid)
    note = f"{events:,} events" + (f", peak RSS {peak / MIB:.1f} MiB" if peak else "")
    return Measurement(value=rss / MIB, count=events, note=note)


async def run(ctx: BenchContext) -> list[Figure]:
    sizes = ctx.sizes
    data_dir = ctx.folder("memory") / "data"
    events_file = data_dir / EVENTS_FILE
    figures: list[Figure] = []
    with travelbuddy_serve(data_dir, sizes.time_limit) as service:
        process = psutil.Process(service.pid)
        load = Load(service, events_file)
        deadline = time.monotonic() + sizes.time_limit * 2
        async with httpx.AsyncClient(base_url=service.base_url, headers=headers(load.customer),
                                     timeout=30) as http:
            await load.book(http, WARM_UP_BOOKINGS, deadline)
            warm_events = await load.settled(http, deadline)
            baseline = _measurement(process, warm_events)
            for target in sizes.memory_events:
                current = stored_events(events_file)
                await load.append(max(0, -(-(target - current) // EVENTS_PER_BOOKING)))
                events = await load.settled(http, deadline)
                mine = _measurement(process, events)
                growth = (mine.value - baseline.value) * MIB / max(1, events - warm_events)
                note = (f"{mine.note}; baseline {baseline.note}; {growth:,.0f} bytes per event "
                        f"over the baseline; events file {events_file.stat().st_size / MIB:.1f} "
                        f"MiB" + (f"; {load.failed} requests failed" if load.failed else ""))
                figures.append(figure(
                    NAME, EMBEDDED, f"after {target:,} events",
                    Side.of("RSS of travelbuddy serve", "MiB", [mine]),
                    Side.of(f"same process after start-up + {WARM_UP_BOOKINGS} bookings",
                            "MiB", [baseline]),
                    higher_is_better=False, note=note))
                ctx.log(f"{NAME}: {mine.value:.1f} MiB at {events:,} events "
                        f"(baseline {baseline.value:.1f} MiB)")
    return figures
