"""`bulk_write`, as the projections batch their writes: the test MongoDB and the in-memory
database answer the same operations the same way (the `database` fixture runs each test on
both)."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

Database = AsyncDatabase[dict[str, Any]]


async def test_inserts_replacements_and_upserting_updates_in_one_call(database: Database) -> None:
    nights = database["nights"]
    await nights.insert_one({"_id": "h1|2027-01-01", "bookings": ["a"], "version": 1})

    result = await nights.bulk_write([
        InsertOne({"_id": "h1|2027-01-02", "bookings": ["b"]}),
        ReplaceOne({"_id": "h1|2027-01-01", "version": 1}, {"bookings": ["a", "c"], "version": 2}),
        UpdateOne({"_id": "h1|2027-01-01"}, {"$pull": {"bookings": {"$in": ["a", "x"]}}}),
        UpdateOne({"_id": "h1|2027-01-03"},
                  {"$addToSet": {"bookings": {"$each": ["d", "e", "d"]}},
                   "$setOnInsert": {"hotel_id": "h1"}}, upsert=True),
        ReplaceOne({"_id": "h1|2027-01-01", "version": 1}, {"bookings": [], "version": 9}),
    ], ordered=False)

    assert (result.inserted_count, result.matched_count, result.modified_count,
            result.upserted_count) == (1, 2, 2, 1)
    assert result.upserted_ids == {3: "h1|2027-01-03"}
    assert [d async for d in nights.find({}).sort("_id", 1)] == [
        {"_id": "h1|2027-01-01", "bookings": ["c"], "version": 2},
        {"_id": "h1|2027-01-02", "bookings": ["b"]},
        {"_id": "h1|2027-01-03", "bookings": ["d", "e"], "hotel_id": "h1"},
    ]


@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
async def test_a_duplicate_key_is_a_bulk_write_error_naming_it(
    database: Database, ordered: bool
) -> None:
    views = database["views"]
    await views.insert_one({"_id": "b1", "version": 1})

    with pytest.raises(BulkWriteError) as raised:
        await views.bulk_write([
            InsertOne({"_id": "b2", "version": 1}),
            InsertOne({"_id": "b1", "version": 1}),
            InsertOne({"_id": "b3", "version": 1}),
        ], ordered=ordered)

    details = raised.value.details
    assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(1, 11000)]
    # What was written, not details["nInserted"]: the test MongoDB counts every document
    # it was sent there, MongoDB (and the in-memory database) those it inserted.
    expected = ["b1", "b2"] if ordered else ["b1", "b2", "b3"]
    assert [d["_id"] async for d in views.find({}).sort("_id", 1)] == expected
