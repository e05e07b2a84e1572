"""The projections under at-least-once delivery, on both read-model adapters: events in
random batches with redeliveries (a crashed follower resumes from an older checkpoint)
end in the same views and occupancy as a fold of the events; a version gap is parked,
never skipped, and a retry applies it once the missing version is there."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from tests.unit.readmodels.readmodel_trip import RETURN, Trip, requested_trip, sapporo_stay
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.readmodels.booking_view import View, apply_to_view
from travelbuddy.readmodels.occupancy import occupancy_from_events
from travelbuddy.readmodels.ports import ProjectionBatch, ReadModelStore
from travelbuddy.readmodels.projections import BookingViews, HotelOccupancy
from travelbuddy.readmodels.runner import ProjectorRunner

BOOKINGS = 60
HOTEL = "hotel-sapporo-1"


def a_life(rng: random.Random) -> Trip:
    """A booking with a stay on random nights in December, and a random life after it."""
    check_in = dt.date(2026, 12, 5) + dt.timedelta(days=rng.randrange(15))
    trip = requested_trip(str(uuid.UUID(int=rng.getrandbits(128), version=4)), hotel_stays=(
        sapporo_stay(check_in=check_in,
                     check_out=check_in + dt.timedelta(days=1 + rng.randrange(4))),))
    match rng.randrange(6):
        case 0:
            pass
        case 1:
            trip.confirm_all()
        case 2:
            trip.reject_hotel()
        case 3:
            trip.confirm_hotel()
            trip.reject_flight(RETURN)
        case 4:
            trip.confirm_all()
            trip.cancel()
        case 5:
            trip.confirm_hotel()
            moved = check_in + dt.timedelta(days=rng.randrange(1, 5))
            trip.change_dates(moved, moved + dt.timedelta(days=2))
    return trip


def interleaved(trips: list[Trip], rng: random.Random) -> list[StoredEvent]:
    """Every trip's events, streams interleaved at random, each stream in order."""
    queues = [list(trip.stored) for trip in trips]
    events: list[StoredEvent] = []
    while queues:
        queue = rng.choice(queues)
        events.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return events


async def deliver(read_models: ReadModelStore, events: list[StoredEvent]) -> None:
    batch = ProjectionBatch()
    for projection in (BookingViews(read_models), HotelOccupancy(read_models)):
        await projection.apply(events, batch)
    await read_models.commit(batch)


def folded_views(events: list[StoredEvent]) -> dict[str, View]:
    views: dict[str, View] = {}
    for event in events:
        booking_id = event.stream_id.removeprefix("booking-")
        views[booking_id] = apply_to_view(views.get(booking_id), event)
    return views


async def rooms(read_models: ReadModelStore) -> dict[tuple[str, str], int]:
    booked = await read_models.occupancy.rooms_booked(
        HOTEL, dt.date(2026, 12, 1), dt.date(2027, 1, 31))
    return {(HOTEL, night): count for night, count in booked}


async def test_redelivered_random_batches_end_equal_to_a_fold_of_the_events(
    read_models: ReadModelStore,
) -> None:
    rng = random.Random(20261201)
    events = interleaved([a_life(rng) for _ in range(BOOKINGS)], rng)
    position, deliveries = 0, 0
    while position < len(events):
        size = rng.randint(1, 25)
        batch = events[position:position + size]
        if rng.random() < 0.2:  # the same event twice in one batch
            batch = [*batch, rng.choice(batch)]
        await deliver(read_models, batch)
        deliveries += len(batch)
        if rng.random() < 0.3:  # a crash: resume from an older checkpoint
            position = max(0, position + size - rng.randint(1, 40))
        else:
            position += size

    assert deliveries > len(events) * 1.3  # the run did redeliver
    assert await rooms(read_models) == occupancy_from_events(events)
    expected = folded_views(events)
    assert await read_models.views.get_many(list(expected)) == expected
    assert await read_models.parked.count() == 0


async def test_a_version_gap_is_parked_and_a_retry_applies_it_after_the_missing_version(
    read_models: ReadModelStore,
) -> None:
    trip = requested_trip()
    trip.confirm_hotel()
    trip.cancel()
    requested, confirmed, cancelled = trip.stored
    runner = ProjectorRunner("gap-check", read_models, store=_unused(), feed=_unused(),
                             projections=[BookingViews(read_models), HotelOccupancy(read_models)])

    await deliver(read_models, [requested, cancelled])  # version 2 went missing

    view = await read_models.views.get(trip.booking_id)
    assert view is not None and (view["version"], view["status"]) == (1, "PENDING")
    parked = await read_models.parked.list()
    assert sorted(entry.projection for entry in parked) == ["booking_views", "hotel_occupancy"]
    assert all(entry.event.version == 3 and entry.error.startswith("VersionGap:")
               for entry in parked)
    assert await rooms(read_models)  # the nights are still held: the cancellation waits

    await deliver(read_models, [confirmed])
    assert await runner.retry_parked() == (2, 0)

    assert await read_models.views.get(trip.booking_id) == trip.view
    assert await rooms(read_models) == {}
    assert await read_models.parked.count() == 0


def _unused() -> Any:
    return None  # retry_parked reads neither the event store nor the feed
