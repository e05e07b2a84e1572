"""2. Projection throughput: events per second the projector runner applies.

The store is pre-filled (20,000 events in the full run; 600 with --quick, because the
test MongoDB scans its whole oplog on every change-stream getMore) with whole booking
lives from the real command handler. Ours: the read-model ProjectorRunner (booking_views
and hotel_occupancy) resuming from a checkpoint saved just before the pre-fill, until it
has applied every event. Baseline, same run, same events: MongoDB — a raw PyMongo change
stream on `events` resumed from the same token, read to the end, no writes; embedded —
the SQLite change feed read to the end, no writes. The baseline runs before and after
ours (ours is too slow to repeat at full size), and the ratio is taken against both.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import time
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from bench.context import EMBEDDED, MONGODB, BenchContext
from bench.prefill import fill_mongo_after_anchor, fill_sqlite
from bench.stats import Figure, Measurement, Side, figure
from bench.traffic import lone_request, recorded_events
from travelbuddy.bootstrap import EVENTS_FILE, READ_MODELS_PROJECTOR, Services
from travelbuddy.eventstore.feeds import IDLE_POLL_SECONDS
from travelbuddy.eventstore.mongo import EVENTS
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.readmodels.ports import Checkpoint

NAME = "2 projection throughput"
USES_MONGODB = True


class Completions:
    """When each event was done: a rate, and the time between events as percentiles."""

    def __init__(self, wanted: int) -> None:
        self.wanted = wanted
        self.started = time.perf_counter()
        self.times: list[float] = []
        self.done = asyncio.Event()

    def mark(self, events: int = 1) -> None:
        self.times.extend([time.perf_counter()] * events)
        if len(self.times) >= self.wanted:
            self.done.set()

    def measurement(self, note: str = "") -> Measurement:
        end = self.times[-1] if self.times else time.perf_counter()
        marks = [self.started, *self.times]
        gaps = [(b - a) * 1000 for a, b in itertools.pairwise(marks)]
        return Measurement(value=len(self.times) / max(end - self.started, 1e-9),
                           latencies_ms=gaps, count=len(self.times), note=note)


async def raw_change_stream(database: AsyncDatabase[dict[str, Any]], token: Any, wanted: int,
                            time_limit: float) -> Measurement:
    """Read `wanted` changes after `token` with a bare change stream; write nothing."""
    completions = Completions(wanted)
    deadline = time.perf_counter() + time_limit
    async with await database[EVENTS].watch(resume_after=token,
                                            max_await_time_ms=500) as stream:
        while len(completions.times) < wanted and time.perf_counter() < deadline:
            if await stream.try_next() is None:
                await asyncio.sleep(IDLE_POLL_SECONDS)  # the test server does not block
                continue
            completions.mark()
    return completions.measurement()


async def raw_sqlite_feed(services: Services, wanted: int, time_limit: float) -> Measurement:
    """Read `wanted` events from the start of the SQLite change feed; write nothing."""
    completions = Completions(wanted)
    deadline = time.perf_counter() + time_limit
    cursor = await services.feed.open(0)
    try:
        while len(completions.times) < wanted and time.perf_counter() < deadline:
            if await cursor.try_next() is None:
                await cursor.wait()
                continue
            completions.mark()
    finally:
        await cursor.close()
    return completions.measurement()


async def projector(services: Services, token: Any, wanted: int,
                    time_limit: float) -> Measurement:
    """The read-model ProjectorRunner, resuming after `token`, until `wanted` are applied."""
    await services.read_models.checkpoints.save(Checkpoint(
        follower=READ_MODELS_PROJECTOR, resume_token=token, position=None, recorded_at=None,
        saved_at=dt.datetime.now(dt.UTC)))
    runner = services.projector()
    completions = Completions(wanted)
    apply = runner.apply

    async def timed_apply(events: Sequence[StoredEvent], checkpoint: Checkpoint | None) -> None:
        await apply(events, checkpoint)
        completions.mark(len(events))

    runner.apply = timed_apply  # type: ignore[method-assign]
    task = asyncio.create_task(runner.run())
    try:
        finished = asyncio.create_task(completions.done.wait())
        await asyncio.wait({task, finished}, timeout=time_limit,
                           return_when=asyncio.FIRST_COMPLETED)
        finished.cancel()
        if task.done():
            task.result()  # the runner stopped: raise what stopped it
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    note = f"{runner.parked} parked" if runner.parked else ""
    if len(completions.times) < wanted:
        note += (f" the rate over the first {time_limit:.0f} s: {len(completions.times):,} of "
                 f"{wanted:,} events applied by then")
    return completions.measurement(note.strip())


async def run(ctx: BenchContext) -> list[Figure]:
    wanted, limit = ctx.sizes.projection_events, ctx.sizes.time_limit
    events = await recorded_events(wanted)
    figures: list[Figure] = []
    for backend in ctx.backends:
        settings = ctx.settings(backend, "projection")
        token: Any = 0
        if backend == EMBEDDED:
            await fill_sqlite(settings.data_dir / EVENTS_FILE, events)
        async with contextlib.AsyncExitStack() as stack:
            services = await stack.enter_async_context(ctx.services(settings))
            database = None
            if backend == MONGODB:
                database = await stack.enter_async_context(
                    ctx.mongo_database(settings.mongodb_database))
                token = await fill_mongo_after_anchor(database, await lone_request(),
                                                      events, limit)

            async def baseline(s: Services = services, t: Any = token,
                               d: AsyncDatabase[dict[str, Any]] | None = database
                               ) -> Measurement:
                if d is not None:
                    return await raw_change_stream(d, t, wanted, limit)
                return await raw_sqlite_feed(s, wanted, limit)

            before = await baseline()
            ours = await projector(services, token, wanted, ctx.sizes.projection_seconds)
            after = await baseline()
        baseline_name = ("raw change stream on `events`, same events, no writes"
                         if backend == MONGODB else "SQLite change feed read, no writes")
        figures.append(figure(
            NAME, backend, f"{wanted:,} events pre-filled",
            Side.of("ProjectorRunner → booking_views + hotel_occupancy", "events/s", [ours]),
            Side.of(baseline_name, "events/s", [before, after]),
            higher_is_better=True, note=ours.note))
        ctx.log(f"{NAME} {backend}: {ours.value:.0f} vs {before.value:.0f}/"
                f"{after.value:.0f} events/s")
    return figures
