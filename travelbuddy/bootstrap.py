"""The one place that wires adapters to the application: used by app.py and cli.py.

With `TRAVELBUDDY_MONGODB_URL` the event store, change feed and read models are on
MongoDB. Without it, the embedded default: events in `events.sqlite3` and the read models
in `readmodels.sqlite3` under the data folder, both kept across restarts. Without
`TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS` the bus is `bus.sqlite3` in the data folder, kept
across restarts too.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
from travelbuddy.health import WorkerHealth
from travelbuddy.integration.bus import Bus, group_lag
from travelbuddy.integration.catalog import CATALOG_GROUP
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.relay import relay_name
from travelbuddy.integration.sqlite_bus import SqliteBus
from travelbuddy.integration.topics import CATALOG
from travelbuddy.readmodels.maintenance import ProjectorStatus, projector_status
from travelbuddy.readmodels.ports import ReadModelStore
from travelbuddy.readmodels.projections import BookingViews, HotelOccupancy
from travelbuddy.readmodels.queries import BookingQueries
from travelbuddy.readmodels.runner import ProjectorRunner
from travelbuddy.readmodels.single_active import SingleActive
from travelbuddy.readmodels.sqlite import SqliteReadModels

READ_MODELS_PROJECTOR = "read-models"
EVENTS_FILE = "events.sqlite3"
READ_MODELS_FILE = "readmodels.sqlite3"
BUS_FILE = "bus.sqlite3"


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
    """Kafka, or without TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS the SQLite bus in the data folder."""
    health: WorkerHealth = field(default_factory=WorkerHealth)
    """What this process's relay and inbound consumer say about themselves."""
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
            self.health.followers,
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

        mongo = await open_mongo(settings.mongodb_url, settings.mongodb_database,
                                 settings.mongodb_timeout_seconds)
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
    bus: Bus = (SqliteBus(settings.data_dir / BUS_FILE) if settings.kafka_bootstrap_servers is None
                else KafkaBus(settings.kafka_bootstrap_servers))
    closers.append(bus.close)
    updates = BookingUpdates(read_models.views)
    closers.append(updates.close)
    return Services(
        settings=settings,
        store=store,
        feed=feed,
        read_models=read_models,
        commands=BookingCommands(store, priced_by, measured=settings.metrics_enabled),
        queries=BookingQueries(read_models, wait_timeout=settings.read_your_writes_timeout),
        updates=updates,
        bus=bus,
        closers=closers,
    )


async def readiness(services: Services) -> dict[str, Any]:
    """Whether this process can serve, and what stands behind the answer.

    Not ready (a load balancer takes the process out): a follower of this process failed
    again and again on the same event (`stuck` names it), the read models' first catch-up
    is not done, the projector is more than `readiness_max_lag` events behind, or the
    relay running in this process has not been able to publish for
    `readiness_relay_stuck_seconds`. Reported for operators, not acted on: every
    follower's lag in events and seconds (the relay's also when it runs elsewhere), the
    catalog's lag in messages, whether the inbound consumer here has partitions.
    """
    settings = services.settings
    async with asyncio.timeout(settings.readiness_timeout):
        projector = await projector_status(services.read_models, services.store,
                                           READ_MODELS_PROJECTOR)
        followers = {READ_MODELS_PROJECTOR: _follower(projector)}
        relay = relay_name(services.bus)
        if relay in await services.read_models.checkpoints.names():
            followers[relay] = _follower(
                await projector_status(services.read_models, services.store, relay))
        followers["catalog"] = {"lag": await group_lag(services.bus, CATALOG_GROUP, [CATALOG])}
    health = services.health
    stuck_for = health.relay_stuck_for()
    stuck = {name: dataclasses.asdict(failure)
             for name, failure in health.followers.stuck().items()}
    if stuck:
        verdict = "follower_stuck"
    elif not projector.caught_up:
        verdict = "catching_up"
    elif projector.lag > settings.readiness_max_lag:
        verdict = "lagging"
    elif stuck_for > settings.readiness_relay_stuck_seconds:
        verdict = "relay_stuck"
    else:
        verdict = "ready"
    return {
        "status": verdict,
        "projector_lag": projector.lag,
        "projector_lag_seconds": round(projector.lag_seconds, 3),
        "followers": followers,
        "relay": {"publishing": health.relay_publishing, "error": health.relay_error,
                  "failing_for_seconds": round(stuck_for, 1)},
        "inbound": {"partitions": health.inbound_partitions},
        "stuck": stuck,
    }


def _follower(status: ProjectorStatus) -> dict[str, Any]:
    return {"caught_up": status.caught_up, "lag": status.lag,
            "lag_seconds": round(status.lag_seconds, 3)}
