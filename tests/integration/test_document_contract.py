"""One suite, two backends: the test MongoDB and the in-memory database answer every
collection call the read side makes in the same way (the embedded default, issue 6).

Where the test MongoDB (mongo-java-server) departs from MongoDB itself, a test asserts
only what both agree on and says why; the in-memory database follows MongoDB. What the
test MongoDB cannot show (a bounded change log, waiting without polling) is proven at the
end on the in-memory database alone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, cast

import pytest
from bson.objectid import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteError

from travelbuddy.embedded import InMemoryDatabase

Database = AsyncDatabase[dict[str, Any]]
Stream = AsyncChangeStream[dict[str, Any]]
STREAM_ENDS = {"invalidate", "drop", "rename"}  # what the service reopens its stream on


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
    microsecond: int = 0,
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, microsecond, tzinfo=dt.UTC)


async def changes_seen(stream: Stream, count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
    """The next `count` changes. The test MongoDB answers an empty getMore at once, so poll
    `try_next` with a short sleep up to a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    seen: list[dict[str, Any]] = []
    while len(seen) < count:
        change = await stream.try_next()
        if change is not None:
            seen.append(change)
            continue
        assert loop.time() < deadline, f"saw {len(seen)} of {count} changes: {seen}"
        await asyncio.sleep(0.02)
    return seen


def versions(changes: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(c["fullDocument"]["_id"], c["fullDocument"]["version"]) for c in changes]


async def nothing_more(stream: Stream) -> bool:
    await asyncio.sleep(0.1)
    return await stream.try_next() is None


# ---- inserts and finds ---------------------------------------------------------------

async def test_inserted_document_is_found_by_id_and_by_a_dotted_field(database: Database) -> None:
    views = database["booking_views"]
    view = {"_id": "b1", "customer_id": "c1", "metadata": {"command_id": "cmd-1"}}

    inserted = await views.insert_one(view)

    assert inserted.inserted_id == "b1"
    assert await views.find_one({"_id": "b1"}) == view
    assert await views.find_one("b1") == view  # a plain value is an _id
    assert await views.find_one({"metadata.command_id": "cmd-1"}) == view
    assert await views.find_one({"metadata.command_id": "cmd-2"}) is None
    assert await views.find_one({"_id": "b2"}) is None


async def test_insert_without_an_id_gets_an_object_id(database: Database) -> None:
    document: dict[str, Any] = {"note": "no id"}

    inserted = await database["notes"].insert_one(document)

    assert isinstance(inserted.inserted_id, ObjectId)
    assert document["_id"] == inserted.inserted_id  # PyMongo sets it on the caller's dict
    assert await database["notes"].find_one({"_id": inserted.inserted_id}) == document


async def test_inserting_an_existing_id_raises_duplicate_key(database: Database) -> None:
    await database["booking_views"].insert_one({"_id": "b1", "version": 1})

    with pytest.raises(DuplicateKeyError):
        await database["booking_views"].insert_one({"_id": "b1", "version": 2})
    assert await database["booking_views"].find_one({"_id": "b1"}) == {"_id": "b1", "version": 1}


async def test_documents_handed_out_are_copies(database: Database) -> None:
    source: dict[str, Any] = {"_id": "h1", "bookings": ["b1"]}
    await database["hotel_occupancy"].insert_one(source)
    source["bookings"].append("sneaked in")

    found = await database["hotel_occupancy"].find_one({"_id": "h1"})
    assert found is not None
    found["bookings"].append("changed by a reader")

    assert await database["hotel_occupancy"].find_one({"_id": "h1"}) == {
        "_id": "h1", "bookings": ["b1"]
    }


async def test_datetimes_come_back_in_utc_to_the_millisecond(database: Database) -> None:
    await database["checkpoints"].insert_one({
        "_id": "p", "aware": utc(2025, 3, 1, 12, 0, 0, 123456),
        "naive": dt.datetime(2025, 3, 1, 12, 0, 0),
    })

    found = await database["checkpoints"].find_one({"_id": "p"})

    assert found == {"_id": "p", "aware": utc(2025, 3, 1, 12, 0, 0, 123000),
                     "naive": utc(2025, 3, 1, 12, 0, 0)}


