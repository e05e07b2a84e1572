"""1. Command throughput: commands per second through the application layer.

Ours: `BookingCommands.handle` (what the GraphQL command schema calls) for whole booking
lives: RequestBooking by the customer, then the hotel's and the airline's confirmations,
at concurrency 1, 8 and 32 (that many bookings in flight at once, each life in order).
Baseline, same run, same concurrency: MongoDB — raw PyMongo async `insert_one` of the
very event documents those commands store (same sizes, same mix) into a fresh collection
on the same server; embedded — raw sqlite3 INSERTs of the same rows into a file set up as
the store sets up its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from bench.context import MONGODB, BenchContext
from bench.raw_sqlite import RawSqlite, row_of
from bench.stats import Figure, Measurement, Side, figure, paired_rounds
from bench.traffic import booking_commands, recorded_events
from travelbuddy.bootstrap import Services
from travelbuddy.eventstore.mongo import EVENTS, event_document

NAME = "1 command throughput"
USES_MONGODB = True
SAMPLE_EVENTS = 3_000
PREBUILT_LIVES = 2_000  # 6,000 commands: more than a round has handled here

Step = Callable[[], Awaitable[Any]]
Steps = Callable[[int], list[Step]]
Shape = tuple[int, float, int]
"""The timed steps of operation number n, run in order (a booking's life, or one insert)."""


async def timed_workers(concurrency: int, seconds: float, cap: int, steps: Steps) -> Measurement:
    """`concurrency` workers each take the next number n and run `steps(n)` in order,
    timing each step, until `seconds` pass or `cap` steps are done; steps per second."""
    numbers = itertools.count()
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline and len(latencies) < cap:
            for step in steps(next(numbers)):
                if time.perf_counter() >= deadline:
                    return
                begun = time.perf_counter()
                await step()
                latencies.append((time.perf_counter() - begun) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Measurement(value=len(latencies) / elapsed, latencies_ms=latencies,
                       count=len(latencies))


def our_steps(services: Services, run_id: str, prebuilt: int = 0) -> Steps:
    """Booking lives for `BookingCommands.handle`. The first `prebuilt` lives' commands are
    built before the clock starts, as the baseline's documents are: building a command is
    the caller's work (the GraphQL layer's), not the application layer's. Lives past them
    are built as they are needed."""
    lives = [booking_commands(n, f"bench-{run_id}-{n % 50}") for n in range(prebuilt)]

    def steps(n: int) -> list[Step]:
        life = lives[n] if n < len(lives) else booking_commands(n, f"bench-{run_id}-{n % 50}")
        return [functools.partial(services.commands.handle, command, caller)
                for command, caller in life]

    return steps


async def raw_steps_for(ctx: BenchContext, database: AsyncDatabase[dict[str, Any]] | None
                        ) -> tuple[Steps, Callable[[], Awaitable[Any]], Callable[[], None]]:
    """The baseline's steps (one insert each), how to empty its collection before a round
    (as ours is emptied), and how to clean up after them. With `database` (the service's
    MongoDB database on the harness's own client), raw inserts into a collection beside
    `events`; without, raw sqlite3 INSERTs."""
    sample = await recorded_events(SAMPLE_EVENTS)
    if database is not None:
        documents = [event_document(e.stream_id, e.version, e.event) for e in sample]
        collection = database[f"raw_inserts_{uuid.uuid4().hex[:8]}"]

        def mongo_steps(n: int) -> list[Step]:
            return [lambda: collection.insert_one(dict(documents[n % len(documents)]))]

        return mongo_steps, lambda: collection.delete_many({}), lambda: None
    rows = [row_of(e) for e in sample]
    raw = RawSqlite(ctx.folder("raw-inserts") / "raw.sqlite3")

    def sqlite_steps(n: int) -> list[Step]:
        return [lambda: raw.insert(rows[n % len(rows)])]

    async def keep() -> None:
        """Both SQLite tables grow through the run alike: nothing to empty."""

    return sqlite_steps, keep, raw.close


async def run(ctx: BenchContext) -> list[Figure]:
    sizes = ctx.sizes
    figures: list[Figure] = []
    for backend in ctx.backends:
        settings = ctx.settings(backend, "commands")
        async with contextlib.AsyncExitStack() as stack:
            services = await stack.enter_async_context(ctx.services(settings))
            database = (await stack.enter_async_context(
                ctx.mongo_database(settings.mongodb_database)) if backend == MONGODB else None)
            raw_steps, empty_raw, close_raw = await raw_steps_for(ctx, database)

            async def emptied(d: AsyncDatabase[dict[str, Any]] | None = database) -> None:
                # The test MongoDB answers `read(stream)` by scanning `events`: start every
                # round on an empty collection (both sides) so earlier rounds weigh nothing.
                if d is not None:
                    await d[EVENTS].delete_many({})

            try:
                for concurrency in sizes.command_concurrency:
                    run_id = uuid.uuid4().hex[:6]
                    ours = our_steps(services, run_id)
                    shape = (concurrency, sizes.command_seconds, sizes.max_operations)
                    warm_up = (concurrency, sizes.command_warm_up_seconds, sizes.max_operations)
                    await timed_workers(*warm_up, ours)
                    await timed_workers(*warm_up, raw_steps)

                    async def our_round(shape: Shape = shape,
                                        services: Services = services) -> Measurement:
                        await emptied()
                        # Fresh booking ids each round: a round starts again at life 0.
                        fresh = our_steps(services, uuid.uuid4().hex[:6], PREBUILT_LIVES)
                        return await timed_workers(*shape, fresh)

                    async def raw_round(shape: Shape = shape, steps: Steps = raw_steps,
                                        empty: Callable[[], Awaitable[Any]] = empty_raw,
                                        ) -> Measurement:
                        await empty()
                        return await timed_workers(*shape, steps)

                    mine, theirs = await paired_rounds(sizes.command_rounds, our_round, raw_round)
                    baseline_name = ("raw insert_one, same-size event documents"
                                     if backend == MONGODB else
                                     "raw sqlite3 INSERT, same rows, same PRAGMAs")
                    figures.append(figure(
                        NAME, backend, f"concurrency {concurrency}",
                        Side.of("BookingCommands.handle", "commands/s", mine),
                        Side.of(baseline_name, "inserts/s", theirs),
                        higher_is_better=True))
                    ctx.log(f"{NAME} {backend} c={concurrency}: "
                            f"{figures[-1].ours.value:.0f} vs {figures[-1].baseline.value:.0f}/s")
            finally:
                close_raw()
    return figures
