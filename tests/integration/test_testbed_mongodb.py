"""What the service needs from MongoDB, proven against the test server over the network."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from travelbuddy.application import BookingCommands, Caller, StaticCatalog
from travelbuddy.domain import ChangeStayDates, HotelStayRequest, RequestBooking, Traveler
from travelbuddy.eventstore.mongo import EVENTS, MongoChangeFeed, MongoEventStore
from travelbuddy.eventstore.port import ConcurrencyError, NewEvent, StoredEvent

ALICE = Caller("alice")


async def test_insert_and_find_round_trip(mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    trips = [{"city": "Sapporo", "nights": 3}, {"city": "Naha", "nights": 2}]
    await mongo_db.trips.insert_many(trips)

    found = await mongo_db.trips.find({"nights": {"$gte": 3}}, {"_id": 0}).to_list()

    assert found == [{"city": "Sapporo", "nights": 3}]


async def test_compound_unique_index_rejects_a_duplicate(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    events = mongo_db.events
    await events.create_index([("stream_id", ASCENDING), ("version", ASCENDING)], unique=True)
    await events.insert_one({"stream_id": "booking-1", "version": 1})
    await events.insert_one({"stream_id": "booking-1", "version": 2})
    await events.insert_one({"stream_id": "booking-2", "version": 1})

    with pytest.raises(DuplicateKeyError):
        await events.insert_one({"stream_id": "booking-1", "version": 2})
    assert await events.count_documents({"stream_id": "booking-1"}) == 2


async def test_change_stream_resumes_after_a_saved_token_without_loss_or_repeat(
    mongodb_url: str, database_name: str
) -> None:
    first: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    collection = first[database_name].feed
    seen: list[int] = []
    token_after_200: Any = None
    async with await collection.watch() as stream:
        await collection.insert_many([{"n": n} for n in range(1, 501)], ordered=True)
        while len(seen) < 500:
            change = await stream.next()
            seen.append(change["fullDocument"]["n"])
            if len(seen) == 200:
                token_after_200 = stream.resume_token
    await first.close()
    assert seen == list(range(1, 501))

    second: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    resumed: list[int] = []
    async with await second[database_name].feed.watch(resume_after=token_after_200) as stream:
        while len(resumed) < 300:
            change = await stream.next()
            resumed.append(change["fullDocument"]["n"])
        assert await stream.try_next() is None
    await second.close()
    assert resumed == list(range(201, 501))


# --- a refused insert is not a change --------------------------------------------------
# A real MongoDB writes an oplog entry only for a document it stored; mongo-java-server
# wrote one for every document of an insert command, refused or not (see the launcher,
# tests/services/src/CommittedWritesOplog.java).


async def inserts_until(stream: Any, last: int) -> list[int]:
    """The `n` of every inserted document the stream yields, up to and including `last`."""
    seen: list[int] = []
    while not seen or seen[-1] != last:
        change = await stream.next()
        assert change["operationType"] == "insert", change
        seen.append(change["fullDocument"]["n"])
    return seen


async def test_a_change_stream_skips_an_insert_refused_as_a_duplicate(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    keyed = mongo_db.keyed
    await keyed.create_index("key", unique=True)
    async with await keyed.watch() as stream:
        await keyed.insert_one({"key": "a", "n": 1})
        with pytest.raises(DuplicateKeyError):
            await keyed.insert_one({"key": "a", "n": 2})
        await keyed.insert_one({"key": "b", "n": 3})

        assert await inserts_until(stream, last=3) == [1, 3]
        assert await stream.try_next() is None
    assert await keyed.count_documents({}) == 2


@pytest.mark.parametrize(("ordered", "stored"), [(True, [1]), (False, [1, 3])])
async def test_a_change_stream_shows_only_the_documents_a_batch_insert_stored(
    mongo_db: AsyncDatabase[dict[str, Any]], ordered: bool, stored: list[int]
) -> None:
    keyed = mongo_db.keyed
    await keyed.create_index("key", unique=True)
    batch = [{"key": "a", "n": 1}, {"key": "a", "n": 2}, {"key": "b", "n": 3}]
    async with await keyed.watch() as stream:
        with pytest.raises(BulkWriteError):  # an ordered batch stops at its first refusal
            await keyed.insert_many(batch, ordered=ordered)
        await keyed.insert_one({"key": "end", "n": 99})

        assert await inserts_until(stream, last=99) == [*stored, 99]
    assert sorted(d["n"] for d in await keyed.find().to_list()) == [*stored, 99]


class RefusalCountingStore(MongoEventStore):
    """The MongoDB event store, counting the appends refused for a stale version."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(database)
        self.refused = 0

    async def append(self, stream_id: str, expected_version: int,
                     events: Sequence[NewEvent]) -> int:
        try:
            return await super().append(stream_id, expected_version, events)
        except ConcurrencyError:
            self.refused += 1
            raise


