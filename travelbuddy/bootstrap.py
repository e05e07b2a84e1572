"""The one place that wires adapters to the application: used by app.py and cli.py.

With `TRAVELBUDDY_MONGODB_URL` the event store, change feed and read models are on
MongoDB. Without it, the embedded default: events in `events.sqlite3` and the read models
in `readmodels.sqlite3` under the data folder, both kept across restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from travelbuddy.application import BookingCommands, Catalog, StaticCatalog
from travelbuddy.config import Settings
from travelbuddy.domain.sample_catalog import SAMPLE_FLIGHTS, SAMPLE_HOTELS
from travelbuddy.eventstore.feeds import ChangeFeed
from travelbuddy.eventstore.port import EventStore
from travelbuddy.eventstore.sqlite import SqliteChangeFeed, SqliteEventStore
from travelbuddy.graphql.fanout import BookingUpdates
from travelbuddy.integration.bus import Bus
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.memory_bus import MemoryBus
from travelbuddy.readmodels.maintenance import projector_status
from travelbuddy.readmodels.ports import ReadModelStore
from travelbuddy.readmodels.projections import BookingViews, HotelOccupancy
from travelbuddy.readmodels.queries import BookingQueries
from travelbuddy.readmodels.runner import ProjectorRunner
from travelbuddy.readmodels.single_active import SingleActive
from travelbuddy.readmodels.sqlite import SqliteReadModels

READ_MODELS_PROJECTOR = "read-models"
EVENTS_FILE = "events.sqlite3"
READ_MODELS_FILE = "readmodels.sqlite3"


@dataclass
class Services:
    """Everything a process of the service uses, built once at start-up."""

    settings: Settings
    store: EventStore
    feed: ChangeFeed
    read_models: ReadModelStore
    commands: BookingCommands
    queries: BookingQueries
    updates: BookingUpdates
    """The process's one feed of booking-view changes, fanned out to subscriptions."""
    bus: Bus
    """Kafka, or without TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS the in-process bus."""
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def projector(self) -> ProjectorRunner:
        """The runner of the read-model projections (booking_views, hotel_occupancy), one
        active at a time across replicas (its lease)."""
        return ProjectorRunner(
            READ_MODELS_PROJECTOR,
            self.read_models,
            self.store,
            self.feed,
            [BookingViews(self.read_models), HotelOccupancy(self.read_models)],
            self.single_active(READ_MODELS_PROJECTOR),
        )

    def single_active(self, name: str) -> SingleActive:
        """The lease that makes the worker `name` run once across replicas."""
        return SingleActive(name, self.read_models.leases, ttl=self.settings.lease_ttl_seconds,
                            renew_every=self.settings.lease_renew_seconds)

    async def close(self) -> None:
        """Release connections and files."""
        for close in reversed(self.closers):
            await close()


async def build_services(settings: Settings) -> Services:
    """Open the stores (creating tables and indexes, idempotently) and wire the handlers."""
    closers: list[Callable[[], Awaitable[None]]] = []
    store: EventStore
    feed: ChangeFeed
    read_models: ReadModelStore
    if settings.mongodb_url is not None:
        from travelbuddy.mongodb import open_mongo

        mongo = await open_mongo(settings.mongodb_url, settings.mongodb_database)
        closers.append(mongo.client.close)
        store, feed, read_models = mongo.store, mongo.feed, mongo.read_models
    else:
        sqlite_store = SqliteEventStore(settings.data_dir / EVENTS_FILE)

        async def close_file() -> None:
            sqlite_store.close()

        closers.append(close_file)
        read_models = SqliteReadModels(settings.data_dir / READ_MODELS_FILE)
        await read_models.setup()
        store, feed = sqlite_store, SqliteChangeFeed(sqlite_store)
    closers.append(read_models.close)
    priced_by: Catalog
    if settings.kafka_bootstrap_servers is None:
        # No partners to publish a catalog: the built-in sample is the catalog.
        await read_models.catalog.put_all(SAMPLE_HOTELS, SAMPLE_FLIGHTS)
        priced_by = StaticCatalog()
    else:
        priced_by = read_models.catalog
    bus: Bus = (MemoryBus() if settings.kafka_bootstrap_servers is None
                else KafkaBus(settings.kafka_bootstrap_servers))
    closers.append(bus.close)
    updates = BookingUpdates(read_models.views)
    closers.append(updates.close)
    return Services(
        settings=settings,
        store=store,
        feed=feed,
        read_models=read_models,
        commands=BookingCommands(store, priced_by),
        queries=BookingQueries(read_models, wait_timeout=settings.read_your_writes_timeout),
        updates=updates,
        bus=bus,
        closers=closers,
    )


async def readiness(services: Services) -> dict[str, Any]:
    """Whether the service can serve: its stores answer, the read models' first catch-up
    is done and they are at most `readiness_max_lag` events behind."""
    status = await asyncio.wait_for(
        projector_status(services.read_models, services.store, READ_MODELS_PROJECTOR),
        timeout=services.settings.readiness_timeout,
    )
    if not status.caught_up:
        verdict = "catching_up"
    elif status.lag > services.settings.readiness_max_lag:
        verdict = "lagging"
    else:
        verdict = "ready"
    return {
        "status": verdict,
        "projector_lag": status.lag,
        "projector_lag_seconds": round(status.lag_seconds, 3),
    }
