"""What the MongoDB read-model store does beyond the port's contract: its change stream
across a rebuild's swap, and a batch committed again after a crash between its steps."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect

import travelbuddy.readmodels.mongo as mongo_module
from travelbuddy.eventstore.port import EventMetadata, StoredEvent, StoreUnavailable
from travelbuddy.readmodels.mongo import MongoReadModels
from travelbuddy.readmodels.mongo_views import MongoBookingViews
from travelbuddy.readmodels.ports import (
    RESYNC,
    Checkpoint,
    HoldWrite,
    PageKey,
    ProjectionBatch,
    Resync,
    StayHold,
    View,
    ViewWrite,
)

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]
WAIT = 10.0


@pytest.fixture
async def read_models(mongo_db: Database) -> MongoReadModels:
    store = MongoReadModels(mongo_db)
    await store.setup()
    return store


def view(booking_id: str, version: int, customer_id: str = "alice",
         check_in: str | None = "2030-05-01", status: str = "PENDING") -> View:
    return {"_id": booking_id, "version": version, "customer_id": customer_id,
            "status": status, "check_in": check_in}


def hold(booking_id: str, version: int, *nights: str, hotel_id: str = "H1") -> StayHold:
    return StayHold(booking_id, version, hotel_id, frozenset(nights))


def event(stream_id: str, version: int, event_id: str) -> StoredEvent:
    recorded = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)  # whole ms: BSON keeps no more
    return StoredEvent(stream_id, version, "Mystery", 1, {"x": 1},
                       EventMetadata(event_id=event_id, customer_id="alice",
                                     recorded_at=recorded))


def checkpoint(applied: int) -> Checkpoint:
    return Checkpoint("read-models", {"_data": f"token-{applied}"}, applied, None,
                      dt.datetime(2030, 1, 1, tzinfo=dt.UTC), caught_up=True, applied=applied)


async def next_change(changes: AsyncIterator[list[View] | Resync]) -> list[View] | Resync:
    return await asyncio.wait_for(anext(changes), WAIT)


async def next_views(changes: AsyncIterator[list[View] | Resync]) -> list[View]:
    """The next batch of views, skipping RESYNCs (a feed may reopen at any time)."""
    while not isinstance(change := await next_change(changes), list):
        pass
    return change


async def snapshot(database: Database) -> dict[str, list[dict[str, Any]]]:
    names = sorted(await database.list_collection_names())
    return {name: await database[name].find({}, {"parked_at": 0}).sort("_id").to_list()
            for name in names}


def full_batch() -> ProjectionBatch:
    batch = ProjectionBatch(
        views=[ViewWrite(view("b1", 2), 1), ViewWrite(view("b2", 1), None)],
        holds=[HoldWrite(hold("b1", 2, "2030-05-02", "2030-05-03"),
                         hold("b1", 1, "2030-05-01", "2030-05-02")),
               HoldWrite(hold("b2", 1, "2030-05-01"), None)],
        checkpoint=checkpoint(3),
    )
    batch.park("booking_views", event("booking-b3", 1, "e3"), "ValueError: no such type")
    return batch


async def committed_before(read_models: MongoReadModels) -> None:
    await read_models.commit(ProjectionBatch(
        views=[ViewWrite(view("b1", 1), None)],
        holds=[HoldWrite(hold("b1", 1, "2030-05-01", "2030-05-02"), None)],
    ))


async def test_changes_start_with_resync_once_the_stream_is_open(
    read_models: MongoReadModels,
) -> None:
    changes = read_models.views.changes()
    try:
        assert await next_change(changes) is RESYNC
        await read_models.commit(ProjectionBatch(views=[ViewWrite(view("b1", 1), None)]))
        await read_models.commit(ProjectionBatch(views=[ViewWrite(view("b1", 2), 1)]))
        seen: list[View] = []
        while len(seen) < 2:
            seen += await next_views(changes)
        assert [(v["_id"], v["version"]) for v in seen] == [("b1", 1), ("b1", 2)]
    finally:
        await changes.aclose()  # type: ignore[attr-defined]


async def test_a_swapped_in_rebuild_resyncs_the_changes_then_feeds_the_new_views(
    read_models: MongoReadModels,
) -> None:
    await read_models.commit(ProjectionBatch(views=[ViewWrite(view("old", 1), None)]))
    changes = read_models.views.changes()
    try:
        assert await next_change(changes) is RESYNC
        fresh = await read_models.fresh("booking_views")
        await fresh.commit(ProjectionBatch(views=[ViewWrite(view("rebuilt", 1), None)]))
        await read_models.swap_in(fresh, "booking_views")
        assert await next_change(changes) is RESYNC
        assert [v["_id"] for v in await read_models.views.of_customer("alice")] == ["rebuilt"]
        await read_models.commit(ProjectionBatch(views=[ViewWrite(view("after", 1), None)]))
        assert [v["_id"] for v in await next_views(changes)] == ["after"]
    finally:
        await changes.aclose()  # type: ignore[attr-defined]


async def test_changes_reopen_with_a_resync_after_the_stream_fails(
    read_models: MongoReadModels, mongo_db: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    collection = mongo_db["booking_views"]
    watch = collection.watch
    failures = [AutoReconnect("connection reset")]

    async def flaky_watch(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await watch(*args, **kwargs)

    monkeypatch.setattr(collection, "watch", flaky_watch)
    changes = MongoBookingViews(collection).changes()
    try:
        assert await next_change(changes) is RESYNC
        assert not failures
        await read_models.commit(ProjectionBatch(views=[ViewWrite(view("b1", 1), None)]))
        assert [v["_id"] for v in await next_views(changes)] == ["b1"]
    finally:
        await changes.aclose()  # type: ignore[attr-defined]


async def test_a_batch_committed_twice_leaves_the_same_documents(
    read_models: MongoReadModels, mongo_db: Database,
) -> None:
    await committed_before(read_models)
    await read_models.commit(full_batch())
    once = await snapshot(mongo_db)
    await read_models.commit(full_batch())
    twice = await snapshot(mongo_db)
    attempts = [entry.pop("attempts") for entry in twice["projection_dlq"]]
    assert [entry.pop("attempts") for entry in once["projection_dlq"]] == [1]
    assert attempts == [2]  # parked again: the same entry, one more attempt
    assert twice == once
    assert await read_models.occupancy.rooms_booked(
        "H1", dt.date(2030, 5, 1), dt.date(2030, 5, 3)) == [
        ("2030-05-01", 1), ("2030-05-02", 1), ("2030-05-03", 1)]


async def test_a_batch_cut_short_after_its_views_converges_when_committed_again(
    read_models: MongoReadModels, mongo_db: Database,
) -> None:
    await committed_before(read_models)
    await read_models.commit(ProjectionBatch(views=full_batch().views))  # then a crash
    await read_models.commit(full_batch())
    cut_short = await snapshot(mongo_db)

    whole_db = mongo_db.client[f"{mongo_db.name}_whole"]  # the same batch, not cut short
    whole = MongoReadModels(whole_db)
    await whole.setup()
    await committed_before(whole)
    await whole.commit(full_batch())
    assert cut_short == await snapshot(whole_db)


def crash_on_holds(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the adapter's guarded bulk write lose the connection on `occupancy_holds` (after
    the nights are written); return the real one, to put back."""
    guarded = mongo_module._guarded_bulk_write

    async def crashing(collection: Any, operations: Any) -> None:
        if collection.name == "occupancy_holds":
            raise AutoReconnect("crash")
        await guarded(collection, operations)

    monkeypatch.setattr(mongo_module, "_guarded_bulk_write", crashing)
    return guarded


