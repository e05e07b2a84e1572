"""The relay: every stored booking event reaches `travelbuddy.bookings.v1`, in order per
booking, at least once, also when the relay is stopped abruptly and restarted; on the
in-process bus, which a new process starts empty, every event again."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration.buses import kafka_bus, poll_until, subscribed
from tests.integration.kafka_reading import Record, read_until
from travelbuddy.application import Caller
from travelbuddy.bootstrap import Services
from travelbuddy.domain import (
    Cabin,
    ConfirmHotelReservation,
    FlightRequest,
    HotelStayRequest,
    RequestBooking,
    Traveler,
)
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.memory_bus import MemoryBus
from travelbuddy.integration.relay import IN_PROCESS_RELAY, Relay
from travelbuddy.integration.topics import BOOKINGS

ALICE = Caller("alice")
HOTEL = Caller.system("hotel-service")


@pytest.fixture
async def bus(kafka_bootstrap_servers: str) -> AsyncIterator[KafkaBus]:
    async with kafka_bus(kafka_bootstrap_servers) as opened:
        yield opened


async def book(services: Services) -> str:
    booking_id = str(uuid.uuid4())
    day = dt.date.today() + dt.timedelta(days=20)
    await services.commands.handle(RequestBooking(
        booking_id=booking_id, customer_id="alice",
        hotel_stays=(HotelStayRequest(hotel_id="hotel-sapporo-1", room_type="STD",
                                      check_in=day, check_out=day + dt.timedelta(days=2),
                                      guests=1),),
        flights=(FlightRequest(flight_id="NH-061-HND-CTS", date=day, seats=1,
                               cabin=Cabin.ECONOMY),),
        travelers=(Traveler(name="Aiko Tanaka"),),
    ), ALICE)
    await services.commands.handle(
        ConfirmHotelReservation(booking_id=booking_id, confirmation_code="H-1"), HOTEL
    )
    return booking_id


async def stored_event_ids(services: Services) -> set[str]:
    return {e.metadata.event_id async for e in services.store.read_all()}


def envelope(record: Record) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(record.value)
    return value


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def relayed(
    services: Services, bus: KafkaBus, bootstrap_servers: str, bookings: set[str]
) -> list[Record]:
    """Run a fresh relay until every stored event of `bookings` is on the topic; the
    records of those bookings read back from the start of the topic."""
    relay = asyncio.create_task(
        Relay(services.read_models, services.store, services.feed, bus).run())
    expected = await stored_event_ids(services)
    try:
        return await read_until(
            bootstrap_servers, BOOKINGS,
            done=lambda kept: {envelope(r)["id"] for r in kept} >= expected,
            keep=lambda r: r.key is not None and r.key.decode() in bookings,
        )
    finally:
        await stop(relay)


async def test_every_event_is_published_keyed_by_booking_in_stream_order(
    services: Services, kafka_bootstrap_servers: str, bus: KafkaBus
) -> None:
    bookings = {await book(services) for _ in range(5)}

    records = await relayed(services, bus, kafka_bootstrap_servers, bookings)

    first = envelope(records[0])
    assert set(first) >= {"id", "type", "source", "subject", "time", "datacontenttype",
                          "dataschemaversion", "data"}
    assert first["type"] == "BookingRequested"
    for booking_id in bookings:
        mine = [r for r in records if r.key == booking_id.encode()]
        assert len({r.partition for r in mine}) == 1
        sequences = [envelope(r)["sequence"] for r in mine]
        assert sequences == sorted(sequences) == [1, 2]
        assert all(envelope(r)["subject"] == booking_id for r in mine)


async def test_relay_stopped_abruptly_and_restarted_loses_no_event(
    services: Services, kafka_bootstrap_servers: str, bus: KafkaBus
) -> None:
    bookings = {await book(services) for _ in range(10)}
    ready, first = asyncio.Event(), Relay(services.read_models, services.store, services.feed, bus)
    relay = asyncio.create_task(first.run(ready))
    await ready.wait()
    writing = asyncio.gather(*(book(services) for _ in range(30)))
    # Mid-stream: the catch-up (20 events) is published, most of the 60 new ones are not.
    while first.published < 30:  # noqa: ASYNC110 - a counter, not an event to wait on
        await asyncio.sleep(0.005)
    await stop(relay)
    bookings |= set(await writing)

    records = await relayed(services, bus, kafka_bootstrap_servers, bookings)

    published = [envelope(r)["id"] for r in records]
    expected = await stored_event_ids(services)
    assert set(published) == expected
    assert len(expected) == 80
    assert first.published < 80


async def checkpointed(services: Services) -> bool:
    checkpoint = await services.read_models.checkpoints.load(IN_PROCESS_RELAY)
    return checkpoint is not None and checkpoint.resume_token is not None


async def test_on_the_in_process_bus_a_new_process_publishes_every_event_again(
    services: Services,
) -> None:
    await book(services)
    first_bus, ready = MemoryBus(), asyncio.Event()
    relay = asyncio.create_task(
        Relay(services.read_models, services.store, services.feed, first_bus).run(ready))
    try:
        async with asyncio.timeout(20):
            await ready.wait()
            await book(services)  # followed on the change stream: a resume token is saved
            expected = await stored_event_ids(services)
            async with subscribed(first_bus, [BOOKINGS]) as subscription:
                await poll_until(subscription, lambda kept: {
                    json.loads(m.value or b"")["id"] for m in kept} >= expected)
            while not await checkpointed(services):  # noqa: ASYNC110 - a document, no event
                await asyncio.sleep(0.02)
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
    await book(services)

    # A new process: a new, empty in-process bus, and the relay's checkpoint in the same
    # database. The bus forgot what the first relay published, so it is published again.
    second_bus, ready = MemoryBus(), asyncio.Event()
    relay = asyncio.create_task(
        Relay(services.read_models, services.store, services.feed, second_bus).run(ready))
    try:
        async with asyncio.timeout(20):
            await ready.wait()
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
    async with second_bus.read_to_end(BOOKINGS) as backlog:
        republished = [json.loads(message.value or b"")["id"] async for message in backlog]

    assert len(expected) == 4
    assert sorted(republished) == sorted(await stored_event_ids(services))
    assert len(republished) == 6