PEOPLE: list[dict[str, Any]] = [
    {"_id": "a", "n": 1, "s": "alpha", "tags": ["x", "y"], "meta": {"k": "one"},
     "at": utc(2024, 1, 1)},
    {"_id": "b", "n": 2, "s": "beta", "tags": ["y"], "meta": {"k": "two"}, "at": utc(2024, 6, 1)},
    {"_id": "c", "n": 3, "s": None, "tags": [], "at": utc(2025, 1, 1)},
    {"_id": "d", "n": "3", "s": "delta"},
    {"_id": "e", "n": 2.5, "tags": "x", "meta": {"k": None}},
]


@pytest.mark.parametrize(("query", "expected"), [
    ({}, "abcde"),
    ({"n": 2}, "b"),
    ({"n": 3}, "c"),  # the string "3" is another type
    ({"tags": "y"}, "ab"),  # a value matches an array holding it
    ({"tags": "x"}, "ae"),
    ({"tags": []}, "c"),
    ({"meta.k": "two"}, "b"),
    ({"meta.k": None}, "cde"),  # null matches null and missing
    ({"s": None}, "ce"),
    ({"meta": {"k": "one"}}, "a"),
    ({"n": {"$in": [1, "3"]}}, "ad"),
    ({"tags": {"$in": ["x", "z"]}}, "ae"),
    ({"n": {"$in": []}}, ""),
    ({"n": {"$gt": 2}}, "ce"),  # numbers only: "3" is not greater than 2
    ({"n": {"$gte": 2, "$lt": 3}}, "be"),
    ({"n": {"$lte": 1}}, "a"),
    ({"s": {"$gt": "b"}}, "bd"),
    ({"_id": {"$gt": "b"}}, "cde"),
    ({"at": {"$gte": utc(2024, 6, 1)}}, "bc"),
    ({"at": {"$lt": dt.datetime(2024, 6, 1)}}, "a"),  # a naive datetime is UTC
    ({"n": {"$ne": 2}}, "acde"),
    ({"tags": {"$ne": "y"}}, "cde"),
    ({"meta": {"$exists": True}}, "abe"),
    ({"meta.k": {"$exists": False}}, "cd"),
    ({"$or": [{"n": 1}, {"s": "delta"}]}, "ad"),
    ({"$and": [{"tags": "y"}, {"n": {"$gt": 1}}]}, "b"),
    ({"n": {"$gt": 1}, "$or": [{"tags": "x"}, {"s": "beta"}]}, "be"),
])
@pytest.mark.parametrize("indexed", [False, True], ids=["scan", "indexed"])
async def test_filters_select_the_same_documents(
    database: Database, query: dict[str, Any], expected: str, indexed: bool
) -> None:
    if indexed:  # the in-memory database finds by equality through declared indexes
        await database["people"].create_indexes(
            [IndexModel([(field, ASCENDING)]) for field in ("n", "s", "tags", "meta.k", "at")]
        )
    await database["people"].insert_many([dict(person) for person in PEOPLE])

    found = await database["people"].find(query).to_list()

    assert sorted(document["_id"] for document in found) == list(expected)


async def test_count_documents_counts_the_matches(database: Database) -> None:
    await database["people"].insert_many([dict(person) for person in PEOPLE])

    assert await database["people"].count_documents({}) == 5
    assert await database["people"].count_documents({"_id": {"$gt": "b"}}) == 3
    assert await database["people"].count_documents({"tags": "nobody"}) == 0
    assert await database["empty"].count_documents({}) == 0


async def test_projection_keeps_the_asked_fields(database: Database) -> None:
    await database["people"].insert_many([dict(person) for person in PEOPLE])
    people = database["people"]

    assert await people.find({"_id": "a"}, {"_id": 1}).to_list() == [{"_id": "a"}]
    assert await people.find({"_id": "a"}, {"s": 1}).to_list() == [{"_id": "a", "s": "alpha"}]
    assert await people.find({"_id": "a"}, {"s": 1, "_id": 0}).to_list() == [{"s": "alpha"}]
    assert await people.find({"_id": "a"}, {"meta.k": 1}).to_list() == [
        {"_id": "a", "meta": {"k": "one"}}
    ]
    assert await people.find({"_id": "b"}, {"tags": 0, "at": 0, "meta": 0}).to_list() == [
        {"_id": "b", "n": 2, "s": "beta"}
    ]


