"""The one place that wires adapters to the application: used by app.py and cli.py.

With `TRAVELBUDDY_MONGODB_URL` the event store, change feed and query collections are on
MongoDB. Without it, the embedded default: events in a SQLite file under the data folder,
query collections in memory, rebuilt from the events at start by the same projections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from travelbuddy.application import BookingCommands, Catalog, StaticCatalog
from travelbuddy.config import Settings
from travelbuddy.domain.sample_catalog import SAMPLE_FLIGHTS, SAMPLE_HOTELS
from travelbuddy.eventstore.feeds import ChangeFeed, MongoChangeFeed, SqliteChangeFeed
from travelbuddy.eventstore.mongo import EVENTS, MongoEventStore
from travelbuddy.eventstore.port import EventStore
from travelbuddy.eventstore.sqlite import SqliteEventStore
from travelbuddy.integration.bus import Bus
from travelbuddy.integration.catalog import CatalogCollections, MongoCatalog
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.memory_bus import MemoryBus
from travelbuddy.readmodels.projections import BookingViews, HotelOccupancy
from travelbuddy.readmodels.queries import BookingQueries
from travelbuddy.readmodels.runner import ProjectorRunner

READ_MODELS_PROJECTOR = "read-models"
EVENTS_FILE = "events.sqlite3"


@dataclass
class Services:
    """Everything a process of the service uses, built once at start-up."""

    settings: Settings
    database: AsyncDatabase[dict[str, Any]]
    store: EventStore
    feed: ChangeFeed
    commands: BookingCommands
    queries: BookingQueries
    catalog: CatalogCollections
    bus: Bus
    """Kafka, or without TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS the in-process bus."""
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def projector(self) -> ProjectorRunner:
        """The runner of the read-model projections (booking_views, hotel_occupancy)."""
        return ProjectorRunner(
            READ_MODELS_PROJECTOR,
            self.database,
            self.store,
            self.feed,
            [BookingViews(self.database), HotelOccupancy(self.database, self.store)],
        )

    async def close(self) -> None:
        """Release connections and files."""
        for close in reversed(self.closers):
            await close()


async def build_services(settings: Settings) -> Services:
    """Open the stores (creating indexes, idempotently) and wire the command handler."""
    closers: list[Callable[[], Awaitable[None]]] = []
    store: EventStore
    feed: ChangeFeed
    if settings.mongodb_url is not None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongodb_url, tz_aware=True
        )
        closers.append(client.close)
        database = client[settings.mongodb_database]
        mongo_store = MongoEventStore(database)
        await mongo_store.create_indexes()
        store, feed = mongo_store, MongoChangeFeed(database[EVENTS])
    else:
        from travelbuddy.embedded import InMemoryDatabase

        sqlite_store = SqliteEventStore(settings.data_dir / EVENTS_FILE)

        async def close_file() -> None:
            sqlite_store.close()

        closers.append(close_file)
        database = cast(AsyncDatabase[dict[str, Any]], InMemoryDatabase(settings.mongodb_database))
        store, feed = sqlite_store, SqliteChangeFeed(sqlite_store)
    catalog = CatalogCollections(database)
    priced_by: Catalog
    if settings.kafka_bootstrap_servers is None:
        # No partners to publish a catalog: the built-in sample is the catalog.
        await catalog.put_all(SAMPLE_HOTELS, SAMPLE_FLIGHTS)
        priced_by = StaticCatalog()
    else:
        priced_by = MongoCatalog(database)
    bus: Bus = (MemoryBus() if settings.kafka_bootstrap_servers is None
                else KafkaBus(settings.kafka_bootstrap_servers))
    closers.append(bus.close)
    return Services(
        settings=settings,
        database=database,
        store=store,
        feed=feed,
        commands=BookingCommands(store, priced_by),
        queries=BookingQueries(database, wait_timeout=settings.read_your_writes_timeout),
        catalog=catalog,
        bus=bus,
        closers=closers,
    )


async def readiness(services: Services) -> dict[str, Any]:
    """Whether the service can serve: its stores answer and the read models are current."""
    from travelbuddy.readmodels.maintenance import projector_status

    status = await asyncio.wait_for(
        projector_status(services.database, services.store, READ_MODELS_PROJECTOR),
        timeout=services.settings.readiness_timeout,
    )
    ready = status.lag <= services.settings.readiness_max_lag
    return {"status": "ready" if ready else "lagging", "projector_lag": status.lag}
