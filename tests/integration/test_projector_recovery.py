"""The projector runner survives crashes, resumes from its checkpoint, and parks poison.

A crash is `task.cancel()` on the runner's task: it stops at its next await with no
chance to save anything more, which is what the database sees when the process is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.integration.booking_traffic import (
    HOTEL_ID,
    Traffic,
    all_events,
    day,
    event_count,
    eventually,
    expected_occupancy,
    expected_views,
    nights_held,
    nights_of,
    request_booking,
    settle,
    stored_occupancy,
    stored_views,
)
from tests.logged import events
from travelbuddy.bootstrap import READ_MODELS_PROJECTOR, Services
from travelbuddy.domain import (
    ConfirmHotelReservation,
    DecisionContext,
    Event,
    decide,
    event_to_record,
    fold,
    initial_state,
    sample_catalog,
    stream_id,
)
from travelbuddy.eventstore.mongo import EVENTS, event_document
from travelbuddy.eventstore.port import EventMetadata, NewEvent
from travelbuddy.readmodels.booking_view import View
from travelbuddy.readmodels.ports import (
    BOOKING_VIEWS,
    HOTEL_OCCUPANCY,
    Checkpoint,
    ParkedEvent,
)
from travelbuddy.readmodels.runner import ProjectorRunner

Database = AsyncDatabase[dict[str, Any]]

BOOKINGS_UNDER_LOAD = 670  # three events a booking on average: about 2,000 events
KILL_AFTER_WRITTEN = (300, 900, 1500)
MAX_LAG = 200
BACKLOG = 50
BOOKINGS_WHILE_DOWN = 30
FOLLOW_UPS_WHILE_DOWN = 10


class Running:
    """A projector runner in a background task, and the means to kill it."""

    def __init__(self, services: Services) -> None:
        self.runner = services.projector()
        self.started = dt.datetime.now(dt.UTC)
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self.runner.run(self.ready))

    async def kill(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def checkpoint(services: Services) -> Checkpoint | None:
    return await services.read_models.checkpoints.load(READ_MODELS_PROJECTOR)


def assert_same_views(actual: dict[str, View], expected: dict[str, View]) -> None:
    """Equal document for document; on failure say which bookings and how."""
    assert actual.keys() == expected.keys(), (
        f"missing {sorted(expected.keys() - actual.keys())[:5]}, "
        f"extra {sorted(actual.keys() - expected.keys())[:5]}")
    wrong = [booking for booking in expected if actual[booking] != expected[booking]]
    if wrong:
        first = wrong[0]
        fields = {k for k in expected[first].keys() | actual[first].keys()
                  if actual[first].get(k) != expected[first].get(k)}
        raise AssertionError(
            f"{len(wrong)} of {len(expected)} views differ from the rebuild, e.g. {first}: "
            + "; ".join(f"{k}: stored {actual[first].get(k)!r} != rebuilt "
                        f"{expected[first].get(k)!r}" for k in sorted(fields)))


async def assert_read_models_equal_a_rebuild(services: Services) -> None:
    events = await all_events(services)
    assert_same_views(await stored_views(services), expected_views(events))
    assert await stored_occupancy(services) == expected_occupancy(events)


def by_projection(entry: ParkedEvent) -> str:
    return entry.projection


def at_least(count: int) -> Callable[[int], bool]:
    return lambda value: value >= count


def saved_since(moment: dt.datetime) -> Callable[[Checkpoint | None], bool]:
    """A checkpoint saved after `moment` that a restart can resume from (the one saved
    right after a catch-up may have no resume token yet)."""
    return lambda saved: (
        saved is not None and saved.saved_at > moment and saved.resume_token is not None
    )


async def projected_events(mongo_db: Database) -> int:
    """How many events the views have taken in: the sum of their versions."""
    return sum([v["version"] async for v in mongo_db[BOOKING_VIEWS].find({}, {"version": 1})])


async def test_a_projector_killed_three_times_under_load_ends_equal_to_a_rebuild(
    services: Services, caplog: pytest.LogCaptureFixture, mongo_db: Database
) -> None:
    caplog.set_level(logging.INFO, logger="travelbuddy.readmodels.runner")
    traffic = Traffic(services)
    first_wave = range(BOOKINGS_UNDER_LOAD - len(KILL_AFTER_WRITTEN) * BOOKINGS_WHILE_DOWN)
    # A backlog for the first runner to catch up on while writes go on.
    await traffic.lifecycles(first_wave[:BACKLOG])

    async def write_while_projecting() -> None:
        # Batches of bookings, each batch waiting for the projector to come within
        # MAX_LAG events, so that the kills below land while both are busy.
        for start in range(BACKLOG, len(first_wave), 25):
            await traffic.lifecycles(first_wave[start:start + 25])
            written = await event_count(services)
            await eventually(lambda: projected_events(mongo_db), at_least(written - MAX_LAG),
                             30, "the projector keeps up", every=0.05)

    writer = asyncio.create_task(write_while_projecting())
    running = Running(services)
    killed: list[ProjectorRunner] = []
    next_booking = len(first_wave)
    try:
        for round_, threshold in enumerate(KILL_AFTER_WRITTEN):
            await eventually(lambda: event_count(services), at_least(threshold),
                             30, f"{threshold} events written", every=0.02)
            # Kill only after this runner saved a checkpoint of its own, so the next one
            # resumes from it; how far past it the victim got is up to the timing.
            await eventually(lambda: checkpoint(services), saved_since(running.started),
                             30, "the runner saves a checkpoint", every=0.02)
            await running.kill()
            assert not writer.done()
            killed.append(running.runner)

            # Written while no projector runs: new bookings, and later events of old ones.
            follow_ups = [traffic.pending.pop(0) for _ in range(FOLLOW_UPS_WHILE_DOWN)]
            await asyncio.gather(
                traffic.lifecycles(range(next_booking, next_booking + BOOKINGS_WHILE_DOWN)),
                *(traffic.follow_up(booking, round_) for booking in follow_ups))
            next_booking += BOOKINGS_WHILE_DOWN
            running = Running(services)
        await writer
        assert await event_count(services) >= 1900
        await settle(services)

        await assert_read_models_equal_a_rebuild(services)
        saved = await checkpoint(services)
        assert saved is not None and saved.resume_token and saved.position is not None
        assert len(events(caplog.records, "projector_caught_up")) == 1
        assert len(events(caplog.records, "projector_resumed")) == len(KILL_AFTER_WRITTEN)
        assert [r.parked for r in (*killed, running.runner)] == [0] * (len(killed) + 1)
        assert await services.read_models.parked.count() == 0
    finally:
        writer.cancel()
        await running.kill()


async def test_a_restarted_projector_resumes_after_its_checkpoint(
    services: Services, mongo_db: Database
) -> None:
    traffic = Traffic(services)
    first = Running(services)
    try:
        await asyncio.wait_for(first.ready.wait(), 10)
        await traffic.lifecycles(range(40))
        marker = await settle(services)
        marker_event = await mongo_db[EVENTS].find_one({"stream_id": stream_id(marker)})
        assert marker_event is not None
        # The marker was written last: once the checkpoint names it, it covers everything.
        await eventually(lambda: checkpoint(services),
                         lambda c: c is not None and c.position == marker_event["_id"],
                         10, "the checkpoint covers the last event")
    finally:
        await first.kill()
    projected_by_first = await event_count(services)

    await traffic.lifecycles(range(40, 70))
    second = Running(services)

    async def applied() -> int:
        return second.runner.applied

    try:
        await settle(services)
        total = await event_count(services)
        new_events = total - projected_by_first
        await eventually(applied, at_least(new_events), 10,
                         f"the second runner applies the {new_events} new events")

        assert second.runner.applied == new_events < total
        await assert_read_models_equal_a_rebuild(services)
    finally:
        await second.kill()


# -- poison events ---------------------------------------------------------------------


def metadata(customer: str = "alice") -> EventMetadata:
    return EventMetadata(event_id=str(uuid.uuid4()), customer_id=customer,
                         recorded_at=dt.datetime.now(dt.UTC).replace(microsecond=0))


def raw_event(
    booking_id: str, version: int, type_name: str, data: dict[str, Any]
) -> dict[str, Any]:
    """An `events` document shaped the way MongoEventStore writes one (no command id)."""
    stored = event_document(stream_id(booking_id), version,
                            NewEvent(type_name, 1, data, metadata()))
    del stored["metadata"]["command_id"]  # absent, not null, as the sparse index wants
    return stored


def document(booking_id: str, version: int, event: Event) -> dict[str, Any]:
    """The `events` document of a decided event."""
    type_name, schema_version, data = event_to_record(event)
    assert schema_version == 1
    return raw_event(booking_id, version, type_name, data)


async def test_a_poison_event_is_parked_and_later_events_are_still_projected(
    services: Services, mongo_db: Database
) -> None:
    # Written before the projector starts, so it meets the poison while catching up and
    # only after the booking's earlier events are all in the store (as in a rebuild).
    traffic = Traffic(services)
    poisoned = await traffic.request(days_ahead=20, nights=2)
    await traffic.confirm_hotel(poisoned)
    poison = raw_event(poisoned, 3, "HotelUpgraded", {"booking_id": poisoned, "room_type": "STE"})
    await mongo_db[EVENTS].insert_one(dict(poison))
    before = await traffic.request(days_ahead=21, nights=2, flight=False)
    running = Running(services)
    try:
        await asyncio.wait_for(running.ready.wait(), 10)
        # ...and these reach it through the change stream, after the poison.
        confirmed = await traffic.request(days_ahead=22, nights=2, flight=False)
        await traffic.confirm_hotel(confirmed)
        cancelled = await traffic.request(days_ahead=23, nights=2)
        await traffic.cancel(cancelled)
        await settle(services)

        parked = sorted(await services.read_models.parked.list(), key=by_projection)
        assert [(e.projection, e.event.version) for e in parked] == [
            (BOOKING_VIEWS, 3), (HOTEL_OCCUPANCY, 3)]
        for entry in parked:
            assert (entry.event.stream_id, entry.event.version, entry.event.type,
                    entry.event.data) == tuple(
                poison[k] for k in ("stream_id", "version", "type", "data"))
            assert entry.event.metadata.event_id == poison["metadata"]["event_id"]
            assert entry.error == "UnknownEventType: unknown event type 'HotelUpgraded'"
            assert entry.attempts == 1
        assert running.runner.parked == 2

        views = await stored_views(services)
        assert (views[poisoned]["version"], views[poisoned]["status"]) == (2, "PENDING")
        assert (views[before]["version"], views[before]["status"]) == (1, "PENDING")
        assert (views[confirmed]["version"], views[confirmed]["status"]) == (2, "CONFIRMED")
        assert (views[cancelled]["version"], views[cancelled]["status"]) == (2, "CANCELLED")
        # The poison parks itself only: the booking keeps the nights its readable events hold.
        assert await nights_held(services, poisoned) == {HOTEL_ID: nights_of(day(20), 2)}
        assert await nights_held(services, before) == {HOTEL_ID: nights_of(day(21), 2)}
        assert await nights_held(services, confirmed) == {HOTEL_ID: nights_of(day(22), 2)}
        assert await nights_held(services, cancelled) == {}

        # Still unknown to this code: a retry fails again and keeps it, counting the attempt.
        assert await running.runner.retry_parked() == (0, 2)
        again = sorted(await services.read_models.parked.list(), key=by_projection)
        assert [(e.entry_id, e.attempts) for e in again] == [(e.entry_id, 2) for e in parked]
        assert all(e.parked_at >= p.parked_at for e, p in zip(again, parked, strict=True))
    finally:
        await running.kill()


async def test_an_event_parked_before_its_booking_existed_is_applied_by_a_retry(
    services: Services, projector: ProjectorRunner, mongo_db: Database
) -> None:
    command = request_booking(days_ahead=25, nights=2, flight=False)
    context = DecisionContext(catalog=sample_catalog(), today=dt.date.today())
    requested = decide(command, initial_state(), context)
    reserved = decide(ConfirmHotelReservation(booking_id=command.booking_id,
                                              confirmation_code="HTL-LATE"),
                      fold([requested]), context)
    booking = command.booking_id
    events = mongo_db[EVENTS]

    # Version 2 arrives first: a version gap for both projections, which never skip one.
    await events.insert_one(document(booking, 2, reserved))
    await settle(services)
    parked = sorted(await services.read_models.parked.list(), key=by_projection)
    assert [entry.projection for entry in parked] == [BOOKING_VIEWS, HOTEL_OCCUPANCY]
    assert all(entry.error.startswith("VersionGap:") and "waiting for version 1" in entry.error
               for entry in parked), parked
    assert projector.parked == 2
    assert booking not in await stored_views(services)

    await events.insert_one(document(booking, 1, requested))
    await settle(services)
    view = (await stored_views(services))[booking]
    assert (view["version"], view["status"], view["hotel_stay"]["status"]) == (
        1, "PENDING", "PENDING")

    assert await projector.retry_parked() == (2, 0)

    view = (await stored_views(services))[booking]
    assert (view["version"], view["status"]) == (2, "CONFIRMED")
    assert view["hotel_stay"]["confirmation_code"] == "HTL-LATE"
    assert await services.read_models.parked.count() == 0
    assert await nights_held(services, booking) == {HOTEL_ID: nights_of(day(25), 2)}
    await assert_read_models_equal_a_rebuild(services)