# ---- sort and limit --------------------------------------------------------------------

VIEWS: list[dict[str, Any]] = [
    {"_id": "b4", "customer_id": "c1", "check_in": "2025-07-01"},
    {"_id": "b2", "customer_id": "c1", "check_in": "2025-06-01"},
    {"_id": "b3", "customer_id": "c1", "check_in": None},
    {"_id": "b1", "customer_id": "c1", "check_in": "2025-06-01"},
    {"_id": "b5", "customer_id": "c1"},
]


async def test_sort_by_several_keys_puts_null_and_missing_first(database: Database) -> None:
    await database["booking_views"].insert_many([dict(view) for view in VIEWS])
    views = database["booking_views"]

    ascending = await views.find({}).sort([("check_in", ASCENDING), ("_id", ASCENDING)]).to_list()
    descending = await views.find({}).sort(
        [("check_in", DESCENDING), ("_id", DESCENDING)]
    ).to_list()

    assert [v["_id"] for v in ascending] == ["b3", "b5", "b1", "b2", "b4"]
    assert [v["_id"] for v in descending] == ["b4", "b2", "b1", "b5", "b3"]


async def test_sort_one_key_then_limit_a_page(database: Database) -> None:
    await database["booking_views"].insert_many([dict(view) for view in VIEWS])
    views = database["booking_views"]

    after_new_year = views.find({"check_in": {"$gt": "2025-01-01"}})
    page = await after_new_year.sort("check_in", ASCENDING).limit(2).to_list()
    by_id = [v["_id"] async for v in views.find({}).sort("_id", DESCENDING)]
    first_two = await views.find({}).sort("_id", ASCENDING).to_list(2)

    assert [v["check_in"] for v in page] == ["2025-06-01", "2025-06-01"]
    assert by_id == ["b5", "b4", "b3", "b2", "b1"]
    assert [v["_id"] for v in first_two] == ["b1", "b2"]


async def test_sort_orders_values_of_different_types_as_mongodb(database: Database) -> None:
    await database["mixed"].insert_many([
        {"_id": 1, "x": None}, {"_id": 2}, {"_id": 3, "x": "a"}, {"_id": 4, "x": 5},
        {"_id": 5, "x": utc(2020, 1, 1)}, {"_id": 6, "x": [3, 9]}, {"_id": 7, "x": True},
    ])
    mixed = database["mixed"]

    up = await mixed.find({}).sort([("x", ASCENDING), ("_id", ASCENDING)]).to_list()
    down = await mixed.find({}).sort([("x", DESCENDING), ("_id", ASCENDING)]).to_list()

    # null = missing < numbers (an array by its least element going up) < strings
    # < booleans < dates; going down an array sorts by its greatest element.
    assert [d["_id"] for d in up] == [1, 2, 6, 4, 3, 7, 5]
    assert [d["_id"] for d in down] == [5, 7, 3, 6, 4, 1, 2]


# ---- updates ---------------------------------------------------------------------------

async def test_upsert_inserts_once_with_set_on_insert(database: Database) -> None:
    nights = database["hotel_occupancy"]
    update = {"$addToSet": {"bookings": "b1"},
              "$setOnInsert": {"hotel_id": "h1", "night": "2025-06-01"}}

    first = await nights.update_one({"_id": "h1|2025-06-01"}, update, upsert=True)
    again = await nights.update_one({"_id": "h1|2025-06-01"}, update, upsert=True)
    other = await nights.update_one(
        {"_id": "h1|2025-06-01"},
        {"$addToSet": {"bookings": "b2"}, "$setOnInsert": {"hotel_id": "elsewhere"}},
        upsert=True,
    )

    assert (first.matched_count, first.modified_count, first.upserted_id) == (
        0, 0, "h1|2025-06-01"
    )
    assert (again.matched_count, again.modified_count, again.upserted_id) == (1, 0, None)
    assert (other.matched_count, other.modified_count, other.upserted_id) == (1, 1, None)
    assert await nights.find_one({}) == {
        "_id": "h1|2025-06-01", "bookings": ["b1", "b2"], "hotel_id": "h1", "night": "2025-06-01"
    }


