"""5. A peer: the embedded SQLite event store against the `eventsourcing` library's.

Both append the same events (real booking events, their JSON data and metadata) to the
same number of streams, one event per append as every booking command makes, one append
after another, each store in a fresh file of its own. Ours: `SqliteEventStore.append`, the
async call the service makes (its SQLite work runs in a thread via asyncio.to_thread).
Theirs: `SQLiteApplicationRecorder.insert_events` of eventsourcing, called as that
library's applications call it (synchronously), and, to tell the thread hop apart from the
storage work, also through asyncio.to_thread as ours is. Both use WAL; each keeps its own
synchronous setting (reported in the note).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from bench.context import BenchContext
from bench.stats import Figure, Measurement, Side, figure, rotated_rounds
from bench.traffic import recorded_events
from travelbuddy.eventstore.port import NewEvent
from travelbuddy.eventstore.sqlite import SqliteEventStore

NAME = "5 event store peer"
USES_MONGODB = False

Append = Callable[[int], Awaitable[Any]]


async def timed_appends(count: int, append: Append) -> Measurement:
    latencies: list[float] = []
    started = time.perf_counter()
    for number in range(count):
        begun = time.perf_counter()
        await append(number)
        latencies.append((time.perf_counter() - begun) * 1000)
    elapsed = time.perf_counter() - started
    return Measurement(value=count / elapsed, latencies_ms=latencies, count=count)


def _synchronous(datastore: SQLiteDatastore) -> int:
    with datastore.transaction(commit=False) as cursor:
        cursor.execute("PRAGMA synchronous")
        return int(cursor.fetchone()[0])


async def run(ctx: BenchContext) -> list[Figure]:
    sizes = ctx.sizes
    count, stream_count = sizes.peer_events, sizes.peer_streams
    sample = await recorded_events(count)
    new_events = [NewEvent(type=e.event.type, schema_version=e.event.schema_version,
                           data=e.event.data, metadata=e.event.metadata) for e in sample]
    payloads = [json.dumps({"data": e.data, "metadata": e.metadata.as_document()},
                           default=str).encode() for e in new_events]
    streams = [uuid.uuid4() for _ in range(stream_count)]
    synchronous: dict[str, int] = {}

    def where(number: int) -> tuple[uuid.UUID, int]:
        return streams[number % stream_count], number // stream_count

    async def ours() -> Measurement:
        store = SqliteEventStore(ctx.folder("peer-ours") / "events.sqlite3")

        async def append(number: int) -> int:
            stream, version = where(number)
            return await store.append(f"booking-{stream}", version, [new_events[number]])

        try:
            return await timed_appends(count, append)
        finally:
            store.close()

    def recorder(folder: Path) -> tuple[SQLiteDatastore, SQLiteApplicationRecorder]:
        datastore = SQLiteDatastore(str(folder / "events.sqlite3"))
        recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        synchronous["theirs"] = _synchronous(datastore)
        return datastore, recorder

    def stored(number: int) -> list[StoredEvent]:
        stream, version = where(number)
        return [StoredEvent(originator_id=stream, originator_version=version + 1,
                            topic=new_events[number].type, state=payloads[number])]

    async def theirs(in_thread: bool) -> Measurement:
        datastore, store = recorder(ctx.folder("peer-theirs"))

        async def append(number: int) -> Any:
            if in_thread:
                return await asyncio.to_thread(store.insert_events, stored(number))
            return store.insert_events(stored(number))

        try:
            return await timed_appends(count, append)
        finally:
            datastore.close()

    mine, direct, threaded = await rotated_rounds(
        sizes.rounds, ours, functools.partial(theirs, False), functools.partial(theirs, True))
    case = f"{count:,} events, {stream_count:,} streams, one per append"
    note = (f"both WAL; synchronous ours 2 (FULL), theirs {synchronous.get('theirs')} "
            "(0 OFF, 1 NORMAL, 2 FULL)")
    ours_name = "SqliteEventStore.append (async, to_thread)"
    figures = [
        figure(NAME, "embedded", case, Side.of(ours_name, "events/s", mine),
               Side.of("eventsourcing SQLiteApplicationRecorder.insert_events (sync)",
                       "events/s", direct), higher_is_better=True, note=note),
        figure(NAME, "embedded", case + "; theirs also via asyncio.to_thread",
               Side.of(ours_name, "events/s", mine),
               Side.of("eventsourcing insert_events via asyncio.to_thread", "events/s",
                       threaded), higher_is_better=True, note=note),
    ]
    for f in figures:
        ctx.log(f"{NAME}: {f.ours.value:.0f} vs {f.baseline.value:.0f} events/s ({f.case})")
    return figures
