"""The partners' catalog: projected from `partners.catalog.v1` into `hotels` and
`flights`, and read back as the Catalog that prices a booking request."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from travelbuddy.domain import CatalogView, Flight, Hotel, InMemoryCatalog
from travelbuddy.integration.bus import Bus, by_partition
from travelbuddy.integration.messages import CatalogEntry, CatalogFlight, CatalogHotel
from travelbuddy.integration.topics import CATALOG

log = logging.getLogger(__name__)

HOTELS = "hotels"
FLIGHTS = "flights"
CATALOG_GROUP = "booking-service-catalog"
POLL_SECONDS = 1.0
_ENTRY: TypeAdapter[CatalogHotel | CatalogFlight] = TypeAdapter(CatalogEntry)


class CatalogCollections:
    """`hotels` and `flights`: one document per catalog entry, `_id` = its id."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._hotels = database[HOTELS]
        self._flights = database[FLIGHTS]

    async def put(self, entry: CatalogHotel | CatalogFlight) -> None:
        """Store an entry (idempotent: the entry replaces what its id held)."""
        if isinstance(entry, CatalogHotel):
            document = entry.hotel.model_dump(mode="json")
            await self._hotels.replace_one({"_id": entry.hotel.id}, document, upsert=True)
        else:
            document = entry.flight.model_dump(mode="json")
            await self._flights.replace_one({"_id": entry.flight.id}, document, upsert=True)

    async def remove(self, entry_id: str) -> None:
        """Forget an entry (a tombstone on the compacted topic)."""
        await self._hotels.delete_one({"_id": entry_id})
        await self._flights.delete_one({"_id": entry_id})

    async def put_all(self, hotels: Iterable[Hotel], flights: Iterable[Flight]) -> None:
        """Store a whole catalog, e.g. the built-in sample when there is no Kafka."""
        for hotel in hotels:
            await self.put(CatalogHotel(kind="hotel", hotel=hotel))
        for flight in flights:
            await self.put(CatalogFlight(kind="flight", flight=flight))

    async def hotels(self, query: dict[str, Any] | None = None) -> list[Hotel]:
        return [Hotel.model_validate(_entry(d)) async for d in self._hotels.find(query or {})]

    async def flights(self, query: dict[str, Any] | None = None) -> list[Flight]:
        return [Flight.model_validate(_entry(d)) async for d in self._flights.find(query or {})]


def _entry(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "_id"}


class MongoCatalog:
    """The Catalog port on `hotels` and `flights`, as the catalog projector keeps them."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._collections = CatalogCollections(database)

    async def view(self, hotel_ids: set[str], flight_ids: set[str]) -> CatalogView:
        """The named entries; with none named, the whole (small) catalog, for perk look-ups."""
        if not hotel_ids and not flight_ids:
            return InMemoryCatalog(
                await self._collections.hotels(), await self._collections.flights()
            )
        return InMemoryCatalog(
            await self._collections.hotels({"_id": {"$in": sorted(hotel_ids)}}),
            await self._collections.flights({"_id": {"$in": sorted(flight_ids)}}),
        )


async def run_catalog_projector(
    database: AsyncDatabase[dict[str, Any]],
    bus: Bus,
    group_id: str = CATALOG_GROUP,
) -> None:
    """Follow `partners.catalog.v1` into `hotels` and `flights` until cancelled; offsets are
    committed after the entries are stored. A malformed entry is logged and skipped."""
    await bus.ensure_topics()
    collections = CatalogCollections(database)
    subscription = bus.subscribe([CATALOG], group_id)
    await subscription.start()
    try:
        while True:
            batch = await subscription.poll(POLL_SECONDS)
            for message in batch:
                key = message.key.decode() if message.key else ""
                if message.value is None:
                    await collections.remove(key)
                    continue
                try:
                    entry = _ENTRY.validate_json(message.value)
                except ValidationError as error:
                    log.warning("event=catalog_entry_skipped key=%s error=%s",
                                key, error.errors()[0]["msg"])
                    continue
                await collections.put(entry)
            for messages in by_partition(batch).values():
                await subscription.commit(messages[-1])
    finally:
        await subscription.stop()