async def test_upsert_takes_the_equality_fields_of_the_filter(database: Database) -> None:
    counters = database["counters"]

    result = await counters.update_one(
        {"kind": "night", "scope.hotel": "h1", "size": {"$gt": 1}},
        {"$inc": {"count": 1}}, upsert=True,
    )

    assert isinstance(result.upserted_id, ObjectId)
    assert await counters.find_one({}, {"_id": 0}) == {
        "kind": "night", "scope": {"hotel": "h1"}, "count": 1
    }


async def test_parking_twice_sets_fields_and_counts_attempts(database: Database) -> None:
    parked = database["projection_dlq"]
    for error in ("first", "second"):
        await parked.update_one(
            {"_id": "booking_views|e1"},
            {"$set": {"projection": "booking_views", "error": error, "event.version": 3},
             "$inc": {"attempts": 1}},
            upsert=True,
        )

    assert await parked.find_one({"_id": "booking_views|e1"}) == {
        "_id": "booking_views|e1", "projection": "booking_views", "error": "second",
        "event": {"version": 3}, "attempts": 2,
    }


async def test_unset_removes_a_field_once(database: Database) -> None:
    parked = database["projection_dlq"]
    await parked.insert_one({"_id": "e1", "error": "boom", "event": {"version": 3, "type": "X"}})

    removed = await parked.update_one({"_id": "e1"}, {"$unset": {"error": "", "event.type": 1}})
    again = await parked.update_one({"_id": "e1"}, {"$unset": {"error": ""}})

    assert (removed.modified_count, again.modified_count) == (1, 0)
    assert await parked.find_one({"_id": "e1"}) == {"_id": "e1", "event": {"version": 3}}


async def test_add_to_set_and_pull_are_idempotent(database: Database) -> None:
    nights = database["hotel_occupancy"]
    await nights.insert_many([{"_id": "n1", "bookings": ["b1", "b2"]},
                              {"_id": "n2", "bookings": ["b1"]},
                              {"_id": "n3", "bookings": ["b3"]}])

    added = await nights.update_one({"_id": "n3"}, {"$addToSet": {"bookings": "b3"}})
    pulled = await nights.update_many({"_id": {"$in": ["n1", "n2", "n3"]}},
                                      {"$pull": {"bookings": "b1"}})
    pulled_again = await nights.update_many({"_id": {"$in": ["n1", "n2", "n3"]}},
                                            {"$pull": {"bookings": "b1"}})

    assert (added.matched_count, added.modified_count) == (1, 0)
    assert (pulled.matched_count, pulled.modified_count) == (3, 2)
    assert (pulled_again.matched_count, pulled_again.modified_count) == (3, 0)
    assert [d async for d in nights.find({"bookings": "b1"})] == []
    assert await nights.find({}).sort("_id", ASCENDING).to_list() == [
        {"_id": "n1", "bookings": ["b2"]}, {"_id": "n2", "bookings": []},
        {"_id": "n3", "bookings": ["b3"]},
    ]


async def test_update_of_nothing_matches_nothing(database: Database) -> None:
    result = await database["booking_views"].update_many({"_id": "none"}, {"$set": {"a": 1}})

    assert (result.matched_count, result.modified_count, result.upserted_id) == (0, 0, None)
    assert await database["booking_views"].count_documents({}) == 0


