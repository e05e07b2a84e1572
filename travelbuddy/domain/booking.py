"""The Booking decider: `decide(command, state, context) -> event`, `evolve`, `fold`.

A booking is a stream of events named `booking-<booking id>`. Every command is
decided against the state folded from that stream and yields exactly one event, or
raises a `DomainError` saying which rule it broke.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import assert_never

from travelbuddy.domain import errors
from travelbuddy.domain.booking_request import decide_request, stay_date_problems
from travelbuddy.domain.booking_state import (
    BookedFlight,
    BookedStay,
    BookingState,
    BookingStatus,
    ItemStatus,
    evolve,
    fold,
    initial_state,
)
from travelbuddy.domain.catalog import CatalogView
from travelbuddy.domain.commands import (
    ApplyPerk,
    CancelBooking,
    ChangeStayDates,
    Command,
    ConfirmFlightReservation,
    ConfirmHotelReservation,
    RejectFlightReservation,
    RejectHotelReservation,
    RequestBooking,
)
from travelbuddy.domain.errors import (
    BookingAlreadyExists,
    BookingNotFound,
    InvalidTransition,
    Problem,
    ValidationFailed,
)
from travelbuddy.domain.events import (
    HOTEL_ITEM,
    BookingCancelled,
    Event,
    FlightReservationRejected,
    FlightReserved,
    HotelReservationRejected,
    HotelReserved,
    PerkApplied,
    StayDatesChanged,
)
from travelbuddy.domain.pricing import perk_discount, price_breakdown, stay_price

__all__ = [
    "BookedFlight",
    "BookedStay",
    "BookingState",
    "BookingStatus",
    "DecisionContext",
    "ItemStatus",
    "decide",
    "evolve",
    "fold",
    "initial_state",
    "stream_id",
]


@dataclass(frozen=True)
class DecisionContext:
    """What a decision may consult besides the booking's own events."""

    catalog: CatalogView
    today: dt.date


def stream_id(booking_id: str) -> str:
    """The id of the event stream holding this booking."""
    return f"booking-{booking_id}"


def decide(command: Command, state: BookingState, context: DecisionContext) -> Event:
    """The one event that carrying out `command` on a booking in `state` records.

    Raises `BookingAlreadyExists`, `BookingNotFound`, `ValidationFailed` or
    `InvalidTransition` when a rule forbids it; nothing is recorded then.
    """
    if isinstance(command, RequestBooking):
        if state.exists:
            raise BookingAlreadyExists(command.booking_id)
        return decide_request(command, context.catalog, context.today)
    if not state.exists:
        raise BookingNotFound(command.booking_id)
    match command:
        case ConfirmHotelReservation():
            _pending_stay(state)
            return HotelReserved(
                booking_id=command.booking_id, confirmation_code=command.confirmation_code
            )
        case RejectHotelReservation():
            _pending_stay(state)
            return HotelReservationRejected(booking_id=command.booking_id, reason=command.reason)
        case ConfirmFlightReservation():
            _pending_flight(state, command.flight_id)
            return FlightReserved(
                booking_id=command.booking_id,
                flight_id=command.flight_id,
                confirmation_code=command.confirmation_code,
            )
        case RejectFlightReservation():
            _pending_flight(state, command.flight_id)
            return FlightReservationRejected(
                booking_id=command.booking_id, flight_id=command.flight_id, reason=command.reason
            )
        case ApplyPerk():
            return _apply_perk(command, state, context)
        case ChangeStayDates():
            return _change_stay_dates(command, state, context)
        case CancelBooking():
            return _cancel(command, state, context)
        case _:
            assert_never(command)


def _pending_stay(state: BookingState) -> BookedStay:
    stay = state.hotel_stay
    if stay is None:
        raise InvalidTransition(errors.NO_HOTEL_STAY, "This booking has no hotel stay.")
    _require_pending(state, stay.status, "The hotel stay")
    return stay


