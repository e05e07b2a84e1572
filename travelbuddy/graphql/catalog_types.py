"""GraphQL types of the catalog search: hotels and flights with prices and perks."""

from __future__ import annotations

import datetime as dt

import strawberry

from travelbuddy.domain import Flight, Hotel, Perk


@strawberry.type(description="A perk a hotel or fare carries.")
class CatalogPerk:
    code: str
    title: str
    kind: str
    discount_percent: int

    @classmethod
    def of(cls, perk: Perk) -> CatalogPerk:
        return cls(code=perk.code, title=perk.title, kind=perk.kind.value,
                   discount_percent=perk.discount_percent)


@strawberry.type(description="A room type and what the asked-for stay costs in it.")
class RoomOffer:
    code: str
    name: str
    nightly_price: int
    stay_price: int = strawberry.field(description="Nightly price times the nights asked for.")


@strawberry.type(description="A hotel for the asked-for nights.")
class HotelOffer:
    id: str
    name: str
    city: str
    nights: int
    room_types: list[RoomOffer]
    perks: list[CatalogPerk]
    currency: str = "JPY"

    @classmethod
    def of(cls, hotel: Hotel, check_in: dt.date, check_out: dt.date) -> HotelOffer:
        nights = (check_out - check_in).days
        return cls(
            id=hotel.id, name=hotel.name, city=hotel.city, nights=nights,
            room_types=[RoomOffer(code=r.code, name=r.name, nightly_price=r.nightly_price,
                                  stay_price=r.nightly_price * nights) for r in hotel.room_types],
            perks=[CatalogPerk.of(p) for p in hotel.perks],
        )


@strawberry.type(description="A fare of a flight: its cabin, price per seat and perks.")
class FareOffer:
    cabin: str
    price: int
    perks: list[CatalogPerk]


@strawberry.type(description="A flight on the asked-for day.")
class FlightOffer:
    id: str
    flight_number: str
    airline: str
    origin: str
    destination: str
    date: dt.date
    departure_time: str
    arrival_time: str
    fares: list[FareOffer]
    currency: str = "JPY"

    @classmethod
    def of(cls, flight: Flight, date: dt.date) -> FlightOffer:
        return cls(
            id=flight.id, flight_number=flight.flight_number, airline=flight.airline,
            origin=flight.origin, destination=flight.destination, date=date,
            departure_time=flight.departure_time, arrival_time=flight.arrival_time,
            fares=[FareOffer(cabin=f.cabin.value, price=f.price,
                             perks=[CatalogPerk.of(p) for p in f.perks]) for f in flight.fares],
        )