async def test_optimistic_replace_applies_only_at_the_expected_version(
    database: Database,
) -> None:
    views = database["booking_views"]
    await views.insert_one({"_id": "b1", "version": 1, "status": "REQUESTED"})

    applied = await views.replace_one({"_id": "b1", "version": 1},
                                      {"_id": "b1", "version": 2, "status": "CONFIRMED"})
    stale = await views.replace_one({"_id": "b1", "version": 1},
                                    {"_id": "b1", "version": 2, "status": "CANCELLED"})
    without_id = await views.replace_one({"_id": "b1", "version": 2},
                                         {"version": 3, "status": "CANCELLED"})

    assert (applied.matched_count, applied.modified_count) == (1, 1)
    assert (stale.matched_count, stale.modified_count) == (0, 0)
    assert (without_id.matched_count, without_id.modified_count) == (1, 1)
    assert await views.find_one({"_id": "b1"}) == {
        "_id": "b1", "version": 3, "status": "CANCELLED"
    }


async def test_replace_upsert_takes_the_id_from_the_filter(database: Database) -> None:
    checkpoints = database["checkpoints"]
    saved = {"resume_token": {"_data": "01"}, "position": None}

    first = await checkpoints.replace_one({"_id": "read-models"}, saved, upsert=True)
    again = await checkpoints.replace_one({"_id": "read-models"}, saved, upsert=True)

    assert (first.matched_count, first.upserted_id) == (0, "read-models")
    assert (again.matched_count, again.modified_count, again.upserted_id) == (1, 0, None)
    assert await checkpoints.find_one({"_id": "read-models"}) == {"_id": "read-models", **saved}


async def test_delete_one_deletes_one_match(database: Database) -> None:
    await database["people"].insert_many([dict(person) for person in PEOPLE])
    people = database["people"]

    one = await people.delete_one({"tags": "y"})
    none = await people.delete_one({"_id": "nobody"})

    assert (one.deleted_count, none.deleted_count) == (1, 0)
    assert await people.count_documents({"tags": "y"}) == 1
    assert await people.count_documents({}) == 4


@pytest.mark.parametrize(("update", "refusal"), [
    ({"$set": {"a": 1}, "$setOnInsert": {"a": 2}}, WriteError),  # two operators, one path
    ({"$set": {"a": 1, "a.b": 2}}, WriteError),
    ({"$set": {"_id": "other"}}, WriteError),  # _id is immutable
    ({"$inc": {"n": "one"}}, WriteError),
    ({"$inc": {"s": 1}}, WriteError),  # not a number there
    ({"$addToSet": {"s": "x"}}, WriteError),  # not an array there
    ({"$set": {"s.inner": 1}}, WriteError),  # no field inside a string
    ({"$frobnicate": {"s": 1}}, WriteError),
    ({"a": 1}, ValueError),  # the driver refuses a replacement passed as an update
])
async def test_refused_updates_change_nothing(
    database: Database, update: dict[str, Any], refusal: type[Exception]
) -> None:
    await database["things"].insert_one({"_id": "t", "s": "text", "n": 1})

    with pytest.raises(refusal):
        await database["things"].update_one({"_id": "t"}, update, upsert=True)

    assert await database["things"].find_one({}) == {"_id": "t", "s": "text", "n": 1}


async def test_refused_writes_and_queries(database: Database) -> None:
    things = database["things"]
    await things.insert_one({"_id": 1})

    with pytest.raises(ValueError):
        await things.replace_one({"_id": 1}, {"$set": {"a": 1}})
    with pytest.raises(WriteError):
        await things.replace_one({"_id": 1}, {"_id": 2})
    with pytest.raises(BulkWriteError):
        await things.insert_many([{"_id": 2}, {"_id": 1}, {"_id": 3}])
    with pytest.raises(OperationFailure):
        await things.find({"_id": {"$frobnicate": 1}}).to_list()
    assert [d["_id"] async for d in things.find({})] == [1, 2]  # ordered: stopped at the error


# ---- unique indexes --------------------------------------------------------------------

