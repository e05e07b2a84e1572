"""The partners' catalog as the booking sees it: hotels, flights, their prices and perks.

The catalog is reference data. A booking reads it once, when it is requested, and
records what it found in the `BookingRequested` event; nothing after that consults it
except `ApplyPerk`, to tell an unknown perk code from one this booking is not offered.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from travelbuddy.domain.text import Text

# Departure and arrival are local clock times; flights fly daily, so no date here.
_CLOCK_TIME = r"^([01]\d|2[0-3]):[0-5]\d$"


class PerkKind(StrEnum):
    """What a perk gives the traveler (特典)."""

    BREAKFAST = "BREAKFAST"
    LOUNGE = "LOUNGE"
    UPGRADE = "UPGRADE"
    DISCOUNT = "DISCOUNT"
    LATE_CHECKOUT = "LATE_CHECKOUT"
    BAGGAGE = "BAGGAGE"
    MILES = "MILES"


class Cabin(StrEnum):
    """The cabin class of a flight fare."""

    ECONOMY = "ECONOMY"
    PREMIUM = "PREMIUM"
    FIRST = "FIRST"


class _CatalogEntry(BaseModel):
    # Entries come from the partners (Kafka): their text is checked like a customer's.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Perk(_CatalogEntry):
    """A perk a hotel or a fare carries.

    Codes are unique across the whole catalog. A `discount_percent` above zero takes
    that share off the price of the item offering the perk (the hotel stay, or the
    flight with all its seats).
    """

    code: Text = Field(min_length=1)
    title: Text
    kind: PerkKind
    discount_percent: int = Field(default=0, ge=0, le=100)


class RoomType(_CatalogEntry):
    """A kind of room a hotel sells, priced per room and night in JPY."""

    code: Text = Field(min_length=1)
    name: Text
    nightly_price: int = Field(ge=0)


class Hotel(_CatalogEntry):
    """A hotel with its room types and the perks every stay there is offered."""

    id: Text = Field(min_length=1)
    name: Text
    city: Text
    room_types: tuple[RoomType, ...]
    perks: tuple[Perk, ...] = ()

    def room_type(self, code: str) -> RoomType | None:
        """The room type with this code, or None if the hotel does not sell it."""
        return next((room for room in self.room_types if room.code == code), None)


class Fare(_CatalogEntry):
    """The price of one seat in a cabin, with the perks that fare carries."""

    cabin: Cabin
    price: int = Field(ge=0)
    perks: tuple[Perk, ...] = ()


class Flight(_CatalogEntry):
    """A scheduled domestic flight. It flies every day at the same times."""

    id: Text = Field(min_length=1)
    flight_number: Text
    airline: Text
    origin: Text
    destination: Text
    departure_time: str = Field(pattern=_CLOCK_TIME)
    arrival_time: str = Field(pattern=_CLOCK_TIME)
    fares: tuple[Fare, ...]

    def fare(self, cabin: Cabin) -> Fare | None:
        """The fare for this cabin, or None if the flight has no such cabin."""
        return next((fare for fare in self.fares if fare.cabin == cabin), None)


class CatalogView(Protocol):
    """What deciding a booking needs to know about the catalog."""

    def hotel(self, hotel_id: str) -> Hotel | None:
        """The hotel with this id, or None."""
        ...

    def flight(self, flight_id: str) -> Flight | None:
        """The flight with this id, or None."""
        ...

    def perk(self, code: str) -> Perk | None:
        """The perk with this code, offered by any hotel or fare, or None."""
        ...


class InMemoryCatalog:
    """A catalog held in memory, indexed by hotel id, flight id and perk code."""

    def __init__(self, hotels: Iterable[Hotel], flights: Iterable[Flight]) -> None:
        """Index the entries; raise ValueError if an id or a perk code appears twice."""
        self._hotels = _index_by_id(hotels, "hotel")
        self._flights = _index_by_id(flights, "flight")
        self._perks: dict[str, Perk] = {}
        for perk in _all_perks(self._hotels.values(), self._flights.values()):
            if perk.code in self._perks:
                raise ValueError(f"perk code {perk.code!r} appears more than once")
            self._perks[perk.code] = perk

    def hotel(self, hotel_id: str) -> Hotel | None:
        """The hotel with this id, or None."""
        return self._hotels.get(hotel_id)

    def flight(self, flight_id: str) -> Flight | None:
        """The flight with this id, or None."""
        return self._flights.get(flight_id)

    def perk(self, code: str) -> Perk | None:
        """The perk with this code, or None."""
        return self._perks.get(code)

    def hotels(self) -> tuple[Hotel, ...]:
        """Every hotel, in the order given."""
        return tuple(self._hotels.values())

    def flights(self) -> tuple[Flight, ...]:
        """Every flight, in the order given."""
        return tuple(self._flights.values())


_Entry = TypeVar("_Entry", Hotel, Flight)


def _index_by_id(entries: Iterable[_Entry], what: str) -> dict[str, _Entry]:
    index: dict[str, _Entry] = {}
    for entry in entries:
        if entry.id in index:
            raise ValueError(f"{what} id {entry.id!r} appears more than once")
        index[entry.id] = entry
    return index


def _all_perks(hotels: Iterable[Hotel], flights: Iterable[Flight]) -> Iterable[Perk]:
    for hotel in hotels:
        yield from hotel.perks
    for flight in flights:
        for fare in flight.fares:
            yield from fare.perks
