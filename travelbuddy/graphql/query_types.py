"""GraphQL types of the query schema, built from `booking_views` documents."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry

from travelbuddy.domain import BookingStatus as DomainBookingStatus
from travelbuddy.domain import ItemStatus as DomainItemStatus


@strawberry.enum(description="Where a booking stands.")
class BookingStatus(Enum):
    PENDING = DomainBookingStatus.PENDING.value
    CONFIRMED = DomainBookingStatus.CONFIRMED.value
    REJECTED = DomainBookingStatus.REJECTED.value
    CANCELLED = DomainBookingStatus.CANCELLED.value


@strawberry.enum(description="Where one item's reservation with its partner stands.")
class ReservationStatus(Enum):
    PENDING = DomainItemStatus.PENDING.value
    RESERVED = DomainItemStatus.RESERVED.value
    REJECTED = DomainItemStatus.REJECTED.value


@strawberry.type(description="The booked hotel stay and the hotel's answer.")
class HotelStay:
    hotel_id: str
    hotel_name: str
    city: str
    room_type: str
    room_name: str
    check_in: dt.date
    check_out: dt.date
    nights: int
    guests: int
    nightly_price: int
    price: int
    status: ReservationStatus
    confirmation_code: str | None
    rejection_reason: str | None

    @classmethod
    def from_view(cls, stay: dict[str, Any]) -> HotelStay:
        return cls(
            hotel_id=stay["hotel_id"], hotel_name=stay["hotel_name"], city=stay["city"],
            room_type=stay["room_type"], room_name=stay["room_name"],
            check_in=dt.date.fromisoformat(stay["check_in"]),
            check_out=dt.date.fromisoformat(stay["check_out"]),
            nights=stay["nights"], guests=stay["guests"], nightly_price=stay["nightly_price"],
            price=stay["price"], status=ReservationStatus(stay["status"]),
            confirmation_code=stay.get("confirmation_code"),
            rejection_reason=stay.get("rejection_reason"),
        )


@strawberry.type(description="A booked flight and the airline's answer.")
class Flight:
    flight_id: str
    flight_number: str
    airline: str
    origin: str
    destination: str
    date: dt.date
    departure_time: str
    arrival_time: str
    seats: int
    cabin: str
    unit_price: int
    price: int
    status: ReservationStatus
    confirmation_code: str | None
    rejection_reason: str | None

    @classmethod
    def from_view(cls, flight: dict[str, Any]) -> Flight:
        fields = {k: flight[k] for k in (
            "flight_id", "flight_number", "airline", "origin", "destination",
            "departure_time", "arrival_time", "seats", "cabin", "unit_price", "price")}
        return cls(
            **fields, date=dt.date.fromisoformat(flight["date"]),
            status=ReservationStatus(flight["status"]),
            confirmation_code=flight.get("confirmation_code"),
            rejection_reason=flight.get("rejection_reason"),
        )


@strawberry.type(description="A perk the booked hotel or a booked fare offers.")
class Perk:
    code: str
    title: str
    kind: str
    discount_percent: int
    item: str = strawberry.field(description="'hotel' or the id of the flight offering it.")
    applied: bool


@strawberry.type(description="What an applied perk takes off.")
class Discount:
    code: str
    title: str
    amount: int


@strawberry.type(description="Base price, each perk's discount, and the total.")
class PriceBreakdown:
    base: int
    discounts: list[Discount]
    total: int
    currency: str


@strawberry.type(description="One line of the booking's history.")
class HistoryEntry:
    version: int
    at: dt.datetime
    type: str
    description: str


@strawberry.type(description="Someone who travels.")
class Traveler:
    name: str


@strawberry.type(description="A booking as its page shows it.")
class Booking:
    """Top-level fields are read from the view at once; the lists and the stay are built
    only when a query asks for them (a page of 20 bookings seldom needs their history)."""

    id: strawberry.ID
    status: BookingStatus
    version: int = strawberry.field(description="Version of the last event applied.")
    behind: bool = strawberry.field(
        description="True when `minVersion` was asked for and this view had not reached "
        "it in time: the newest view there is, not yet your write."
    )
    check_in: dt.date | None
    cancellation_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    view: strawberry.Private[dict[str, Any]]

    @classmethod
    def from_view(cls, view: dict[str, Any], behind: bool = False) -> Booking:
        return cls(
            id=strawberry.ID(view["_id"]),
            status=BookingStatus(view["status"]),
            version=view["version"],
            behind=behind,
            check_in=dt.date.fromisoformat(view["check_in"]) if view.get("check_in") else None,
            cancellation_reason=view.get("cancellation_reason"),
            created_at=view["created_at"],
            updated_at=view["updated_at"],
            view=view,
        )

    @strawberry.field
    def hotel_stay(self) -> HotelStay | None:
        stay = self.view.get("hotel_stay")
        return HotelStay.from_view(stay) if stay else None

    @strawberry.field
    def flights(self) -> list[Flight]:
        return [Flight.from_view(f) for f in self.view.get("flights", [])]

    @strawberry.field
    def travelers(self) -> list[Traveler]:
        return [Traveler(name=t["name"]) for t in self.view.get("travelers", [])]

    @strawberry.field
    def perks(self) -> list[Perk]:
        applied = set(self.view.get("applied_perks", []))
        return [
            Perk(code=p["code"], title=p["title"], kind=p["kind"],
                 discount_percent=p["discount_percent"], item=p["item"],
                 applied=p["code"] in applied)
            for p in self.view.get("offered_perks", [])
        ]

    @strawberry.field
    def price(self) -> PriceBreakdown:
        price = self.view["price"]
        return PriceBreakdown(
            base=price["base"], total=price["total"], currency=price["currency"],
            discounts=[Discount(**d) for d in price.get("discounts", [])],
        )

    @strawberry.field
    def history(self) -> list[HistoryEntry]:
        return [HistoryEntry(**h) for h in self.view.get("history", [])]


@strawberry.type
class BookingEdge:
    cursor: str
    node: Booking


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of bookings, ordered by check-in.")
class BookingConnection:
    edges: list[BookingEdge]
    page_info: PageInfo


@strawberry.type(description="Rooms booked at a hotel on one night.")
class NightOccupancy:
    night: dt.date
    rooms: int
