"""What the service needs from MongoDB, proven against the test server over the network."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


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
