"""A booking's stream as the read models receive it: decided events, stored in order.

The standard trip of the domain tests (tests/unit/domain/booking_scenario.py): two
travelers fly Tokyo -> Sapporo on 10 December, stay three nights
at the Odori Park Hotel (standard twin, 13,000 a night) and fly home in premium on
13 December. Today is 1 December. Each event is recorded one minute after the last.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tests.unit.domain.booking_scenario import (  # the same standard trip, re-exported
    CHECK_IN as CHECK_IN,
)
from tests.unit.domain.booking_scenario import (
    CHECK_OUT as CHECK_OUT,
)
from tests.unit.domain.booking_scenario import (
    CUSTOMER_ID as CUSTOMER_ID,
)
from tests.unit.domain.booking_scenario import (
    OUTBOUND as OUTBOUND,
)
from tests.unit.domain.booking_scenario import (
    RETURN as RETURN,
)
from tests.unit.domain.booking_scenario import (
    TODAY as TODAY,
)
from tests.unit.domain.booking_scenario import (
    outbound_flight as outbound_flight,
)
from tests.unit.domain.booking_scenario import (
    return_flight as return_flight,
)
from tests.unit.domain.booking_scenario import (
    sapporo_stay as sapporo_stay,
)
from travelbuddy.domain import (
    ApplyPerk,
    BookingState,
    CancelBooking,
    ChangeStayDates,
    Command,
    ConfirmFlightReservation,
    ConfirmHotelReservation,
    DecisionContext,
    Event,
    RejectFlightReservation,
    RejectHotelReservation,
    RequestBooking,
    Traveler,
    decide,
    event_to_record,
    fold,
    sample_catalog,
    stream_id,
)
from travelbuddy.eventstore.port import EventMetadata, StoredEvent
from travelbuddy.readmodels.booking_view import View, apply_to_view

CONTEXT = DecisionContext(catalog=sample_catalog(), today=TODAY)
BOOKING_ID = "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6"
HOTEL_ID = "hotel-sapporo-1"
REQUESTED_AT = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def stored(event: Event, version: int, recorded_at: dt.datetime) -> StoredEvent:
    """The event as the store returns it: record, stream, version and metadata."""
    type_name, schema_version, data = event_to_record(event)
    stream = stream_id(event.booking_id)
    return StoredEvent(
        stream_id=stream,
        version=version,
        type=type_name,
        schema_version=schema_version,
        data=data,
        metadata=EventMetadata(
            event_id=f"{stream}/{version}",
            customer_id=CUSTOMER_ID,
            recorded_at=recorded_at,
        ),
    )


@dataclass
class Trip:
    """One booking's events, decided by the domain and stored with rising versions."""

    booking_id: str
    events: list[Event] = field(default_factory=list)
    stored: list[StoredEvent] = field(default_factory=list)

    @property
    def state(self) -> BookingState:
        """The domain's state of the booking, for comparing with the view."""
        return fold(self.events)

    @property
    def view(self) -> View:
        """The booking view after every stored event, folded from nothing."""
        view: View | None = None
        for event in self.stored:
            view = apply_to_view(view, event)
        assert view is not None, "the trip has no events"
        return view

    def handle(self, command: Command) -> StoredEvent:
        """Decide the command on the current state and store the event it records."""
        event = decide(command, self.state, CONTEXT)
        version = len(self.stored) + 1
        self.events.append(event)
        self.stored.append(stored(event, version, REQUESTED_AT + dt.timedelta(minutes=version - 1)))
        return self.stored[-1]

    def confirm_hotel(self, code: str = "ODP-5521") -> StoredEvent:
        """The hotel service reserved the stay."""
        return self.handle(
            ConfirmHotelReservation(booking_id=self.booking_id, confirmation_code=code)
        )

    def reject_hotel(self, reason: str = "fully booked") -> StoredEvent:
        """The hotel service had no room."""
        return self.handle(RejectHotelReservation(booking_id=self.booking_id, reason=reason))

    def confirm_flight(self, flight_id: str, code: str = "PNR-7K2Q") -> StoredEvent:
        """The flight service reserved the seats on one flight."""
        return self.handle(
            ConfirmFlightReservation(
                booking_id=self.booking_id, flight_id=flight_id, confirmation_code=code
            )
        )

    def reject_flight(self, flight_id: str, reason: str = "sold out") -> StoredEvent:
        """The flight service had no seats on one flight."""
        return self.handle(
            RejectFlightReservation(booking_id=self.booking_id, flight_id=flight_id, reason=reason)
        )

    def confirm_all(self) -> StoredEvent:
        """Every partner reserved its item; the last reply is returned."""
        self.confirm_hotel()
        self.confirm_flight(OUTBOUND)
        return self.confirm_flight(RETURN)

    def apply_perk(self, code: str) -> StoredEvent:
        """The customer used a perk."""
        return self.handle(ApplyPerk(booking_id=self.booking_id, perk_code=code))

    def change_dates(self, check_in: dt.date, check_out: dt.date) -> StoredEvent:
        """The customer moved the stay."""
        return self.handle(
            ChangeStayDates(booking_id=self.booking_id, check_in=check_in, check_out=check_out)
        )

    def cancel(self, reason: str | None = None) -> StoredEvent:
        """The customer called the trip off."""
        return self.handle(CancelBooking(booking_id=self.booking_id, reason=reason))


def requested_trip(booking_id: str = BOOKING_ID, **changes: Any) -> Trip:
    """The standard trip (any request field replaced), requested and not yet answered."""
    fields: dict[str, Any] = {
        "booking_id": booking_id,
        "customer_id": CUSTOMER_ID,
        "hotel_stays": (sapporo_stay(),),
        "flights": (outbound_flight(), return_flight()),
        "travelers": (Traveler(name="Aiko Tanaka"), Traveler(name="Ken Tanaka")),
    }
    trip = Trip(booking_id)
    trip.handle(RequestBooking(**(fields | changes)))
    return trip
