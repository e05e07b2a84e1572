"""Booking traffic for the benchmarks: the commands of a booking's life, and real events.

A booking here lives three commands: RequestBooking by its customer, then the hotel's and
the airline's confirmations sent as the trusted partner system, as the inbound consumer
sends them. Pre-filled stores get their events from the real command handler run over an
in-memory store, so every stored event is one the service itself would have written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from travelbuddy.application import BookingCommands, Caller, StaticCatalog
from travelbuddy.domain import (
    Cabin,
    Command,
    ConfirmFlightReservation,
    ConfirmHotelReservation,
    FlightRequest,
    HotelStayRequest,
    RequestBooking,
    Traveler,
)
from travelbuddy.domain.sample_catalog import SAMPLE_FLIGHTS, SAMPLE_HOTELS
from travelbuddy.eventstore.port import (
    ConcurrencyError,
    NewEvent,
    StoredEvent,
)

PARTNER = Caller.system("bench-partners")
COMMANDS_PER_BOOKING = 3


def booking_commands(n: int, customer: str) -> list[tuple[Command, Caller]]:
    """Booking number `n`'s life: requested, hotel confirmed, flight confirmed.

    Hotels, flights, dates and stay lengths vary with `n`, so occupancy nights overlap the
    way a real mix of bookings makes them overlap.
    """
    hotel = SAMPLE_HOTELS[n % len(SAMPLE_HOTELS)]
    flight = SAMPLE_FLIGHTS[n % len(SAMPLE_FLIGHTS)]
    check_in = dt.date.today() + dt.timedelta(days=7 + n % 300)
    booking_id = str(uuid.uuid4())
    request = RequestBooking(
        booking_id=booking_id,
        customer_id=customer,
        hotel_stays=(HotelStayRequest(
            hotel_id=hotel.id, room_type=hotel.room_types[0].code, check_in=check_in,
            check_out=check_in + dt.timedelta(days=1 + n % 4), guests=2),),
        flights=(FlightRequest(flight_id=flight.id, date=check_in, seats=2,
                               cabin=Cabin.ECONOMY),),
        travelers=(Traveler(name="Hanako Yamada"), Traveler(name="Taro Yamada")),
    )
    return [
        (request, Caller(customer)),
        (ConfirmHotelReservation(booking_id=booking_id, confirmation_code=f"HTL-{n}"), PARTNER),
        (ConfirmFlightReservation(booking_id=booking_id, flight_id=flight.id,
                                  confirmation_code=f"FLT-{n}"), PARTNER),
    ]


def request_input(n: int) -> dict[str, Any]:
    """The GraphQL `RequestBookingInput` of booking number `n` (see `booking_commands`)."""
    hotel = SAMPLE_HOTELS[n % len(SAMPLE_HOTELS)]
    flight = SAMPLE_FLIGHTS[n % len(SAMPLE_FLIGHTS)]
    check_in = dt.date.today() + dt.timedelta(days=7 + n % 300)
    return {
        "hotelStay": {
            "hotelId": hotel.id, "roomType": hotel.room_types[0].code,
            "checkIn": check_in.isoformat(),
            "checkOut": (check_in + dt.timedelta(days=1 + n % 4)).isoformat(), "guests": 2,
        },
        "flights": [{"flightId": flight.id, "date": check_in.isoformat(), "seats": 2,
                     "cabin": "ECONOMY"}],
        "travelers": [{"name": "Hanako Yamada"}, {"name": "Taro Yamada"}],
    }


def flight_of(n: int) -> str:
    """The flight id booking number `n` books."""
    return SAMPLE_FLIGHTS[n % len(SAMPLE_FLIGHTS)].id


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the command handler appended it: where, and what."""

    stream_id: str
    version: int
    event: NewEvent


class RecordingStore:
    """An EventStore in a list: just enough for the command handler to produce events fast."""

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []
        self._streams: dict[str, list[StoredEvent]] = {}

    async def append(self, stream_id: str, expected_version: int,
                     events: Sequence[NewEvent]) -> int:
        stream = self._streams.setdefault(stream_id, [])
        if len(stream) != expected_version:
            raise ConcurrencyError(stream_id, expected_version)
        for event in events:
            version = len(stream) + 1
            stream.append(StoredEvent(
                stream_id=stream_id, version=version, type=event.type,
                schema_version=event.schema_version, data=event.data,
                metadata=event.metadata, position=len(self.events) + 1))
            self.events.append(RecordedEvent(stream_id, version, event))
        return len(stream)

    async def read(self, stream_id: str, owner: str | None = None) -> list[StoredEvent]:
        stream = self._streams.get(stream_id, [])
        if owner is not None and stream and stream[0].metadata.customer_id != owner:
            return []
        return list(stream)

    async def read_all(self) -> AsyncIterator[StoredEvent]:
        for stream in self._streams.values():
            for event in stream:
                yield event

    async def find_by_command(self, command_id: str, issued_by: str | None) -> StoredEvent | None:
        return None

    async def count(self, after_position: Any = None) -> int:
        return len(self.events)

    async def oldest_recorded_at(self, after_position: Any = None) -> dt.datetime | None:
        return self.events[0].event.metadata.recorded_at if self.events else None


async def recorded_events(count: int, customers: int = 50, *, requests_only: bool = False,
                          first: int = 0) -> list[RecordedEvent]:
    """`count` events from the real handler: whole bookings (three events each), or with
    `requests_only` one BookingRequested per booking; bookings numbered from `first`."""
    store = RecordingStore()
    commands = BookingCommands(store, StaticCatalog())
    steps = 1 if requests_only else COMMANDS_PER_BOOKING
    for n in range(first, first + -(-count // steps)):
        for command, caller in booking_commands(n, f"bench-customer-{n % customers}")[:steps]:
            await commands.handle(command, caller)
    return store.events[:count]


def by_stream(events: Sequence[RecordedEvent]) -> dict[str, list[RecordedEvent]]:
    """The events grouped by stream, each stream in version order."""
    streams: dict[str, list[RecordedEvent]] = {}
    for recorded in events:
        streams.setdefault(recorded.stream_id, []).append(recorded)
    return streams


async def lone_request() -> RecordedEvent:
    """A booking request whose booking never gets another event (an anchor to resume after)."""
    store = RecordingStore()
    command, caller = booking_commands(0, "bench-anchor")[0]
    await BookingCommands(store, StaticCatalog()).handle(command, caller)
    return store.events[0]
