"""`hotels` and `flights` on MongoDB: one document per catalog entry, `_id` = its id.

A document is the entry's `model_dump(mode="json")` plus the keys it is looked up by
without regard to case (`city_key` lower-cased; `origin_key`, `destination_key`
upper-cased IATA codes); those are stripped again when an entry is read back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, IndexModel, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection

from travelbuddy.domain import CatalogView, Flight, Hotel, InMemoryCatalog
from travelbuddy.eventstore.mongo import outages_as_unavailable

HOTELS = "hotels"
FLIGHTS = "flights"
_LOOKUP_KEYS = frozenset({"_id", "city_key", "origin_key", "destination_key"})


@outages_as_unavailable
class MongoCatalogStore:
    """The CatalogStore port on `hotels` and `flights`."""

    def __init__(
        self, hotels: AsyncCollection[dict[str, Any]], flights: AsyncCollection[dict[str, Any]]
    ) -> None:
        self._hotels = hotels
        self._flights = flights

    async def setup(self) -> None:
        """Indexes for a city's hotels and for the flights of a route."""
        await self._hotels.create_indexes([IndexModel([("city_key", ASCENDING)], name="city")])
        await self._flights.create_indexes([
            IndexModel([("origin_key", ASCENDING), ("destination_key", ASCENDING)],
                       name="route"),
        ])

    async def put(self, entry: Hotel | Flight) -> None:
        """Store an entry; it replaces what its id held."""
        if isinstance(entry, Hotel):
            await self._hotels.replace_one(
                {"_id": entry.id}, _hotel_document(entry), upsert=True)
        else:
            await self._flights.replace_one(
                {"_id": entry.id}, _flight_document(entry), upsert=True)

    async def put_all(self, hotels: Iterable[Hotel], flights: Iterable[Flight]) -> None:
        """Store a whole catalog: one bulk write per collection."""
        hotel_writes = [ReplaceOne({"_id": h.id}, _hotel_document(h), upsert=True)
                        for h in hotels]
        flight_writes = [ReplaceOne({"_id": f.id}, _flight_document(f), upsert=True)
                         for f in flights]
        if hotel_writes:
            await self._hotels.bulk_write(hotel_writes, ordered=False)
        if flight_writes:
            await self._flights.bulk_write(flight_writes, ordered=False)

    async def remove(self, entry_id: str) -> None:
        """Forget an entry (a tombstone on the compacted topic), hotel or flight."""
        await self._hotels.delete_one({"_id": entry_id})
        await self._flights.delete_one({"_id": entry_id})

    async def hotels_in(self, city: str) -> list[Hotel]:
        """The hotels of a city (matched without regard to case), by id."""
        return await self._hotels_where({"city_key": city.lower()})

    async def flights_between(self, origin: str, destination: str) -> list[Flight]:
        """The flights from one airport to another (IATA codes, any case), by id."""
        return await self._flights_where(
            {"origin_key": origin.upper(), "destination_key": destination.upper()})

    async def view(self, hotel_ids: set[str], flight_ids: set[str]) -> CatalogView:
        """The named entries; with none named, the whole (small) catalog, for perk look-ups."""
        if not hotel_ids and not flight_ids:
            return InMemoryCatalog(await self._hotels_where({}), await self._flights_where({}))
        hotels = (await self._hotels_where({"_id": {"$in": sorted(hotel_ids)}})
                  if hotel_ids else [])
        flights = (await self._flights_where({"_id": {"$in": sorted(flight_ids)}})
                   if flight_ids else [])
        return InMemoryCatalog(hotels, flights)

    async def count(self) -> tuple[int, int]:
        """How many hotels and flights there are."""
        return (await self._hotels.count_documents({}),
                await self._flights.count_documents({}))

    async def _hotels_where(self, query: dict[str, Any]) -> list[Hotel]:
        cursor = self._hotels.find(query).sort("_id", ASCENDING)
        return [Hotel.model_validate(_entry(document)) async for document in cursor]

    async def _flights_where(self, query: dict[str, Any]) -> list[Flight]:
        cursor = self._flights.find(query).sort("_id", ASCENDING)
        return [Flight.model_validate(_entry(document)) async for document in cursor]


def _hotel_document(hotel: Hotel) -> dict[str, Any]:
    return {"_id": hotel.id, **hotel.model_dump(mode="json"), "city_key": hotel.city.lower()}


def _flight_document(flight: Flight) -> dict[str, Any]:
    return {"_id": flight.id, **flight.model_dump(mode="json"),
            "origin_key": flight.origin.upper(), "destination_key": flight.destination.upper()}


def _entry(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in _LOOKUP_KEYS}
