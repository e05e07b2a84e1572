"""The simulated hotel and flight services, on the test Kafka broker and on the
SQLite bus.

Topic names are the service's own, so tests are told apart by booking id (every test
books a fresh one) and by consumer group (every run of the partners has fresh ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.integration.buses import BUS_KINDS, bus_of_kind, poll_until, subscribed
from travelbuddy.domain import (
    SAMPLE_FLIGHTS,
    SAMPLE_HOTELS,
    BookingRequested,
    Cabin,
    ChangeStayDates,
    DecisionContext,
    Event,
    FlightRequest,
    HotelStayRequest,
    RequestBooking,
    StayDatesChanged,
    Traveler,
    decide,
    event_to_record,
    fold,
    initial_state,
    sample_catalog,
)
from travelbuddy.eventstore.port import EventMetadata, StoredEvent
from travelbuddy.integration.bus import Bus
from travelbuddy.integration.messages import (
    BookingEventEnvelope,
    CatalogEntry,
    CatalogFlight,
    CatalogHotel,
    FlightRejected,
    FlightReserved,
    HotelRejected,
    HotelReserved,
    ReservationReply,
)
from travelbuddy.integration.topics import (
    BOOKINGS,
    CATALOG,
    FLIGHT_REPLIES,
    HOTEL_REPLIES,
)
from travelbuddy.partners import FlightService, HotelService, publish_catalog
from travelbuddy.partners.simulated_partner import Reply

TODAY = dt.date(2026, 12, 1)
CONTEXT = DecisionContext(sample_catalog(), TODAY)
OUTBOUND, RETURN = "NH-061-HND-CTS", "NH-062-CTS-HND"
DEADLINE = 20.0

replies_adapter: TypeAdapter[Reply] = TypeAdapter(ReservationReply)
catalog_adapter: TypeAdapter[CatalogHotel | CatalogFlight] = TypeAdapter(CatalogEntry)


@pytest.fixture(params=BUS_KINDS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    async with bus_of_kind(request.param, request) as opened:
        yield opened


def requested_trip(*, with_hotel: bool = True) -> BookingRequested:
    """Three nights in Sapporo, NH61 out in economy and NH62 home in premium."""
    stay = HotelStayRequest(
        hotel_id="hotel-sapporo-1", room_type="STD", check_in=dt.date(2026, 12, 10),
        check_out=dt.date(2026, 12, 13), guests=2,
    )
    command = RequestBooking(
        booking_id=str(uuid.uuid4()),
        customer_id="customer-aiko",
        hotel_stays=(stay,) if with_hotel else (),
        flights=(
            FlightRequest(flight_id=OUTBOUND, date=stay.check_in, seats=2, cabin=Cabin.ECONOMY),
            FlightRequest(flight_id=RETURN, date=stay.check_out, seats=2, cabin=Cabin.PREMIUM),
        ),
        travelers=(Traveler(name="Aiko Tanaka"), Traveler(name="Ken Tanaka")),
    )
    event = decide(command, initial_state(), CONTEXT)
    assert isinstance(event, BookingRequested)
    return event


def stay_moved(requested: BookingRequested) -> StayDatesChanged:
    """The stay of `requested` moved one night later."""
    change = ChangeStayDates(
        booking_id=requested.booking_id,
        check_in=dt.date(2026, 12, 11),
        check_out=dt.date(2026, 12, 14),
    )
    event = decide(change, fold([requested]), CONTEXT)
    assert isinstance(event, StayDatesChanged)
    return event


def envelope(event: Event, version: int) -> BookingEventEnvelope:
    """The booking event as the relay publishes it."""
    type_name, schema_version, data = event_to_record(event)
    stored = StoredEvent(
        stream_id=f"booking-{event.booking_id}", version=version, type=type_name,
        schema_version=schema_version, data=data,
        metadata=EventMetadata(
            event_id=str(uuid.uuid4()), customer_id="customer-aiko",
            recorded_at=dt.datetime.now(dt.UTC), correlation_id=str(uuid.uuid4()),
        ),
    )
    return BookingEventEnvelope.of(stored)


async def publish(bus: Bus, key: str, *values: bytes) -> None:
    for value in values:
        await bus.publish(BOOKINGS, key.encode(), value)


def encoded(*envelopes: BookingEventEnvelope) -> list[bytes]:
    return [e.model_dump_json().encode() for e in envelopes]


@contextlib.asynccontextmanager
async def partners_running(
    bus: Bus, rejection_rate: float = 0.0, run: str | None = None
) -> AsyncIterator[None]:
    """Both partners with consumer groups of their own (named after `run`, fresh unless
    given), stopped (and checked) on exit."""
    run = run or uuid.uuid4().hex[:8]
    services = (
        HotelService(bus, f"hotel-{run}", latency=0.01, rejection_rate=rejection_rate,
                     rng=random.Random(1)),
        FlightService(bus, f"flight-{run}", latency=0.01, rejection_rate=rejection_rate,
                      rng=random.Random(2)),
    )
    tasks = [asyncio.create_task(service.run()) for service in services]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # a partner that crashed fails the test here


async def replies_for(
    bus: Bus, booking_id: str, until: Callable[[dict[str, Reply]], bool]
) -> dict[str, Reply]:
    """The booking's replies on both reply topics, by reply id, read from the beginning
    until `until` holds. A reply id seen twice fails: replies must not repeat."""
    replies: dict[str, Reply] = {}
    async with subscribed(bus, [HOTEL_REPLIES, FLIGHT_REPLIES]) as subscription:
        async with asyncio.timeout(DEADLINE):
            while not until(replies):
                for message in await subscription.poll(0.5):
                    if message.key != booking_id.encode():
                        continue
                    assert message.value is not None
                    reply = replies_adapter.validate_json(message.value)
                    assert reply.reply_id not in replies, f"{reply.reply_id} sent twice"
                    replies[reply.reply_id] = reply
    return replies


def has(*reply_ids: str) -> Callable[[dict[str, Reply]], bool]:
    return lambda replies: set(reply_ids) <= replies.keys()


def trip_reply_ids(event_id: str) -> tuple[str, str, str]:
    return f"hotel:{event_id}", f"flight:{event_id}:{OUTBOUND}", f"flight:{event_id}:{RETURN}"


async def test_partners_reserve_the_stay_and_every_flight(bus: Bus) -> None:
    requested = envelope(requested_trip(), 1)
    await publish(bus, requested.subject, *encoded(requested))

    async with partners_running(bus):
        replies = await replies_for(
            bus, requested.subject, has(*trip_reply_ids(requested.id))
        )

    hotel_id, outbound_id, return_id = trip_reply_ids(requested.id)
    hotel, outbound, home = replies[hotel_id], replies[outbound_id], replies[return_id]
    assert isinstance(hotel, HotelReserved) and hotel.confirmation_code.startswith("HTL-")
    assert isinstance(outbound, FlightReserved) and outbound.flight_id == OUTBOUND
    assert isinstance(home, FlightReserved) and home.flight_id == RETURN
    assert outbound.confirmation_code.startswith("NH-") and len(outbound.confirmation_code) == 9
    for reply in (hotel, outbound, home):
        assert reply.booking_id == requested.subject
        assert reply.causation_id == requested.id


async def test_partners_reject_when_sold_out(bus: Bus) -> None:
    requested = envelope(requested_trip(), 1)
    await publish(bus, requested.subject, *encoded(requested))

    async with partners_running(bus, rejection_rate=1.0):
        replies = await replies_for(
            bus, requested.subject, has(*trip_reply_ids(requested.id))
        )

    hotel_id, outbound_id, return_id = trip_reply_ids(requested.id)
    assert replies[hotel_id] == HotelRejected(
        type="hotel.rejected", reply_id=hotel_id, booking_id=requested.subject,
        reason="sold out for those nights", causation_id=requested.id,
    )
    outbound, home = replies[outbound_id], replies[return_id]
    assert isinstance(outbound, FlightRejected) and isinstance(home, FlightRejected)
    assert outbound.reason == "no seats left in economy"
    assert home.reason == "no seats left in premium"


async def test_a_redelivered_booking_event_is_answered_once(bus: Bus) -> None:
    requested = envelope(requested_trip(), 1)
    # A later event of the same booking (same key, same partition): the partners answer
    # in order, so once its replies are read, any repeated reply would have been too.
    later = requested.model_copy(update={"id": str(uuid.uuid4())})
    key = requested.subject

    async with partners_running(bus):
        await publish(bus, key, *encoded(requested, requested))
        await replies_for(bus, key, has(*trip_reply_ids(requested.id)))
        await publish(bus, key, *encoded(requested, later))
        replies = await replies_for(bus, key, has(*trip_reply_ids(later.id)))

    assert replies.keys() == {*trip_reply_ids(requested.id), *trip_reply_ids(later.id)}


async def test_restarted_partners_resume_after_what_they_answered(bus: Bus) -> None:
    first = envelope(requested_trip(), 1)
    later = first.model_copy(update={"id": str(uuid.uuid4())})
    key, run = first.subject, uuid.uuid4().hex[:8]
    await publish(bus, key, *encoded(first))
    async with partners_running(bus, run=run):
        await replies_for(bus, key, has(*trip_reply_ids(first.id)))

    # Same consumer groups, a new run: the committed offsets are past `first`, so only
    # `later` is answered (a repeated reply to `first` would fail `replies_for`).
    await publish(bus, key, *encoded(later))
    async with partners_running(bus, run=run):
        replies = await replies_for(bus, key, has(*trip_reply_ids(later.id)))

    assert replies.keys() == {*trip_reply_ids(first.id), *trip_reply_ids(later.id)}


async def test_changed_stay_dates_get_a_new_hotel_reply(bus: Bus) -> None:
    booked = requested_trip()
    requested, changed = envelope(booked, 1), envelope(stay_moved(booked), 2)
    await publish(bus, requested.subject, *encoded(requested, changed))

    async with partners_running(bus):
        replies = await replies_for(
            bus, requested.subject,
            has(*trip_reply_ids(requested.id), f"hotel:{changed.id}"),
        )

    again = replies[f"hotel:{changed.id}"]
    assert isinstance(again, HotelReserved) and again.causation_id == changed.id
    assert {r.causation_id for r in replies.values() if r.type.startswith("flight.")} == {
        requested.id
    }


async def test_malformed_and_unrelated_messages_are_skipped(bus: Bus) -> None:
    flights_only = envelope(requested_trip(with_hotel=False), 1)
    key = flights_only.subject
    broken_data = flights_only.model_copy(update={"id": str(uuid.uuid4()), "data": {"x": 1}})
    unknown_type = flights_only.model_copy(update={"id": str(uuid.uuid4()), "type": "Teleported"})
    await publish(
        bus, key,
        b"not json", b'{"id": "no other field"}', *encoded(broken_data, unknown_type),
        *encoded(flights_only),
    )

    async with partners_running(bus):
        replies = await replies_for(
            bus, key, has(*trip_reply_ids(flights_only.id)[1:])
        )

    # No hotel reply: the booking has no stay, and nothing for the broken messages.
    assert replies.keys() == set(trip_reply_ids(flights_only.id)[1:])


async def test_catalog_is_published_keyed_by_hotel_and_flight_id(bus: Bus) -> None:
    expected: dict[str, Any] = {h.id: h for h in SAMPLE_HOTELS} | {
        f.id: f for f in SAMPLE_FLIGHTS
    }
    entries: dict[str, CatalogHotel | CatalogFlight] = {}
    async with subscribed(bus, [CATALOG], from_end=True) as subscription:  # only what
        await publish_catalog(bus)  # this call publishes
        published = await poll_until(
            subscription,
            lambda kept: {(m.key or b"").decode() for m in kept} == expected.keys(),
        )
    for message in published:
        assert message.key is not None and message.value is not None
        entries[message.key.decode()] = catalog_adapter.validate_json(message.value)
    assert entries.keys() == expected.keys()

    for key, entry in entries.items():
        catalogued = entry.hotel if isinstance(entry, CatalogHotel) else entry.flight
        assert catalogued == expected[key]

