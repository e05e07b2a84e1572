"""The one place that wires adapters to the application: used by app.py and cli.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from travelbuddy.application import BookingCommands, StaticCatalog
from travelbuddy.config import Settings
from travelbuddy.domain.sample_catalog import SAMPLE_FLIGHTS, SAMPLE_HOTELS
from travelbuddy.eventstore.mongo import MongoEventStore
from travelbuddy.integration.catalog import CatalogCollections, MongoCatalog
from travelbuddy.readmodels.projections import BookingViews, HotelOccupancy
from travelbuddy.readmodels.queries import BookingQueries
from travelbuddy.readmodels.runner import ProjectorRunner

READ_MODELS_PROJECTOR = "read-models"


@dataclass
class Services:
    """Everything a process of the service uses, built once at start-up."""

    settings: Settings
    client: AsyncMongoClient[dict[str, Any]]
    database: AsyncDatabase[dict[str, Any]]
    store: MongoEventStore
    commands: BookingCommands
    queries: BookingQueries
    catalog: CatalogCollections

    def projector(self) -> ProjectorRunner:
        """The runner of the read-model projections (booking_views, hotel_occupancy)."""
        return ProjectorRunner(
            READ_MODELS_PROJECTOR,
            self.database,
            self.store,
            [BookingViews(self.database), HotelOccupancy(self.database, self.store)],
        )

    async def close(self) -> None:
        """Release connections."""
        await self.client.close()


async def build_services(settings: Settings) -> Services:
    """Connect to MongoDB, create indexes (idempotent), wire the command handler."""
    if settings.mongodb_url is None:
        raise RuntimeError("TRAVELBUDDY_MONGODB_URL is not set")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_url, tz_aware=True
    )
    database = client[settings.mongodb_database]
    store = MongoEventStore(database)
    await store.create_indexes()
    catalog = CatalogCollections(database)
    if settings.kafka_bootstrap_servers is None:
        # No partners to publish a catalog: the built-in sample is the catalog.
        await catalog.put_all(SAMPLE_HOTELS, SAMPLE_FLIGHTS)
        commands = BookingCommands(store, StaticCatalog())
    else:
        commands = BookingCommands(store, MongoCatalog(database))
    return Services(
        settings=settings,
        client=client,
        database=database,
        store=store,
        commands=commands,
        queries=BookingQueries(database, wait_timeout=settings.read_your_writes_timeout),
        catalog=catalog,
    )
