"""The MongoDB wiring: the one place that makes the client, for bootstrap to call.

The event store, its change feed and the read models share one client and database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient

from travelbuddy.eventstore.mongo import EVENTS, MongoChangeFeed, MongoEventStore
from travelbuddy.readmodels.mongo import MongoReadModels


@dataclass(frozen=True)
class MongoStores:
    store: MongoEventStore
    feed: MongoChangeFeed
    read_models: MongoReadModels
    client: AsyncMongoClient[dict[str, Any]]


async def open_mongo(url: str, database_name: str) -> MongoStores:
    """Connect, create the indexes (idempotent) and wire the stores on one database."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    database = client[database_name]
    store = MongoEventStore(database)
    await store.create_indexes()
    read_models = MongoReadModels(database)
    await read_models.setup()
    return MongoStores(store, MongoChangeFeed(database[EVENTS]), read_models, client)
