"""The state of one booking, rebuilt by folding its events.

`evolve` is the one place where a fact changes the booking. It is pure and total: it
never consults the catalog and never refuses an event, because events are what
already happened; `decide` is where rules are enforced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import assert_never

from travelbuddy.domain.events import (
    HOTEL_ITEM,
    BookingCancelled,
    BookingRequested,
    Event,
    FlightItem,
    FlightReservationRejected,
    FlightReserved,
    HotelReservationRejected,
    HotelReserved,
    HotelStay,
    OfferedPerk,
    PerkApplied,
    PriceBreakdown,
    StayDatesChanged,
)
from travelbuddy.domain.travelers import Traveler


class ItemStatus(StrEnum):
    """Where the reservation of one item (the stay, or one flight) stands."""

    PENDING = "PENDING"
    RESERVED = "RESERVED"
    REJECTED = "REJECTED"


class BookingStatus(StrEnum):
    """Where the booking as a whole stands; derived from its items."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class BookedStay:
    """The hotel stay of a booking and its reservation."""

    stay: HotelStay
    status: ItemStatus = ItemStatus.PENDING
    confirmation_code: str | None = None
    rejection_reason: str | None = None


@dataclass(frozen=True)
class BookedFlight:
    """One flight of a booking and its reservation."""

    flight: FlightItem
    status: ItemStatus = ItemStatus.PENDING
    confirmation_code: str | None = None
    rejection_reason: str | None = None

    @property
    def flight_id(self) -> str:
        """The catalog id of the flight."""
        return self.flight.flight_id


@dataclass(frozen=True)
class BookingState:
    """Everything `decide` needs to know about one booking."""

    exists: bool = False
    version: int = 0
    booking_id: str | None = None
    customer_id: str | None = None
    hotel_stay: BookedStay | None = None
    flights: tuple[BookedFlight, ...] = ()
    travelers: tuple[Traveler, ...] = ()
    offered_perks: tuple[OfferedPerk, ...] = ()
    applied_perk_codes: tuple[str, ...] = ()
    price: PriceBreakdown | None = None
    cancelled: bool = False
    cancellation_reason: str | None = None

    @property
    def item_statuses(self) -> tuple[ItemStatus, ...]:
        """The reservation status of the stay (if any) and of every flight."""
        stay = (self.hotel_stay.status,) if self.hotel_stay is not None else ()
        return stay + tuple(flight.status for flight in self.flights)

    @property
    def status(self) -> BookingStatus:
        """CANCELLED, else REJECTED if any item was, else CONFIRMED once all are reserved."""
        statuses = self.item_statuses
        if self.cancelled:
            return BookingStatus.CANCELLED
        if ItemStatus.REJECTED in statuses:
            return BookingStatus.REJECTED
        if statuses and all(status is ItemStatus.RESERVED for status in statuses):
            return BookingStatus.CONFIRMED
        return BookingStatus.PENDING

    @property
    def trip_start(self) -> dt.date | None:
        """The first day of the trip: the earliest of check-in and the flights' dates."""
        days = [flight.flight.date for flight in self.flights]
        if self.hotel_stay is not None:
            days.append(self.hotel_stay.stay.check_in)
        return min(days, default=None)

    @property
    def item_prices(self) -> dict[str, int]:
        """The undiscounted price of each item, keyed "hotel" or by flight id."""
        prices = {flight.flight_id: flight.flight.price for flight in self.flights}
        if self.hotel_stay is not None:
            prices[HOTEL_ITEM] = self.hotel_stay.stay.price
        return prices

    @property
    def applied_perks(self) -> tuple[OfferedPerk, ...]:
        """The offered perks already applied, in the order they were applied."""
        offered = {perk.code: perk for perk in self.offered_perks}
        return tuple(offered[code] for code in self.applied_perk_codes if code in offered)

    def flight(self, flight_id: str) -> BookedFlight | None:
        """The booked flight with this id, or None."""
        return next((f for f in self.flights if f.flight_id == flight_id), None)

    def offered_perk(self, code: str) -> OfferedPerk | None:
        """The perk with this code if this booking is offered it, or None."""
        return next((perk for perk in self.offered_perks if perk.code == code), None)


def initial_state() -> BookingState:
    """The state of a booking stream with no events: the booking does not exist."""
    return BookingState()


def evolve(state: BookingState, event: Event) -> BookingState:
    """The state after one more event; the version counts the events applied."""
    return replace(_apply(state, event), version=state.version + 1)


def fold(events: Iterable[Event]) -> BookingState:
    """The state after all these events, starting from the initial state."""
    state = initial_state()
    for event in events:
        state = evolve(state, event)
    return state


def _apply(state: BookingState, event: Event) -> BookingState:
    match event:
        case BookingRequested():
            return BookingState(
                exists=True,
                booking_id=event.booking_id,
                customer_id=event.customer_id,
                hotel_stay=BookedStay(event.hotel_stay) if event.hotel_stay else None,
                flights=tuple(BookedFlight(flight) for flight in event.flights),
                travelers=event.travelers,
                offered_perks=event.offered_perks,
                price=event.price,
            )
        case HotelReserved():
            return _with_stay(state, ItemStatus.RESERVED, code=event.confirmation_code)
        case HotelReservationRejected():
            return _with_stay(state, ItemStatus.REJECTED, reason=event.reason)
        case FlightReserved():
            return _with_flight(
                state, event.flight_id, ItemStatus.RESERVED, code=event.confirmation_code
            )
        case FlightReservationRejected():
            return _with_flight(state, event.flight_id, ItemStatus.REJECTED, reason=event.reason)
        case PerkApplied():
            return replace(
                state,
                applied_perk_codes=(*state.applied_perk_codes, event.perk_code),
                price=event.price,
            )
        case StayDatesChanged():
            return _with_new_dates(state, event)
        case BookingCancelled():
            return replace(state, cancelled=True, cancellation_reason=event.reason)
        case _:
            assert_never(event)


def _with_stay(
    state: BookingState, status: ItemStatus, code: str | None = None, reason: str | None = None
) -> BookingState:
    if state.hotel_stay is None:
        return state
    stay = replace(state.hotel_stay, status=status, confirmation_code=code, rejection_reason=reason)
    return replace(state, hotel_stay=stay)


def _with_flight(
    state: BookingState,
    flight_id: str,
    status: ItemStatus,
    code: str | None = None,
    reason: str | None = None,
) -> BookingState:
    flights = tuple(
        replace(flight, status=status, confirmation_code=code, rejection_reason=reason)
        if flight.flight_id == flight_id
        else flight
        for flight in state.flights
    )
    return replace(state, flights=flights)


def _with_new_dates(state: BookingState, event: StayDatesChanged) -> BookingState:
    if state.hotel_stay is None:
        return replace(state, price=event.price)
    moved = state.hotel_stay.stay.model_copy(
        update={
            "check_in": event.check_in,
            "check_out": event.check_out,
            "price": event.hotel_price,
        }
    )
    # The old reservation was for other nights: the hotel has to reserve the stay again.
    return replace(state, hotel_stay=BookedStay(moved), price=event.price)
