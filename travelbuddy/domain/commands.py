"""Commands: what a customer or a partner service asks the booking to do.

Commands only carry input. The business rules about that input (date order, ranges,
catalog look-ups) are checked when the booking decides, so that every broken rule is
answered with its own code instead of a schema error. Only what no rule could ever accept
is refused when a command is built: text that is not valid Unicode or holds control
characters (`Text`), which nothing may store.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeAlias

from pydantic import BaseModel, ConfigDict, field_validator

from travelbuddy.domain.catalog import Cabin
from travelbuddy.domain.text import Text, text_fault
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

    hotel_id: Text
    room_type: Text
    check_in: dt.date
    check_out: dt.date
    guests: int


class FlightRequest(_Frozen):
    """A flight the customer wants: which flight, on which day, how many seats in which cabin."""

    flight_id: Text
    date: dt.date
    seats: int
    cabin: Cabin


class RequestBooking(_Frozen):
    """Book a trip: at most one hotel stay and up to four flights, for named travelers."""

    booking_id: Text
    customer_id: Text
    # A tuple, not an optional single stay, so "at most one stay" is a rule with its
    # own error code rather than a shape the client cannot express.
    hotel_stays: tuple[HotelStayRequest, ...] = ()
    flights: tuple[FlightRequest, ...] = ()
    travelers: tuple[Traveler, ...]

    @field_validator("travelers")
    @classmethod
    def _names_are_text(cls, travelers: tuple[Traveler, ...]) -> tuple[Traveler, ...]:
        # Here, not on Traveler: events share that model, and an event stored before
        # this check must still be read back.
        for traveler in travelers:
            if (fault := text_fault(traveler.name)) is not None:
                raise ValueError(f"a traveler's name contains {fault}")
        return travelers


class ConfirmHotelReservation(_Frozen):
    """The hotel service reserved the stay."""

    booking_id: Text
    confirmation_code: Text


class RejectHotelReservation(_Frozen):
    """The hotel service could not reserve the stay."""

    booking_id: Text
    reason: Text


class ConfirmFlightReservation(_Frozen):
    """The flight service reserved the seats on one flight of the booking."""

    booking_id: Text
    flight_id: Text
    confirmation_code: Text


class RejectFlightReservation(_Frozen):
    """The flight service could not reserve the seats on one flight of the booking."""

    booking_id: Text
    flight_id: Text
    reason: Text


class ApplyPerk(_Frozen):
    """Use one of the perks the booked hotel or fares offer."""

    booking_id: Text
    perk_code: Text


class ChangeStayDates(_Frozen):
    """Move the hotel stay to other nights; the hotel has to reserve it again."""

    booking_id: Text
    check_in: dt.date
    check_out: dt.date


class CancelBooking(_Frozen):
    """Call the whole trip off before it starts."""

    booking_id: Text
    reason: Text | None = None


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