async def test_unique_index_rejects_every_conflicting_write(database: Database) -> None:
    users = database["users"]
    indexes = [IndexModel([("email", ASCENDING)], unique=True, name="email"),
               IndexModel([("city", ASCENDING)], name="city")]
    assert await users.create_indexes(indexes) == ["email", "city"]
    await users.create_indexes(indexes)  # again: nothing changes
    await users.insert_many([{"_id": 1, "email": "a@x", "city": "Oslo"},
                             {"_id": 2, "email": "b@x", "city": "Oslo"}])

    with pytest.raises(DuplicateKeyError):
        await users.insert_one({"_id": 3, "email": "a@x"})
    with pytest.raises(DuplicateKeyError):
        await users.replace_one({"_id": 2}, {"email": "a@x"})
    with pytest.raises(DuplicateKeyError):
        await users.update_one({"_id": 2}, {"$set": {"email": "a@x"}})
    with pytest.raises(DuplicateKeyError):
        await users.update_one({"_id": 9}, {"$set": {"email": "a@x"}}, upsert=True)
    with pytest.raises(DuplicateKeyError):
        await users.insert_one({"_id": 4})  # missing is null, and the first null is free
        await users.insert_one({"_id": 5})

    await users.update_one({"_id": 2}, {"$set": {"email": "c@x"}})
    await users.insert_one({"_id": 6, "email": "b@x"})  # freed by the update
    emails = [d["email"] async for d in users.find({"email": {"$ne": None}})]
    assert sorted(emails) == ["a@x", "b@x", "c@x"]


async def test_compound_sparse_unique_index_leaves_out_documents_without_its_fields(
    database: Database,
) -> None:
    events = database["events"]
    await events.create_indexes([
        IndexModel([("stream_id", ASCENDING), ("version", ASCENDING)], unique=True),
        IndexModel([("metadata.command_key", ASCENDING)], unique=True, sparse=True),
    ])
    await events.insert_many([
        {"stream_id": "booking-1", "version": 1, "metadata": {"command_key": "k1"}},
        {"stream_id": "booking-1", "version": 2, "metadata": {}},
        {"stream_id": "booking-2", "version": 1, "metadata": {}},
    ])

    with pytest.raises(DuplicateKeyError):
        await events.insert_one({"stream_id": "booking-1", "version": 2, "metadata": {}})
    with pytest.raises(DuplicateKeyError):
        await events.insert_one(
            {"stream_id": "booking-3", "version": 1, "metadata": {"command_key": "k1"}}
        )
    assert await events.count_documents({}) == 3


# ---- change streams --------------------------------------------------------------------

async def test_stream_sees_each_write_after_it_opened_with_looked_up_documents(
    database: Database,
) -> None:
    views = database["booking_views"]
    await views.insert_one({"_id": "before", "version": 1})
    async with await views.watch(full_document="updateLookup") as stream:
        assert await stream.try_next() is None  # at once, and nothing from before it opened

        await views.insert_one({"_id": "b1", "version": 1})
        [inserted] = await changes_seen(stream, 1)
        await views.update_one({"_id": "b1"}, {"$set": {"version": 2}})
        [updated] = await changes_seen(stream, 1)
        await views.replace_one({"_id": "b1"}, {"version": 3})
        [replaced] = await changes_seen(stream, 1)
        await views.delete_one({"_id": "b1"})
        [deleted] = await changes_seen(stream, 1)

        assert await nothing_more(stream)
    assert inserted["operationType"] == "insert"
    assert inserted["documentKey"] == {"_id": "b1"}
    assert inserted["fullDocument"] == {"_id": "b1", "version": 1}
    assert updated["operationType"] == "update"
    assert updated["fullDocument"] == {"_id": "b1", "version": 2}
    # The test MongoDB reports a replacement as an update; MongoDB says "replace".
    assert replaced["operationType"] in ("replace", "update")
    assert replaced["documentKey"]["_id"] == "b1"
    assert replaced["fullDocument"] == {"_id": "b1", "version": 3}
    assert deleted["operationType"] == "delete"
    assert deleted["documentKey"] == {"_id": "b1"}
    assert deleted.get("fullDocument") is None
    assert len({change["_id"]["_data"] for change in (inserted, updated, replaced, deleted)}) == 4


