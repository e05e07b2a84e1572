"""The relay: every stored booking event reaches `travelbuddy.bookings.v1`, in order per
booking, at least once, also when the relay is stopped abruptly and restarted."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from typing import Any

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
from travelbuddy.integration.relay import Relay
from travelbuddy.integration.topics import BOOKINGS

ALICE = Caller("alice")
HOTEL = Caller.system("hotel-service")


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


async def test_every_event_is_published_keyed_by_booking_in_stream_order(
    services: Services, kafka_bootstrap_servers: str
) -> None:
    bookings = {await book(services) for _ in range(5)}
    relay = asyncio.create_task(
        Relay(services.database, services.store, services.feed, kafka_bootstrap_servers).run())
    expected = await stored_event_ids(services)
    try:
        records = await read_until(
            kafka_bootstrap_servers, BOOKINGS,
            done=lambda kept: {envelope(r)["id"] for r in kept} >= expected,
            keep=lambda r: r.key is not None and r.key.decode() in bookings,
        )
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay

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
    services: Services, kafka_bootstrap_servers: str
) -> None:
    bookings = {await book(services) for _ in range(10)}
    ready, first = asyncio.Event(), Relay(services.database, services.store, services.feed,
                                          kafka_bootstrap_servers)
    relay = asyncio.create_task(first.run(ready))
    await ready.wait()
    writing = asyncio.gather(*(book(services) for _ in range(30)))
    # Mid-stream: the catch-up (20 events) is published, most of the 60 new ones are not.
    while first.published < 30:  # noqa: ASYNC110 - a counter, not an event to wait on
        await asyncio.sleep(0.005)
    relay.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relay
    bookings |= set(await writing)

    restarted = asyncio.create_task(
        Relay(services.database, services.store, services.feed, kafka_bootstrap_servers).run())
    expected = await stored_event_ids(services)
    try:
        records = await read_until(
            kafka_bootstrap_servers, BOOKINGS,
            done=lambda kept: {envelope(r)["id"] for r in kept} >= expected,
            keep=lambda r: r.key is not None and r.key.decode() in bookings,
        )
    finally:
        restarted.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await restarted

    published = [envelope(r)["id"] for r in records]
    assert set(published) == expected
    assert len(expected) == 80
    assert first.published < 80
