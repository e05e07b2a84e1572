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


async def open_mongo(url: str, database_name: str, within: float = 5.0) -> MongoStores:
    """Connect, create the indexes (idempotent) and wire the stores on one database.

    `within` bounds how long an operation waits for a server that is away (selecting a
    server, connecting) before the adapters raise StoreUnavailable; PyMongo's default
    would keep a request waiting 30 s. No socket timeout is set: with one, followers
    cancelled mid-read (a stopping projector) left the test MongoDB's connections
    unusable, and a server that is down refuses or resets connections anyway.
    """
    milliseconds = int(within * 1000)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        url, tz_aware=True, serverSelectionTimeoutMS=milliseconds,
        connectTimeoutMS=milliseconds)
    database = client[database_name]
    store = MongoEventStore(database)
    await store.setup()
    read_models = MongoReadModels(database)
    await read_models.setup()
    return MongoStores(store, MongoChangeFeed(database[EVENTS]), read_models, client)