async def test_write_that_changes_nothing_is_not_a_change(database: Database) -> None:
    views = database["booking_views"]
    await views.insert_one({"_id": "b1", "bookings": ["x"]})
    async with await views.watch() as stream:
        await views.update_one({"_id": "b1"}, {"$addToSet": {"bookings": "x"}})
        await views.replace_one({"_id": "b1"}, {"bookings": ["x"]})
        await views.insert_one({"_id": "b2"})

        [change] = await changes_seen(stream, 1)

        assert change["documentKey"] == {"_id": "b2"}
        assert await nothing_more(stream)


async def test_next_returns_a_change_already_there(database: Database) -> None:
    async with await database["booking_views"].watch() as stream:
        await database["booking_views"].insert_one({"_id": "b1"})
        await asyncio.sleep(0.05)

        change = await asyncio.wait_for(stream.next(), timeout=5)

    assert change["fullDocument"] == {"_id": "b1"}


async def test_match_on_document_key_and_full_document_as_the_subscriptions_do(
    database: Database,
) -> None:
    views = database["booking_views"]
    ends = {"operationType": {"$in": sorted(STREAM_ENDS)}}
    one_booking = [{"$match": {"$or": [{"documentKey._id": "b1"}, ends]}}]
    my_bookings = [{"$match": {"$or": [{"fullDocument.customer_id": "c1"}, ends]}}]
    async with (
        await views.watch(one_booking, full_document="updateLookup") as booking,
        await views.watch(my_bookings, full_document="updateLookup") as mine,
    ):
        # As the projection writes views: insert, then replace at the next version.
        await views.insert_one({"_id": "b1", "customer_id": "c1", "version": 1})
        await views.insert_one({"_id": "b2", "customer_id": "c2", "version": 1})
        await views.replace_one({"_id": "b1", "version": 1},
                                {"customer_id": "c1", "version": 2})
        await views.replace_one({"_id": "b2", "version": 1},
                                {"customer_id": "c2", "version": 2})
        await views.insert_one({"_id": "b3", "customer_id": "c1", "version": 1})

        booking_changes = await changes_seen(booking, 2)
        my_changes = await changes_seen(mine, 3)
        assert await nothing_more(booking)
        assert await nothing_more(mine)

        # Reading after the write looks the document up as it is now.
        await views.update_one({"_id": "b3"}, {"$set": {"version": 2}})
        [updated] = await changes_seen(mine, 1)

    assert versions(booking_changes) == [("b1", 1), ("b1", 2)]
    assert versions(my_changes) == [("b1", 1), ("b1", 2), ("b3", 1)]
    assert updated["fullDocument"] == {"_id": "b3", "customer_id": "c1", "version": 2}


async def test_resume_after_a_token_sees_exactly_the_later_changes(database: Database) -> None:
    feed = database["feed"]
    async with await feed.watch() as stream:
        await feed.insert_many([{"_id": n} for n in range(1, 6)])
        seen = await changes_seen(stream, 5)
        after_two = seen[1]["_id"]
        assert stream.resume_token == seen[4]["_id"]
        assert await nothing_more(stream)
        caught_up = stream.resume_token

    async with await feed.watch(resume_after=after_two) as resumed:
        later = await changes_seen(resumed, 3)
        assert await nothing_more(resumed)
    await feed.insert_one({"_id": 6})
    async with await feed.watch(resume_after=caught_up) as resumed:
        latest = await changes_seen(resumed, 1)
        assert await nothing_more(resumed)

    assert [c["documentKey"]["_id"] for c in later] == [3, 4, 5]
    assert [c["documentKey"]["_id"] for c in latest] == [6]


async def test_rename_swaps_the_collection_in_and_ends_streams_on_both(
    database: Database,
) -> None:
    live, fresh = database["booking_views"], database["booking_views_rebuild_1"]
    await live.insert_one({"_id": "old"})
    await fresh.insert_many([{"_id": "b1"}, {"_id": "b2"}])
    async with await live.watch() as on_live, await fresh.watch() as on_fresh:
        await database.client.admin.command(
            "renameCollection", f"{database.name}.booking_views_rebuild_1",
            to=f"{database.name}.booking_views", dropTarget=True,
        )

        [live_end] = await changes_seen(on_live, 1)
        [fresh_end] = await changes_seen(on_fresh, 1)

    assert live_end["operationType"] in STREAM_ENDS
    assert fresh_end["operationType"] in STREAM_ENDS
    names = await database.list_collection_names()
    assert "booking_views" in names and "booking_views_rebuild_1" not in names
    assert [d["_id"] async for d in live.find({}).sort("_id", ASCENDING)] == ["b1", "b2"]
    assert await database["booking_views_rebuild_1"].count_documents({}) == 0
    async with await live.watch() as reopened:
        await live.insert_one({"_id": "b3"})
        [after] = await changes_seen(reopened, 1)
    assert after["documentKey"] == {"_id": "b3"}


