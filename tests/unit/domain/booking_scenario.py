"""Given events / when command / then event or error, for the Booking decider.

The standard trip: two travelers fly Tokyo -> Sapporo on 10 December, stay three nights
at the Odori Park Hotel, and fly home in premium on 13 December. Today is 1 December.

    hotel   3 nights x 13,000       = 39,000
    NH61    2 seats x 18,500 (ECO)  = 37,000
    NH62    2 seats x 31,500 (PRE)  = 63,000
    base                            = 139,000
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from travelbuddy.domain import (
    BookingCancelled,
    BookingRequested,
    BookingState,
    Cabin,
    Command,
    DecisionContext,
    DomainError,
    Event,
    FlightRequest,
    FlightReservationRejected,
    FlightReserved,
    HotelReservationRejected,
    HotelReserved,
    HotelStayRequest,
    RequestBooking,
    Traveler,
    ValidationFailed,
    decide,
    fold,
    initial_state,
    sample_catalog,
)

TODAY = date(2026, 12, 1)
CATALOG = sample_catalog()
BOOKING_ID = "3f2c1d7e-8a4b-4c5d-9e6f-0a1b2c3d4e5f"
CUSTOMER_ID = "customer-aiko"
OUTBOUND = "NH-061-HND-CTS"
RETURN = "NH-062-CTS-HND"
CHECK_IN = date(2026, 12, 10)
CHECK_OUT = date(2026, 12, 13)


def sapporo_stay(**changes: Any) -> HotelStayRequest:
    """Three nights in a standard twin at the Odori Park Hotel, for two guests."""
    fields: dict[str, Any] = {
        "hotel_id": "hotel-sapporo-1",
        "room_type": "STD",
        "check_in": CHECK_IN,
        "check_out": CHECK_OUT,
        "guests": 2,
    }
    return HotelStayRequest(**(fields | changes))


def outbound_flight(**changes: Any) -> FlightRequest:
    """NH61 Haneda -> New Chitose on check-in day, two economy seats."""
    fields: dict[str, Any] = {
        "flight_id": OUTBOUND,
        "date": CHECK_IN,
        "seats": 2,
        "cabin": Cabin.ECONOMY,
    }
    return FlightRequest(**(fields | changes))


def return_flight(**changes: Any) -> FlightRequest:
    """NH62 New Chitose -> Haneda on check-out day, two premium seats."""
    fields: dict[str, Any] = {
        "flight_id": RETURN,
        "date": CHECK_OUT,
        "seats": 2,
        "cabin": Cabin.PREMIUM,
    }
    return FlightRequest(**(fields | changes))


def request_booking(**changes: Any) -> RequestBooking:
    """The standard trip, with any field replaced."""
    fields: dict[str, Any] = {
        "booking_id": BOOKING_ID,
        "customer_id": CUSTOMER_ID,
        "hotel_stays": (sapporo_stay(),),
        "flights": (outbound_flight(), return_flight()),
        "travelers": (Traveler(name="Aiko Tanaka"), Traveler(name="Ken Tanaka")),
    }
    return RequestBooking(**(fields | changes))


def context(today: date = TODAY) -> DecisionContext:
    """The sample catalog, seen on `today`."""
    return DecisionContext(catalog=CATALOG, today=today)


def booking_requested(command: RequestBooking | None = None) -> BookingRequested:
    """The fact recorded for a request (the standard trip unless given)."""
    event = decide(command or request_booking(), initial_state(), context())
    assert isinstance(event, BookingRequested)
    return event


def hotel_reserved() -> HotelReserved:
    """The hotel service reserved the stay."""
    return HotelReserved(booking_id=BOOKING_ID, confirmation_code="ODP-5521")


def hotel_rejected() -> HotelReservationRejected:
    """The hotel service had no room."""
    return HotelReservationRejected(booking_id=BOOKING_ID, reason="fully booked")


def flight_reserved(flight_id: str) -> FlightReserved:
    """The flight service reserved the seats on one flight."""
    return FlightReserved(booking_id=BOOKING_ID, flight_id=flight_id, confirmation_code="PNR-7K2Q")


def flight_rejected(flight_id: str) -> FlightReservationRejected:
    """The flight service had no seats on one flight."""
    return FlightReservationRejected(booking_id=BOOKING_ID, flight_id=flight_id, reason="sold out")


def cancelled() -> BookingCancelled:
    """The customer called the trip off."""
    return BookingCancelled(booking_id=BOOKING_ID, reason="change of plans")


def all_reserved() -> tuple[Event, ...]:
    """The standard trip, requested and reserved by every partner."""
    return (
        booking_requested(),
        hotel_reserved(),
        flight_reserved(OUTBOUND),
        flight_reserved(RETURN),
    )


@dataclass(frozen=True)
class Scenario:
    """A booking's history, on a given day, ready for a command."""

    history: tuple[Event, ...]
    today: date = TODAY

    @property
    def state(self) -> BookingState:
        """The booking folded from its history."""
        return fold(self.history)

    def when(self, command: Command) -> Event:
        """The event the command records (fails the test if it is refused)."""
        return decide(command, self.state, context(self.today))

    def refuses(self, command: Command) -> DomainError:
        """The error the command is refused with (fails the test if it is accepted)."""
        with pytest.raises(DomainError) as refusal:
            decide(command, self.state, context(self.today))
        return refusal.value

    def on(self, today: date) -> Scenario:
        """The same history, seen on another day."""
        return Scenario(self.history, today)


def given(*history: Event) -> Scenario:
    """A booking whose stream holds these events (none: a booking never requested)."""
    return Scenario(tuple(history))


def problems_of(error: DomainError) -> dict[str | None, str]:
    """Field path -> problem code, for a ValidationFailed."""
    assert isinstance(error, ValidationFailed), error
    found = {problem.field: problem.code for problem in error.problems}
    assert len(found) == len(error.problems), "two problems on one field"
    return found
