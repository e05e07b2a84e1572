"""Stores filled before a benchmark starts, with events the real command handler made."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from bench.traffic import RecordedEvent, by_stream
from travelbuddy.eventstore.mongo import EVENTS, MongoEventStore, event_document
from travelbuddy.eventstore.sqlite import SqliteEventStore

BATCH = 1_000


async def fill_mongo(database: AsyncDatabase[dict[str, Any]],
                     events: Sequence[RecordedEvent]) -> None:
    """Insert the events as MongoEventStore stores them, a thousand per insert_many."""
    await MongoEventStore(database).create_indexes()
    documents = [event_document(e.stream_id, e.version, e.event) for e in events]
    for start in range(0, len(documents), BATCH):
        await database[EVENTS].insert_many(documents[start:start + BATCH], ordered=True)


async def fill_mongo_after_anchor(database: AsyncDatabase[dict[str, Any]],
                                  anchor: RecordedEvent,
                                  events: Sequence[RecordedEvent],
                                  time_limit: float) -> Any:
    """Insert `anchor`, then `events`; return the change-stream resume token of the
    anchor, from which a reader sees exactly `events`.

    The test server hands out no resume token before the first change, so the anchor
    (a booking request whose booking has no later events) gives one.
    """
    collection = database[EVENTS]
    await MongoEventStore(database).create_indexes()
    async with await collection.watch(max_await_time_ms=100) as stream:
        await collection.insert_one(event_document(anchor.stream_id, anchor.version,
                                                   anchor.event))
        deadline = asyncio.get_running_loop().time() + time_limit
        while await stream.try_next() is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the anchor event never reached the change stream")
            await asyncio.sleep(0.01)
        token = stream.resume_token
    await fill_mongo(database, events)
    return token


async def fill_sqlite(path: Path, events: Sequence[RecordedEvent]) -> None:
    """Append the events to a SQLite event store file, one transaction per booking."""
    store = SqliteEventStore(path)
    try:
        for stream_id, stream in by_stream(events).items():
            await store.append(stream_id, stream[0].version - 1, [e.event for e in stream])
    finally:
        store.close()