async def test_rename_refuses_an_existing_target_without_drop_target(database: Database) -> None:
    await database["a"].insert_one({"_id": 1})
    await database["b"].insert_one({"_id": 2})

    with pytest.raises(OperationFailure):
        await database.client.admin.command(
            "renameCollection", f"{database.name}.a", to=f"{database.name}.b"
        )
    assert await database["b"].find_one({}) == {"_id": 2}


# ---- what only the in-memory database can show -----------------------------------------

async def test_in_memory_resume_token_older_than_the_change_log_fails() -> None:
    database = InMemoryDatabase("small", change_log_size=3)
    feed = database["feed"]
    async with await feed.watch() as stream:
        await feed.insert_one({"_id": 1})
        [first] = await changes_seen(cast(Stream, stream), 1)
        await feed.insert_many([{"_id": n} for n in range(2, 6)])

    with pytest.raises(OperationFailure) as lost:
        await feed.watch(resume_after=first["_id"])
    assert lost.value.code == 286  # ChangeStreamHistoryLost, as MongoDB's oplog rolls over
    async with await feed.watch() as behind:
        await feed.insert_many([{"_id": n} for n in range(6, 11)])
        with pytest.raises(OperationFailure):
            await behind.try_next()
        assert not behind.alive


async def test_in_memory_next_waits_for_a_change_without_polling() -> None:
    feed = InMemoryDatabase()["feed"]
    async with await feed.watch() as stream:
        waiting = asyncio.create_task(stream.next())
        await asyncio.sleep(0.05)
        assert not waiting.done()

        await feed.insert_one({"_id": 1})

        change = await asyncio.wait_for(waiting, timeout=1)
    assert change["documentKey"] == {"_id": 1}


async def test_in_memory_close_ends_a_waiting_next_and_try_next_waits_max_await() -> None:
    feed = InMemoryDatabase()["feed"]
    stream = await feed.watch(max_await_time_ms=300)
    loop = asyncio.get_running_loop()

    async def insert_soon() -> None:
        await asyncio.sleep(0.05)
        await feed.insert_one({"_id": 1})

    started = loop.time()
    assert await stream.try_next() is None
    assert loop.time() - started >= 0.25
    inserting = asyncio.create_task(insert_soon())
    started = loop.time()
    change = await stream.try_next()
    assert loop.time() - started < 0.25  # woken by the insert, not by the timeout
    assert change is not None and change["documentKey"] == {"_id": 1}
    await inserting

    waiting = asyncio.create_task(stream.next())
    await asyncio.sleep(0.05)
    await stream.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, timeout=1)
    assert not stream.alive


async def test_in_memory_rename_invalidates_streams_on_source_and_target() -> None:
    database = InMemoryDatabase("swap")
    await database["src"].insert_one({"_id": 1})
    async with (
        await database["src"].watch() as on_source,
        await database["dst"].watch() as on_target,
    ):
        await database.client.admin.command(
            "renameCollection", "swap.src", to="swap.dst", dropTarget=True
        )
        for stream in (on_source, on_target):
            rename = await stream.try_next()
            invalidate = await stream.try_next()
            assert rename is not None and invalidate is not None
            assert rename["operationType"] == "rename"
            assert rename["ns"] == {"db": "swap", "coll": "src"}
            assert rename["to"] == {"db": "swap", "coll": "dst"}
            assert invalidate["operationType"] == "invalidate"
            assert not stream.alive
            assert await stream.try_next() is None
