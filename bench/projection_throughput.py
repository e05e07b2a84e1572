"""2. Projection throughput: events per second the projector runner applies.

The store is pre-filled (20,000 events in the full run; 600 with --quick, because the
test MongoDB scans its whole oplog on every change-stream getMore) with whole booking
lives from the real command handler. Ours: the read-model ProjectorRunner (booking_views
and hotel_occupancy) resuming from a checkpoint saved just before the pre-fill, until it
has applied every event. Baseline, same run, same events: MongoDB — a raw PyMongo change
stream on `events` resumed from the same token, read to the end, no writes; embedded —
the SQLite change feed read to the end, no writes. The baseline runs before and after
ours (ours is too slow to repeat at full size), and the ratio is taken against both.

Percentiles are of the time per batch of BATCH_LIMIT (200) events, the runner's batch:
for ours, from the end of one `apply` (its commit included) to the end of the next, so a
batch's feed read, projections and commit all count; for the baseline, the time it took
to read each run of 200 consecutive events. A shorter last batch of ours is scaled to
200 events. (Per event the runner has no time of its own: a batch is committed at once.)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
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
from travelbuddy.readmodels.runner import BATCH_LIMIT

NAME = "2 projection throughput"
USES_MONGODB = True


class Completions:
    """When events were done: a rate, and the time per batch of BATCH_LIMIT events."""

    def __init__(self, wanted: int) -> None:
        self.wanted = wanted
        self.started = time.perf_counter()
        self.done_count = 0
        self.marks: list[tuple[float, int]] = []
        """(when, events done by then), one per `mark`."""
        self.done = asyncio.Event()

    def mark(self, events: int = 1) -> None:
        """`events` more are done now (a batch of ours, or one event of the baseline)."""
        self.done_count += events
        self.marks.append((time.perf_counter(), self.done_count))
        if self.done_count >= self.wanted:
            self.done.set()

    def batch_times_ms(self) -> list[float]:
        """Milliseconds per BATCH_LIMIT events: the time between the marks at which each
        further BATCH_LIMIT events were done (a last, shorter run scaled up to it)."""
        times: list[float] = []
        begun, begun_count = self.started, 0
        for at, count in self.marks:
            if count - begun_count >= BATCH_LIMIT or (count == self.done_count
                                                       and count > begun_count):
                times.append((at - begun) * 1000 * BATCH_LIMIT / (count - begun_count))
                begun, begun_count = at, count
        return times

    def measurement(self, note: str = "") -> Measurement:
        end = self.marks[-1][0] if self.marks else time.perf_counter()
        return Measurement(value=self.done_count / max(end - self.started, 1e-9),
                           latencies_ms=self.batch_times_ms(), count=self.done_count,
                           note=note)


async def raw_change_stream(database: AsyncDatabase[dict[str, Any]], token: Any, wanted: int,
                            time_limit: float) -> Measurement:
    """Read `wanted` changes after `token` with a bare change stream; write nothing."""
    completions = Completions(wanted)
    deadline = time.perf_counter() + time_limit
    async with await database[EVENTS].watch(resume_after=token,
                                            max_await_time_ms=500) as stream:
        while completions.done_count < wanted and time.perf_counter() < deadline:
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
        while completions.done_count < wanted and time.perf_counter() < deadline:
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
    if completions.done_count < wanted:
        note += (f" the rate over the first {time_limit:.0f} s: {completions.done_count:,} of "
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
            NAME, backend, f"{wanted:,} events pre-filled; ms per {BATCH_LIMIT} events",
            Side.of("ProjectorRunner → booking_views + hotel_occupancy", "events/s", [ours]),
            Side.of(baseline_name, "events/s", [before, after]),
            higher_is_better=True, note=ours.note))
        ctx.log(f"{NAME} {backend}: {ours.value:.0f} vs {before.value:.0f}/"
                f"{after.value:.0f} events/s")
    return figures
