"""Events: the facts of a booking, in the past tense, one model per fact.

An event records everything that replaying it needs (names, prices, perks as they
were in the catalog at the time), so folding a stream never consults the catalog.
Each event class has a `schema_version`; when its shape changes, the version goes up
and an upcaster in `serialization` turns older stored records into the new shape.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, TypeAlias

from pydantic import BaseModel, ConfigDict

from travelbuddy.domain.catalog import Cabin, PerkKind
from travelbuddy.domain.travelers import Traveler

# The `item` of a perk offered by the hotel stay; a fare's perks name their flight id.
HOTEL_ITEM = "hotel"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HotelStay(_Frozen):
    """The booked stay, with the hotel's names and prices as the catalog had them."""

    hotel_id: str
    hotel_name: str
    city: str
    room_type: str
    room_name: str
    check_in: dt.date
    check_out: dt.date
    guests: int
    nightly_price: int
    price: int

    @property
    def nights(self) -> int:
        """How many nights the stay lasts."""
        return (self.check_out - self.check_in).days


class FlightItem(_Frozen):
    """A booked flight on a given day, priced per seat and in total."""

    flight_id: str
    flight_number: str
    airline: str
    origin: str
    destination: str
    date: dt.date
    departure_time: str
    arrival_time: str
    seats: int
    cabin: Cabin
    unit_price: int
    price: int


class OfferedPerk(_Frozen):
    """A perk this booking may use, and the item ("hotel" or a flight id) offering it."""

    code: str
    title: str
    kind: PerkKind
    discount_percent: int
    item: str


class PerkDiscount(_Frozen):
    """The amount an applied perk takes off the price."""

    code: str
    title: str
    amount: int


class PriceBreakdown(_Frozen):
    """Base price of all items, each perk's discount, and what the customer pays."""

    base: int
    discounts: tuple[PerkDiscount, ...] = ()
    total: int
    currency: str = "JPY"


class BookingEvent(_Frozen):
    """What every booking event has: the booking it belongs to and its schema version."""

    schema_version: ClassVar[int] = 1

    booking_id: str


class BookingRequested(BookingEvent):
    """A customer requested a trip; its items now wait for the partners' replies."""

    customer_id: str
    hotel_stay: HotelStay | None
    flights: tuple[FlightItem, ...]
    travelers: tuple[Traveler, ...]
    offered_perks: tuple[OfferedPerk, ...]
    price: PriceBreakdown


class HotelReserved(BookingEvent):
    """The hotel service reserved the stay."""

    confirmation_code: str


class HotelReservationRejected(BookingEvent):
    """The hotel service could not reserve the stay."""

    reason: str


class FlightReserved(BookingEvent):
    """The flight service reserved the seats on one flight."""

    flight_id: str
    confirmation_code: str


class FlightReservationRejected(BookingEvent):
    """The flight service could not reserve the seats on one flight."""

    flight_id: str
    reason: str


class PerkApplied(BookingEvent):
    """The customer used a perk; `price` is the breakdown after its discount."""

    perk_code: str
    title: str
    discount: int
    price: PriceBreakdown


class StayDatesChanged(BookingEvent):
    """The stay moved to other nights and waits for the hotel again.

    `hotel_price` is the stay's new price; `price` the whole new breakdown, with the
    percentage discounts of applied hotel perks recomputed on the new stay price.
    """

    check_in: dt.date
    check_out: dt.date
    hotel_price: int
    price: PriceBreakdown


class BookingCancelled(BookingEvent):
    """The trip was called off."""

    reason: str | None


Event: TypeAlias = (
    BookingRequested
    | HotelReserved
    | HotelReservationRejected
    | FlightReserved
    | FlightReservationRejected
    | PerkApplied
    | StayDatesChanged
    | BookingCancelled
)
