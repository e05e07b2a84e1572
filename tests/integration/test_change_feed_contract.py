"""The ChangeFeed contract, against both adapters: a MongoDB change stream on `events`
and the SQLite store's global position."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from travelbuddy.eventstore.feeds import ChangeFeed, FeedCursor
from travelbuddy.eventstore.mongo import EVENTS, MongoChangeFeed, MongoEventStore
from travelbuddy.eventstore.port import EventMetadata, EventStore, NewEvent
from travelbuddy.eventstore.sqlite import SqliteChangeFeed, SqliteEventStore


@dataclass
class Backend:
    store: EventStore
    feed: ChangeFeed


@pytest.fixture(params=["mongodb", "sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        sqlite = SqliteEventStore(tmp_path / "events.sqlite3")
        yield Backend(sqlite, SqliteChangeFeed(sqlite))
        sqlite.close()
        return
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        request.getfixturevalue("mongodb_url"), tz_aware=True)
    database = client[request.getfixturevalue("database_name")]
    mongo = MongoEventStore(database)
    await mongo.create_indexes()
    yield Backend(mongo, MongoChangeFeed(database[EVENTS]))
    await client.close()


async def append(store: EventStore, stream: str, count: int) -> None:
    version = len(await store.read(stream))
    for n in range(count):
        await store.append(stream, version + n, [NewEvent(
            type="HotelReserved", schema_version=1, data={"n": version + n + 1},
            metadata=EventMetadata(event_id=str(uuid.uuid4()), customer_id="alice",
                                   recorded_at=dt.datetime.now(dt.UTC)))])


async def take(cursor: FeedCursor, count: int) -> list[tuple[str, int]]:
    taken: list[tuple[str, int]] = []
    deadline = asyncio.get_running_loop().time() + 10
    while len(taken) < count:
        event = await cursor.try_next()
        if event is None:
            assert asyncio.get_running_loop().time() < deadline, f"only {taken}"
            await asyncio.sleep(0.01)
            continue
        taken.append((event.stream_id, event.version))
    return taken


async def test_a_new_cursor_sees_only_events_appended_after_it_opened(backend: Backend) -> None:
    await append(backend.store, "booking-a", 2)
    cursor = await backend.feed.open()
    await append(backend.store, "booking-b", 2)

    taken = await take(cursor, 2)

    assert taken == [("booking-b", 1), ("booking-b", 2)]
    assert await cursor.try_next() is None
    await cursor.close()


async def test_a_cursor_resumed_from_a_token_sees_exactly_the_later_events(
    backend: Backend,
) -> None:
    cursor = await backend.feed.open()
    await append(backend.store, "booking-a", 3)
    await take(cursor, 2)
    token = cursor.resume_token
    await cursor.close()
    await append(backend.store, "booking-b", 1)

    resumed = await backend.feed.open(token)
    taken = await take(resumed, 2)

    assert taken == [("booking-a", 3), ("booking-b", 1)]
    assert await resumed.try_next() is None
    await resumed.close()