def _pending_flight(state: BookingState, flight_id: str) -> BookedFlight:
    flight = state.flight(flight_id)
    if flight is None:
        raise InvalidTransition(
            errors.FLIGHT_NOT_IN_BOOKING, f"Flight {flight_id!r} is not part of this booking."
        )
    _require_pending(state, flight.status, f"Flight {flight.flight.flight_number}")
    return flight


def _require_pending(state: BookingState, status: ItemStatus, item: str) -> None:
    # Once the booking is cancelled or rejected no item waits for a reply any more:
    # a late reply is answered as "not pending" so the partner can release the item.
    if state.status in (BookingStatus.CANCELLED, BookingStatus.REJECTED):
        raise InvalidTransition(
            errors.ITEM_NOT_PENDING,
            f"{item} no longer awaits a reply: the booking is {state.status.lower()}.",
        )
    if status is not ItemStatus.PENDING:
        raise InvalidTransition(errors.ITEM_NOT_PENDING, f"{item} is already {status.lower()}.")


def _require_open(state: BookingState) -> None:
    if state.status is BookingStatus.CANCELLED:
        raise InvalidTransition(errors.BOOKING_CANCELLED, "The booking is cancelled.")
    if state.status is BookingStatus.REJECTED:
        raise InvalidTransition(errors.BOOKING_REJECTED, "The booking was rejected.")


def _apply_perk(command: ApplyPerk, state: BookingState, context: DecisionContext) -> PerkApplied:
    _require_open(state)
    perk = state.offered_perk(command.perk_code)
    if perk is None:
        # The booking's own offer decides; the catalog only tells the two refusals apart.
        if context.catalog.perk(command.perk_code) is None:
            raise ValidationFailed(
                (
                    Problem(
                        code=errors.UNKNOWN_PERK,
                        message=f"There is no perk {command.perk_code!r}.",
                        field="perk_code",
                    ),
                )
            )
        raise InvalidTransition(
            errors.PERK_NOT_OFFERED,
            f"Perk {command.perk_code!r} belongs to no hotel or fare in this booking.",
        )
    if perk.code in state.applied_perk_codes:
        raise InvalidTransition(
            errors.PERK_ALREADY_APPLIED, f"Perk {perk.title!r} is already applied."
        )
    prices = state.item_prices
    return PerkApplied(
        booking_id=command.booking_id,
        perk_code=perk.code,
        title=perk.title,
        discount=perk_discount(prices.get(perk.item, 0), perk),
        price=price_breakdown(prices, (*state.applied_perks, perk)),
    )


def _change_stay_dates(
    command: ChangeStayDates, state: BookingState, context: DecisionContext
) -> StayDatesChanged:
    _require_open(state)
    if state.hotel_stay is None:
        raise InvalidTransition(errors.NO_HOTEL_STAY, "This booking has no hotel stay.")
    stay = state.hotel_stay.stay
    if context.today >= stay.check_in:
        raise InvalidTransition(
            errors.CHECK_IN_PASSED,
            f"The stay began on {stay.check_in}; its dates can no longer change.",
        )
    problems = stay_date_problems(command.check_in, command.check_out, context.today)
    if problems:
        raise ValidationFailed(tuple(problems))
    hotel_price = stay_price(stay.nightly_price, command.check_in, command.check_out)
    prices = {**state.item_prices, HOTEL_ITEM: hotel_price}
    return StayDatesChanged(
        booking_id=command.booking_id,
        check_in=command.check_in,
        check_out=command.check_out,
        hotel_price=hotel_price,
        price=price_breakdown(prices, state.applied_perks),
    )


def _cancel(
    command: CancelBooking, state: BookingState, context: DecisionContext
) -> BookingCancelled:
    if state.cancelled:
        raise InvalidTransition(errors.ALREADY_CANCELLED, "The booking is already cancelled.")
    trip_start = state.trip_start
    if trip_start is not None and context.today >= trip_start:
        raise InvalidTransition(
            errors.CHECK_IN_PASSED,
            f"The trip began on {trip_start}; it can no longer be cancelled.",
        )
    return BookingCancelled(booking_id=command.booking_id, reason=command.reason)
