"""The ReadModelStore contract, against both adapters: MongoDB (the test server) and SQLite.

Written against the port only: what projections commit and what queries read back.
Datetimes carry milliseconds at most, as BSON keeps them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from travelbuddy.domain import Flight, Hotel
from travelbuddy.eventstore.port import EventMetadata, StoredEvent
from travelbuddy.readmodels.ports import (
    BOOKING_VIEWS,
    HOTEL_OCCUPANCY,
    Checkpoint,
    HoldWrite,
    PageKey,
    ProjectionBatch,
    ReadModelStore,
    Resync,
    StayHold,
    View,
    ViewWrite,
)

REQUESTED_AT = dt.datetime(2026, 5, 1, 9, 30, 15, 123000, tzinfo=dt.UTC)


def a_view(booking_id: str, version: int = 1, *, customer_id: str = "alice",
           status: str = "PENDING", check_in: str | None = "2026-06-01") -> View:
    """A booking view as the booking-view projection shapes it."""
    return {
        "_id": booking_id,
        "booking_id": booking_id,
        "customer_id": customer_id,
        "status": status,
        "version": version,
        "created_at": REQUESTED_AT,
        "updated_at": REQUESTED_AT + dt.timedelta(minutes=version - 1),
        "check_in": check_in,
        "hotel_stay": None if check_in is None else {
            "hotel_id": "hotel-tokyo-1", "check_in": check_in, "nights": 2, "status": "PENDING"},
        "flights": [],
        "travelers": [{"name": "Hanako Yamada"}],
        "offered_perks": [{"code": "HTL-TYO-01-BREAKFAST", "title": "Free breakfast"}],
        "applied_perks": [],
        "price": {"total": 28000 - version, "currency": "JPY"},
        "cancellation_reason": None,
        "history": [
            {"version": step, "at": REQUESTED_AT + dt.timedelta(minutes=step - 1),
             "type": "BookingRequested" if step == 1 else "PerkApplied",
             "description": f"step {step}"}
            for step in range(1, version + 1)
        ],
    }


def a_hold(booking_id: str, version: int, hotel_id: str | None, *nights: str) -> StayHold:
    return StayHold(booking_id, version, hotel_id, frozenset(nights))


def an_event(stream_id: str, version: int, type_name: str = "HotelReserved") -> StoredEvent:
    return StoredEvent(
        stream_id=stream_id, version=version, type=type_name, schema_version=1,
        data={"booking_id": stream_id.removeprefix("booking-"), "confirmation_code": "C-1"},
        metadata=EventMetadata(
            event_id=str(uuid.uuid4()), customer_id="alice",
            recorded_at=REQUESTED_AT + dt.timedelta(seconds=version),
            correlation_id="corr-1"))


def a_checkpoint(follower: str = "booking_views", **changed: Any) -> Checkpoint:
    fields: dict[str, Any] = {
        "follower": follower, "resume_token": {"position": 41}, "position": 41,
        "recorded_at": REQUESTED_AT, "saved_at": REQUESTED_AT + dt.timedelta(seconds=3)}
    return Checkpoint(**(fields | changed))


async def commit(store: ReadModelStore, *writes: ViewWrite | HoldWrite) -> None:
    await store.commit(ProjectionBatch(
        views=[write for write in writes if isinstance(write, ViewWrite)],
        holds=[write for write in writes if isinstance(write, HoldWrite)]))


def booking_ids(views: list[View]) -> list[str]:
    return [view["booking_id"] for view in views]


# Booking views


async def test_new_view_is_stored_and_read_back_whole(read_models: ReadModelStore) -> None:
    view = a_view("b1")
    await commit(read_models, ViewWrite(view, None))

    assert await read_models.views.get("b1") == view
    assert await read_models.views.get("unknown") is None
    assert await read_models.views.count() == 1


async def test_view_replaces_the_version_it_guards(read_models: ReadModelStore) -> None:
    await commit(read_models, ViewWrite(a_view("b1", 1), None))
    await commit(read_models, ViewWrite(a_view("b1", 2, status="CONFIRMED"), 1))

    assert await read_models.views.get("b1") == a_view("b1", 2, status="CONFIRMED")


async def test_stale_view_write_is_skipped(read_models: ReadModelStore) -> None:
    await commit(read_models, ViewWrite(a_view("b1", 1), None))
    await commit(read_models, ViewWrite(a_view("b1", 2), 1))

    # Another delivery of version 2, and a write guarded by a version never stored.
    await commit(read_models, ViewWrite(a_view("b1", 2, status="REJECTED"), 1),
                 ViewWrite(a_view("b1", 9), 8))

    assert await read_models.views.get("b1") == a_view("b1", 2)


async def test_insert_of_an_existing_view_is_skipped(read_models: ReadModelStore) -> None:
    await commit(read_models, ViewWrite(a_view("b1", 1), None),
                 ViewWrite(a_view("b1", 2), 1))

    await commit(read_models, ViewWrite(a_view("b1", 1, status="CANCELLED"), None))

    assert await read_models.views.get("b1") == a_view("b1", 2)
    assert await read_models.views.count() == 1
    await commit(read_models, ViewWrite(a_view("b1", 3), 2))  # still guarded by version 2
    assert await read_models.views.get("b1") == a_view("b1", 3)


async def test_get_many_returns_the_views_that_exist(read_models: ReadModelStore) -> None:
    await commit(read_models, *(ViewWrite(a_view(f"b{n}"), None) for n in range(3)))
    # More ids than one statement takes: the adapter splits the list, not the caller.
    asked = {"b0", "b2", *(f"missing-{n}" for n in range(1200))}

    found = await read_models.views.get_many(asked)

    assert found == {"b0": a_view("b0"), "b2": a_view("b2")}
    assert await read_models.views.get_many([]) == {}


async def test_customer_page_sorts_by_check_in_with_undated_views_first(
    read_models: ReadModelStore,
) -> None:
    await commit(
        read_models,
        ViewWrite(a_view("b-june", check_in="2026-06-01"), None),
        ViewWrite(a_view("b-undated", check_in=None), None),
        ViewWrite(a_view("b-may", check_in="2026-05-20"), None),
        ViewWrite(a_view("a-undated", check_in=None), None),
        ViewWrite(a_view("b-other", customer_id="bob", check_in="2026-01-01"), None),
    )

    page = await read_models.views.customer_page("alice", None, 10, None)

    assert booking_ids(page) == ["a-undated", "b-undated", "b-may", "b-june"]
    assert page[2] == a_view("b-may", check_in="2026-05-20")
    assert booking_ids(await read_models.views.customer_page("alice", None, 2, None)) == [
        "a-undated", "b-undated"]


async def test_customer_page_filters_by_status(read_models: ReadModelStore) -> None:
    await commit(
        read_models,
        ViewWrite(a_view("b1", status="CONFIRMED", check_in="2026-07-01"), None),
        ViewWrite(a_view("b2", status="PENDING", check_in="2026-06-01"), None),
        ViewWrite(a_view("b3", status="CONFIRMED", check_in=None), None),
        ViewWrite(a_view("b4", customer_id="bob", status="CONFIRMED"), None),
    )

    confirmed = await read_models.views.customer_page("alice", "CONFIRMED", 10, None)

    assert booking_ids(confirmed) == ["b3", "b1"]
    assert await read_models.views.customer_page("alice", "CANCELLED", 10, None) == []


async def test_customer_pages_continue_after_the_cursor_without_gaps_or_overlap(
    read_models: ReadModelStore,
) -> None:
    check_ins = [None, "2026-05-01", None, "2026-06-01", "2026-05-01", "2026-06-01", None,
                 "2026-07-01", "2026-06-01"]
    await commit(read_models, *(ViewWrite(a_view(f"b{n}", check_in=check_in), None)
                                for n, check_in in enumerate(check_ins)))
    everything = booking_ids(await read_models.views.customer_page("alice", None, 50, None))

    paged: list[str] = []
    after: PageKey | None = None
    while page := await read_models.views.customer_page("alice", None, 2, after):
        assert len(page) <= 2
        paged += booking_ids(page)
        after = PageKey(page[-1]["check_in"], page[-1]["booking_id"])

    assert paged == everything
    assert everything == ["b0", "b2", "b6", "b1", "b4", "b3", "b5", "b8", "b7"]


async def test_customer_page_after_an_undated_view_goes_on_to_the_dated_ones(
    read_models: ReadModelStore,
) -> None:
    await commit(read_models, *(ViewWrite(a_view(booking_id, check_in=check_in), None)
                                for booking_id, check_in in [
                                    ("a", None), ("b", None), ("c", None),
                                    ("a-dated", "2026-01-01"), ("d", "2026-01-01")]))

    page = await read_models.views.customer_page("alice", None, 10, PageKey(None, "b"))

    assert booking_ids(page) == ["c", "a-dated", "d"]


async def test_of_customer_lists_every_view_of_the_customer_by_check_in(
    read_models: ReadModelStore,
) -> None:
    await commit(
        read_models,
        ViewWrite(a_view("b1", check_in="2026-08-01"), None),
        ViewWrite(a_view("b2", status="CANCELLED", check_in="2026-03-01"), None),
        ViewWrite(a_view("b3", customer_id="bob"), None),
    )

    views = await read_models.views.of_customer("alice")

    assert booking_ids(views) == ["b2", "b1"]
    assert views[0] == a_view("b2", status="CANCELLED", check_in="2026-03-01")
    assert await read_models.views.of_customer("nobody") == []


# Occupancy


async def rooms(store: ReadModelStore, hotel_id: str = "hotel-1") -> list[tuple[str, int]]:
    return await store.occupancy.rooms_booked(
        hotel_id, dt.date(2026, 1, 1), dt.date(2026, 12, 31))


async def test_new_hold_claims_its_nights(read_models: ReadModelStore) -> None:
    hold = a_hold("b1", 1, "hotel-1", "2026-06-01", "2026-06-02")

    await commit(read_models, HoldWrite(hold, None))

    assert await read_models.occupancy.holds(["b1", "b2"]) == {"b1": hold}
    assert await rooms(read_models) == [("2026-06-01", 1), ("2026-06-02", 1)]


async def test_moved_hold_gives_back_its_old_nights_and_takes_the_new(
    read_models: ReadModelStore,
) -> None:
    first = a_hold("b1", 1, "hotel-1", "2026-06-01", "2026-06-02")
    moved = a_hold("b1", 2, "hotel-1", "2026-06-02", "2026-06-03")
    await commit(read_models, HoldWrite(first, None))

    await commit(read_models, HoldWrite(moved, first))

    assert await read_models.occupancy.holds(["b1"]) == {"b1": moved}
    assert await rooms(read_models) == [("2026-06-02", 1), ("2026-06-03", 1)]


async def test_released_hold_gives_back_every_night(read_models: ReadModelStore) -> None:
    first = a_hold("b1", 1, "hotel-1", "2026-06-01", "2026-06-02")
    released = a_hold("b1", 2, "hotel-1")
    await commit(read_models, HoldWrite(first, None))

    await commit(read_models, HoldWrite(released, first))

    assert await read_models.occupancy.holds(["b1"]) == {"b1": released}
    assert await rooms(read_models) == []


async def test_stale_hold_write_takes_and_gives_back_nothing(
    read_models: ReadModelStore,
) -> None:
    first = a_hold("b1", 1, "hotel-1", "2026-06-01")
    second = a_hold("b1", 2, "hotel-1", "2026-06-05")
    await commit(read_models, HoldWrite(first, None), HoldWrite(second, first))

    # Redeliveries: the move from version 1 again, and the first hold again.
    await commit(read_models, HoldWrite(a_hold("b1", 2, "hotel-1", "2026-06-09"), first),
                 HoldWrite(a_hold("b1", 1, "hotel-1", "2026-06-07"), None))

    assert await read_models.occupancy.holds(["b1"]) == {"b1": second}
    assert await rooms(read_models) == [("2026-06-05", 1)]


async def test_flights_only_booking_holds_no_night(read_models: ReadModelStore) -> None:
    hold = a_hold("b1", 1, None)

    await commit(read_models, HoldWrite(hold, None))

    assert await read_models.occupancy.holds(["b1"]) == {"b1": hold}
    assert await rooms(read_models) == []


async def test_rooms_booked_counts_bookings_per_night_within_the_range(
    read_models: ReadModelStore,
) -> None:
    await commit(
        read_models,
        HoldWrite(a_hold("b1", 1, "hotel-1", "2026-06-01", "2026-06-02", "2026-06-03"), None),
        HoldWrite(a_hold("b2", 1, "hotel-1", "2026-06-02", "2026-06-03", "2026-06-04"), None),
        HoldWrite(a_hold("b3", 1, "hotel-2", "2026-06-02"), None),
    )

    booked = await read_models.occupancy.rooms_booked(
        "hotel-1", dt.date(2026, 6, 2), dt.date(2026, 6, 4))

    assert booked == [("2026-06-02", 2), ("2026-06-03", 2), ("2026-06-04", 1)]
    assert await read_models.occupancy.rooms_booked(
        "hotel-1", dt.date(2026, 6, 5), dt.date(2026, 6, 30)) == []
    assert await rooms(read_models, "hotel-2") == [("2026-06-02", 1)]


# Batches


async def test_batch_committed_twice_changes_nothing(read_models: ReadModelStore) -> None:
    first = a_hold("b1", 1, "hotel-1", "2026-06-01", "2026-06-02")
    moved = a_hold("b1", 2, "hotel-1", "2026-06-02", "2026-06-03")

    def the_batch() -> ProjectionBatch:
        return ProjectionBatch(
            views=[ViewWrite(a_view("b1", 1), None), ViewWrite(a_view("b1", 2), 1),
                   ViewWrite(a_view("b2", 1), None)],
            holds=[HoldWrite(first, None), HoldWrite(moved, first),
                   HoldWrite(a_hold("b2", 1, "hotel-1", "2026-06-02"), None)],
            checkpoint=a_checkpoint())

    await read_models.commit(the_batch())
    await read_models.commit(the_batch())

    assert await read_models.views.get_many(["b1", "b2"]) == {
        "b1": a_view("b1", 2), "b2": a_view("b2", 1)}
    assert (await read_models.occupancy.holds(["b1"]))["b1"] == moved
    assert await rooms(read_models) == [("2026-06-02", 2), ("2026-06-03", 1)]
    assert await read_models.checkpoints.load("booking_views") == a_checkpoint()


# Parked events


async def park(store: ReadModelStore, *events: StoredEvent, error: str = "ValueError: no",
               projection: str = BOOKING_VIEWS) -> None:
    batch = ProjectionBatch()
    for event in events:
        batch.park(projection, event, error)
    await store.commit(batch)


async def test_parking_an_event_again_counts_its_attempts(read_models: ReadModelStore) -> None:
    event = an_event("booking-b1", 2)

    await park(read_models, event, error="ValueError: first")
    await park(read_models, event, error="ValueError: second")

    [entry] = await read_models.parked.list()
    assert (entry.projection, entry.event, entry.error, entry.attempts) == (
        BOOKING_VIEWS, event, "ValueError: second", 2)
    assert entry.entry_id == f"{BOOKING_VIEWS}|{event.metadata.event_id}"
    assert entry.parked_at.tzinfo is not None
    assert await read_models.parked.count() == 1


async def test_parked_events_are_listed_by_stream_and_version(
    read_models: ReadModelStore,
) -> None:
    b2_v3, b1_v4, b1_v2 = an_event("booking-b2", 3), an_event("booking-b1", 4), an_event(
        "booking-b1", 2)
    await park(read_models, b2_v3, b1_v4)
    await park(read_models, b1_v2)
    await park(read_models, b1_v2, projection=HOTEL_OCCUPANCY)

    listed = await read_models.parked.list(BOOKING_VIEWS)

    assert [entry.event for entry in listed] == [b1_v2, b1_v4, b2_v3]
    assert [entry.projection for entry in await read_models.parked.list(HOTEL_OCCUPANCY)] == [
        HOTEL_OCCUPANCY]
    assert len(await read_models.parked.list()) == 4


async def test_unparked_events_are_forgotten(read_models: ReadModelStore) -> None:
    kept, retried = an_event("booking-b1", 2), an_event("booking-b2", 2)
    await park(read_models, kept, retried)

    await read_models.commit(ProjectionBatch(
        unparked=[f"{BOOKING_VIEWS}|{retried.metadata.event_id}"]))

    assert [entry.event for entry in await read_models.parked.list()] == [kept]
    assert await read_models.parked.count() == 1


async def test_malformed_documents_are_counted_but_not_listed(
    read_models: ReadModelStore,
) -> None:
    await park(read_models, an_event("booking-b1", 2))

    await read_models.parked.park_malformed(
        "doc-7", {"_id": "doc-7", "stream_id": 12, "odd": REQUESTED_AT}, "no event type")
    await read_models.parked.park_malformed("doc-7", {"_id": "doc-7"}, "no event type")

    assert [entry.event.stream_id for entry in await read_models.parked.list()] == ["booking-b1"]
    assert await read_models.parked.count() == 2


# Checkpoints


async def test_checkpoint_round_trips_with_its_catch_up_progress(
    read_models: ReadModelStore,
) -> None:
    catching_up = a_checkpoint("relay", caught_up=False, applied=1234, recorded_at=None)

    await read_models.checkpoints.save(catching_up)
    await read_models.checkpoints.save(a_checkpoint())

    assert await read_models.checkpoints.load("relay") == catching_up
    assert await read_models.checkpoints.load("booking_views") == a_checkpoint()
    assert await read_models.checkpoints.load("nobody") is None
    assert sorted(await read_models.checkpoints.names()) == ["booking_views", "relay"]


async def test_saved_checkpoint_replaces_the_last_and_delete_forgets_it(
    read_models: ReadModelStore,
) -> None:
    await read_models.checkpoints.save(a_checkpoint(position=1))
    later = a_checkpoint(position=2, resume_token={"position": 2}, caught_up=True)
    await read_models.commit(ProjectionBatch(checkpoint=later))

    assert await read_models.checkpoints.load("booking_views") == later

    await read_models.checkpoints.delete("booking_views")

    assert await read_models.checkpoints.load("booking_views") is None
    assert await read_models.checkpoints.names() == []


# Catalog


def a_hotel(hotel_id: str, city: str, name: str = "Hotel") -> Hotel:
    return Hotel.model_validate({
        "id": hotel_id, "name": name, "city": city,
        "room_types": [{"code": "STD", "name": "Standard", "nightly_price": 12000}],
        "perks": [{"code": f"{hotel_id}-BREAKFAST", "title": "Breakfast", "kind": "BREAKFAST"}]})


def a_flight(flight_id: str, origin: str, destination: str) -> Flight:
    return Flight.model_validate({
        "id": flight_id, "flight_number": "NH61", "airline": "ANA", "origin": origin,
        "destination": destination, "departure_time": "08:00", "arrival_time": "09:35",
        "fares": [{"cabin": "ECONOMY", "price": 21000}]})


async def test_catalog_entries_are_found_by_city_and_route_in_any_case(
    read_models: ReadModelStore,
) -> None:
    await read_models.catalog.put_all(
        [a_hotel("h2", "Tokyo"), a_hotel("h1", "Tokyo"), a_hotel("h3", "Osaka")],
        [a_flight("f2", "HND", "CTS"), a_flight("f1", "HND", "CTS"),
         a_flight("f3", "CTS", "HND")])

    assert [hotel.id for hotel in await read_models.catalog.hotels_in("tOKYO")] == ["h1", "h2"]
    assert await read_models.catalog.hotels_in("Kyoto") == []
    flights = await read_models.catalog.flights_between("hnd", "cts")
    assert flights == [a_flight("f1", "HND", "CTS"), a_flight("f2", "HND", "CTS")]
    assert await read_models.catalog.count() == (3, 3)


async def test_catalog_put_replaces_and_remove_forgets(read_models: ReadModelStore) -> None:
    await read_models.catalog.put(a_hotel("h1", "Tokyo"))
    await read_models.catalog.put(a_flight("f1", "HND", "CTS"))

    await read_models.catalog.put(a_hotel("h1", "Osaka", name="Moved"))
    await read_models.catalog.remove("f1")
    await read_models.catalog.remove("never-there")

    assert await read_models.catalog.hotels_in("Tokyo") == []
    assert await read_models.catalog.hotels_in("osaka") == [a_hotel("h1", "Osaka", "Moved")]
    assert await read_models.catalog.count() == (1, 0)


async def test_catalog_view_holds_the_named_entries_or_everything(
    read_models: ReadModelStore,
) -> None:
    await read_models.catalog.put_all([a_hotel("h1", "Tokyo"), a_hotel("h2", "Osaka")],
                                      [a_flight("f1", "HND", "CTS")])

    named = await read_models.catalog.view({"h2", "h-unknown"}, set())
    whole = await read_models.catalog.view(set(), set())

    assert named.hotel("h2") == a_hotel("h2", "Osaka")
    assert named.hotel("h1") is None and named.flight("f1") is None
    assert whole.hotel("h1") == a_hotel("h1", "Tokyo")
    assert whole.flight("f1") == a_flight("f1", "HND", "CTS")
    assert whole.perk("h2-BREAKFAST") is not None


# The change feed


async def following(
    store: ReadModelStore, changes: AsyncIterator[list[View] | Resync]
) -> list[View]:
    """Return once `changes` certainly follows the writes: commit probe views (of another
    customer) until one comes through. Returns what the feed yielded first."""
    step = asyncio.ensure_future(anext(changes))
    for probe in range(100):
        await commit(store, ViewWrite(a_view(f"probe-{probe}", customer_id="probe"), None))
        done, _ = await asyncio.wait({step}, timeout=0.2)
        if done:
            first = step.result()
            return [] if isinstance(first, Resync) else first
    step.cancel()
    raise AssertionError("the change feed yielded none of the probe views")


async def stop(changes: AsyncIterator[list[View] | Resync]) -> None:
    close = getattr(changes, "aclose", None)
    if close is not None:
        await close()


async def written_until(changes: AsyncIterator[list[View] | Resync],
                        booking_id: str) -> list[View]:
    """The views the feed yields up to and including a write of `booking_id`."""
    seen: list[View] = []

    async def read() -> None:
        while not any(view["booking_id"] == booking_id for view in seen):
            step = await anext(changes)
            assert not isinstance(step, Resync), "nothing was missed: no resync expected"
            seen.extend(step)

    await asyncio.wait_for(read(), timeout=10)
    return seen


async def test_change_feed_yields_views_committed_after_it_started_and_not_before(
    read_models: ReadModelStore,
) -> None:
    await commit(read_models, ViewWrite(a_view("before"), None))
    changes = read_models.views.changes()
    try:
        seen = await following(read_models, changes)
        await commit(read_models, ViewWrite(a_view("after", customer_id="bob"), None))

        seen += await written_until(changes, "after")

        assert "before" not in [view["booking_id"] for view in seen]
        assert seen[-1] == a_view("after", customer_id="bob")
        await commit(read_models, ViewWrite(a_view("after", 2, customer_id="bob"), 1))
        again = await written_until(changes, "after")
        assert again[-1] == a_view("after", 2, customer_id="bob")
    finally:
        await stop(changes)


async def test_change_feed_leaves_out_skipped_writes(read_models: ReadModelStore) -> None:
    await commit(read_models, ViewWrite(a_view("b1", 2), None))
    changes = read_models.views.changes()
    try:
        seen = await following(read_models, changes)
        await commit(read_models, ViewWrite(a_view("b1", 3, status="REJECTED"), 1),
                     ViewWrite(a_view("b2"), None))

        seen += await written_until(changes, "b2")

        assert "b1" not in [view["booking_id"] for view in seen]
    finally:
        await stop(changes)


# Rebuilds


async def test_readers_see_the_old_views_until_the_rebuild_is_swapped_in(
    read_models: ReadModelStore,
) -> None:
    await commit(read_models, ViewWrite(a_view("b1", 1), None), ViewWrite(a_view("b-gone"), None))
    fresh = await read_models.fresh(BOOKING_VIEWS)
    await fresh.commit(ProjectionBatch(
        views=[ViewWrite(a_view("b1", 2), None), ViewWrite(a_view("b2"), None)],
        checkpoint=a_checkpoint("rebuild")))

    assert await fresh.views.get_many(["b1", "b2", "b-gone"]) == {
        "b1": a_view("b1", 2), "b2": a_view("b2")}
    assert await read_models.views.get_many(["b1", "b2", "b-gone"]) == {
        "b1": a_view("b1", 1), "b-gone": a_view("b-gone")}
    assert await read_models.checkpoints.load("rebuild") == a_checkpoint("rebuild")

    await read_models.swap_in(fresh, BOOKING_VIEWS)

    assert await read_models.views.get_many(["b1", "b2", "b-gone"]) == {
        "b1": a_view("b1", 2), "b2": a_view("b2")}
    assert booking_ids(await read_models.views.customer_page("alice", None, 5, None)) == [
        "b1", "b2"]
    await commit(read_models, ViewWrite(a_view("b2", 2), 1))
    assert await read_models.views.get("b2") == a_view("b2", 2)


async def test_a_second_rebuild_replaces_the_first(read_models: ReadModelStore) -> None:
    for generation in range(1, 3):
        fresh = await read_models.fresh(BOOKING_VIEWS)
        await commit(fresh, ViewWrite(a_view(f"gen-{generation}"), None))
        await read_models.swap_in(fresh, BOOKING_VIEWS)

    assert await read_models.views.count() == 1
    assert await read_models.views.of_customer("alice") == [a_view("gen-2")]


async def test_rebuilt_occupancy_replaces_the_holds_and_nights(
    read_models: ReadModelStore,
) -> None:
    await commit(read_models, HoldWrite(a_hold("b1", 1, "hotel-1", "2026-06-01"), None),
                 ViewWrite(a_view("b1"), None))
    fresh = await read_models.fresh(HOTEL_OCCUPANCY)
    rebuilt = a_hold("b1", 1, "hotel-1", "2026-06-02")
    await commit(fresh, HoldWrite(rebuilt, None))

    assert await rooms(read_models) == [("2026-06-01", 1)]

    await read_models.swap_in(fresh, HOTEL_OCCUPANCY)

    assert await read_models.occupancy.holds(["b1"]) == {"b1": rebuilt}
    assert await rooms(read_models) == [("2026-06-02", 1)]
    assert await read_models.views.get("b1") == a_view("b1")  # the views are not rebuilt


async def test_fresh_store_of_an_unknown_projection_is_refused(
    read_models: ReadModelStore,
) -> None:
    with pytest.raises(ValueError):
        await read_models.fresh("hotels")

