"""The partners publish their catalog: hotels and flights with prices and perks."""

from __future__ import annotations

from collections.abc import Iterable

from travelbuddy.domain import SAMPLE_FLIGHTS, SAMPLE_HOTELS, Flight, Hotel
from travelbuddy.integration.bus import Bus
from travelbuddy.integration.messages import CatalogFlight, CatalogHotel
from travelbuddy.integration.topics import CATALOG
from travelbuddy.observability.logs import get_logger

log = get_logger(__name__)


async def publish_catalog(
    bus: Bus,
    hotels: Iterable[Hotel] = SAMPLE_HOTELS,
    flights: Iterable[Flight] = SAMPLE_FLIGHTS,
) -> None:
    """Publish every hotel and flight to the compacted catalog topic, keyed by its id,
    so the topic keeps the latest entry of each."""
    entries: list[tuple[str, CatalogHotel | CatalogFlight]] = [
        (hotel.id, CatalogHotel(kind="hotel", hotel=hotel)) for hotel in hotels
    ]
    entries += [(flight.id, CatalogFlight(kind="flight", flight=flight)) for flight in flights]
    for key, entry in entries:
        await bus.publish(CATALOG, key.encode(), entry.model_dump_json().encode())
    hotel_count = sum(isinstance(entry, CatalogHotel) for _, entry in entries)
    log.info("catalog_published", topic=CATALOG, hotels=hotel_count,
             flights=len(entries) - hotel_count)
