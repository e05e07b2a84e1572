"""Commands: what a customer or a partner service asks the booking to do.

Commands only carry input. The business rules about that input (date order, ranges,
catalog look-ups) are checked when the booking decides, so that every broken rule is
answered with its own code instead of a schema error.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeAlias

from pydantic import BaseModel, ConfigDict

from travelbuddy.domain.catalog import Cabin
from travelbuddy.domain.travelers import Traveler

__all__ = [
    "ApplyPerk",
    "CancelBooking",
    "ChangeStayDates",
    "Command",
    "ConfirmFlightReservation",
    "ConfirmHotelReservation",
    "FlightRequest",
    "HotelStayRequest",
    "RejectFlightReservation",
    "RejectHotelReservation",
    "RequestBooking",
    "Traveler",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HotelStayRequest(_Frozen):
    """A stay the customer wants: which hotel and room, which nights, how many guests."""

    hotel_id: str
    room_type: str
    check_in: dt.date
    check_out: dt.date
    guests: int


class FlightRequest(_Frozen):
    """A flight the customer wants: which flight, on which day, how many seats in which cabin."""

    flight_id: str
    date: dt.date
    seats: int
    cabin: Cabin


class RequestBooking(_Frozen):
    """Book a trip: at most one hotel stay and up to four flights, for named travelers."""

    booking_id: str
    customer_id: str
    # A tuple, not an optional single stay, so "at most one stay" is a rule with its
    # own error code rather than a shape the client cannot express.
    hotel_stays: tuple[HotelStayRequest, ...] = ()
    flights: tuple[FlightRequest, ...] = ()
    travelers: tuple[Traveler, ...]


class ConfirmHotelReservation(_Frozen):
    """The hotel service reserved the stay."""

    booking_id: str
    confirmation_code: str


class RejectHotelReservation(_Frozen):
    """The hotel service could not reserve the stay."""

    booking_id: str
    reason: str


class ConfirmFlightReservation(_Frozen):
    """The flight service reserved the seats on one flight of the booking."""

    booking_id: str
    flight_id: str
    confirmation_code: str


class RejectFlightReservation(_Frozen):
    """The flight service could not reserve the seats on one flight of the booking."""

    booking_id: str
    flight_id: str
    reason: str


class ApplyPerk(_Frozen):
    """Use one of the perks the booked hotel or fares offer."""

    booking_id: str
    perk_code: str


class ChangeStayDates(_Frozen):
    """Move the hotel stay to other nights; the hotel has to reserve it again."""

    booking_id: str
    check_in: dt.date
    check_out: dt.date


class CancelBooking(_Frozen):
    """Call the whole trip off before it starts."""

    booking_id: str
    reason: str | None = None


Command: TypeAlias = (
    RequestBooking
    | ConfirmHotelReservation
    | RejectHotelReservation
    | ConfirmFlightReservation
    | RejectFlightReservation
    | ApplyPerk
    | ChangeStayDates
    | CancelBooking
)