def trip(booking_id: str, today: dt.date) -> RequestBooking:
    return RequestBooking(
        booking_id=booking_id, customer_id="alice",
        hotel_stays=(HotelStayRequest(hotel_id="hotel-sapporo-1", room_type="STD",
                                      check_in=today + dt.timedelta(days=30),
                                      check_out=today + dt.timedelta(days=33), guests=2),),
        travelers=(Traveler(name="Hanako Yamada"),),
    )


def change_dates(booking_id: str, today: dt.date, nights: int) -> ChangeStayDates:
    check_in = today + dt.timedelta(days=30)
    return ChangeStayDates(booking_id=booking_id, check_in=check_in,
                           check_out=check_in + dt.timedelta(days=nights))


async def test_racing_writers_put_only_stored_events_on_the_change_feed(
    mongodb_url: str, database_name: str
) -> None:
    """Two writers (two clients, as two service processes would be) change the same
    bookings at once, so many appends are refused; a change-feed reader sees exactly the
    stored events, each booking's in version order."""
    today = dt.datetime.now(dt.UTC).date()
    clients: list[AsyncMongoClient[dict[str, Any]]] = [
        AsyncMongoClient(mongodb_url, tz_aware=True) for _ in range(3)]
    stores = [RefusalCountingStore(client[database_name]) for client in clients[:2]]
    await stores[0].create_indexes()
    writers = [BookingCommands(store, StaticCatalog(), max_attempts=100) for store in stores]
    cursor = await MongoChangeFeed(clients[2][database_name][EVENTS]).open()
    seen: list[StoredEvent] = []

    async def read_feed() -> None:
        while True:
            event = await cursor.try_next()
            if event is None:
                await cursor.wait()
            else:
                seen.append(event)

    async def keep_changing(writer: BookingCommands, booking_id: str) -> None:
        for nights in [2, 3, 4, 5] * 5:
            await writer.handle(change_dates(booking_id, today, nights), ALICE)

    reader = asyncio.create_task(read_feed())
    try:
        bookings = [f"race-{n}" for n in range(6)]
        for booking_id in bookings:
            await writers[0].handle(trip(booking_id, today), ALICE)
        await asyncio.gather(*(keep_changing(writer, booking_id)
                               for booking_id in bookings for writer in writers))
        await writers[0].handle(trip("race-last", today), ALICE)  # the feed's last event
        stored = [event async for event in stores[0].read_all()]
        async with asyncio.timeout(10):
            while not any(event.stream_id == "booking-race-last" for event in seen):
                assert not reader.done()
                await asyncio.sleep(0.02)
    finally:
        reader.cancel()
        await cursor.close()
        for client in clients:
            await client.close()

    refused = sum(store.refused for store in stores)
    assert refused >= 20, f"only {refused} appends refused: the writers did not race"
    assert len(stored) == len(bookings) * (1 + 2 * 20) + 1
    stored_ids = {event.metadata.event_id for event in stored}
    seen_ids = [event.metadata.event_id for event in seen]
    assert [event_id for event_id in seen_ids if event_id not in stored_ids] == []
    assert len(seen_ids) == len(set(seen_ids)) == len(stored_ids)  # none twice, none missing
    versions_seen: dict[str, list[int]] = defaultdict(list)
    for event in seen:
        versions_seen[event.stream_id].append(event.version)
    assert all(versions == list(range(1, len(versions) + 1))
               for versions in versions_seen.values()), versions_seen