async def test_a_batch_cut_short_between_nights_and_holds_converges_when_committed_again(
    read_models: MongoReadModels, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await committed_before(read_models)
    guarded = crash_on_holds(monkeypatch)
    with pytest.raises(StoreUnavailable):  # what the adapter makes of a lost connection
        await read_models.commit(full_batch())
    monkeypatch.setattr(mongo_module, "_guarded_bulk_write", guarded)
    # The holds were not written: the projection sees the old ones and writes the same.
    assert (await read_models.occupancy.holds(["b1"]))["b1"].version == 1
    await read_models.commit(full_batch())
    assert await read_models.occupancy.rooms_booked(
        "H1", dt.date(2030, 5, 1), dt.date(2030, 5, 3)) == [
        ("2030-05-01", 1), ("2030-05-02", 1), ("2030-05-03", 1)]
    assert (await read_models.occupancy.holds(["b1"]))["b1"] == hold(
        "b1", 2, "2030-05-02", "2030-05-03")
    assert await read_models.checkpoints.load("read-models") == checkpoint(3)


async def test_a_stale_guard_is_skipped(read_models: MongoReadModels) -> None:
    await committed_before(read_models)
    await read_models.commit(ProjectionBatch(
        views=[ViewWrite(view("b1", 3), 2), ViewWrite(view("b1", 9), None)]))
    assert (await read_models.views.get("b1")) == view("b1", 1)


async def test_a_hold_moved_to_another_hotel_gives_back_the_first_hotels_nights(
    read_models: MongoReadModels,
) -> None:
    await committed_before(read_models)
    await read_models.commit(ProjectionBatch(holds=[HoldWrite(
        hold("b1", 2, "2030-05-01", hotel_id="H2"), hold("b1", 1, "2030-05-01", "2030-05-02"))]))
    assert await read_models.occupancy.rooms_booked(
        "H1", dt.date(2030, 5, 1), dt.date(2030, 5, 31)) == []
    assert await read_models.occupancy.rooms_booked(
        "H2", dt.date(2030, 5, 1), dt.date(2030, 5, 1)) == [("2030-05-01", 1)]


async def test_pages_put_views_without_check_in_first(read_models: MongoReadModels) -> None:
    await read_models.commit(ProjectionBatch(views=[
        ViewWrite(view("b", 1, check_in=None), None),
        ViewWrite(view("a", 1, check_in=None), None),
        ViewWrite(view("c", 1, check_in="2030-01-01"), None),
        ViewWrite(view("d", 1, check_in="2030-01-01", status="CANCELLED"), None),
        ViewWrite(view("e", 1, customer_id="bob"), None),
    ]))
    views = read_models.views
    assert [v["_id"] for v in await views.customer_page("alice", None, 10, None)] == [
        "a", "b", "c", "d"]
    assert [v["_id"] for v in await views.customer_page(
        "alice", None, 2, PageKey(None, "a"))] == ["b", "c"]
    assert [v["_id"] for v in await views.customer_page(
        "alice", None, 5, PageKey("2030-01-01", "c"))] == ["d"]
    assert [v["_id"] for v in await views.customer_page(
        "alice", "PENDING", 5, PageKey(None, "b"))] == ["c"]
    assert await views.customer_page("alice", None, 0, None) == []


async def test_swapping_in_a_rebuilt_occupancy_replaces_holds_and_nights(
    read_models: MongoReadModels,
) -> None:
    await committed_before(read_models)
    fresh = await read_models.fresh("hotel_occupancy")
    assert fresh.collections.views == "booking_views"
    assert fresh.collections.nights.startswith("hotel_occupancy_rebuild_")
    await fresh.commit(ProjectionBatch(holds=[HoldWrite(hold("b9", 1, "2030-06-01"), None)]))
    await read_models.swap_in(fresh, "hotel_occupancy")
    assert await read_models.occupancy.holds(["b1", "b9"]) == {"b9": hold("b9", 1, "2030-06-01")}
    assert await read_models.occupancy.rooms_booked(
        "H1", dt.date(2030, 5, 1), dt.date(2030, 6, 30)) == [("2030-06-01", 1)]
    with pytest.raises(ValueError):
        await read_models.fresh("hotels")


async def test_parked_events_list_in_stream_order_without_malformed_documents(
    read_models: MongoReadModels,
) -> None:
    batch = ProjectionBatch()
    batch.park("hotel_occupancy", event("booking-b", 2, "e2"), "second")
    batch.park("booking_views", event("booking-a", 1, "e0"), "other stream")
    batch.park("hotel_occupancy", event("booking-b", 1, "e1"), "first")
    await read_models.commit(batch)
    await read_models.parked.park_malformed("xyz", {"_id": "xyz", "junk": True}, "no type")
    parked = read_models.parked
    assert [(p.event.stream_id, p.event.version) for p in await parked.list()] == [
        ("booking-a", 1), ("booking-b", 1), ("booking-b", 2)]
    only = await parked.list("hotel_occupancy")
    assert [p.entry_id for p in only] == ["hotel_occupancy|e1", "hotel_occupancy|e2"]
    assert only[0].event == event("booking-b", 1, "e1")
    assert await parked.count() == 4
    await read_models.commit(ProjectionBatch(unparked=["hotel_occupancy|e1"]))
    assert await parked.count() == 3


async def test_nights_of_a_hold_never_stored_are_given_back_by_a_shorter_redelivery(
    read_models: MongoReadModels, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A crashed batch moved b1's stay (version 2) and wrote those nights, not the hold; the
    # redelivery after the crash is cut shorter and only confirms b1 at its old nights.
    await committed_before(read_models)
    guarded = crash_on_holds(monkeypatch)
    moved = ProjectionBatch(holds=[HoldWrite(hold("b1", 2, "2030-05-07", "2030-05-08"),
                                             hold("b1", 1, "2030-05-01", "2030-05-02"))])
    with pytest.raises(StoreUnavailable):
        await read_models.commit(moved)
    monkeypatch.setattr(mongo_module, "_guarded_bulk_write", guarded)
    await read_models.commit(ProjectionBatch(holds=[HoldWrite(
        hold("b1", 2, "2030-05-01", "2030-05-02"), hold("b1", 1, "2030-05-01", "2030-05-02"))]))

    assert await read_models.occupancy.rooms_booked(
        "H1", dt.date(2030, 5, 1), dt.date(2030, 5, 31)) == [("2030-05-01", 1), ("2030-05-02", 1)]
