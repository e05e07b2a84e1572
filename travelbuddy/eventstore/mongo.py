"""The EventStore on MongoDB: collection `events`, one document per event.

A unique index on (stream_id, version) is the optimistic-concurrency check: an append
whose expected version is stale collides on it and writes nothing. A sparse unique index
on metadata.command_key (sender and command id) makes a repeated command collide the same way.
Each document keeps its stream's owner in `owner` (`read(stream_id, owner)`); documents
stored before that field are migrated at start-up (`setup`, see `migration.py`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from travelbuddy.eventstore.feeds import IDLE_POLL_SECONDS, FeedCursor
from travelbuddy.eventstore.migration import MIGRATION_ID, current_command_key, stream_owner
from travelbuddy.eventstore.port import (
    ConcurrencyError,
    DuplicateCommand,
    EventMetadata,
    MalformedEvent,
    NewEvent,
    StoredEvent,
    StoreUnavailable,
    command_key,
)
from travelbuddy.observability.logs import get_logger

log = get_logger(__name__)

EVENTS = "events"
MIGRATIONS = "event_store_migrations"
MIGRATION_BATCH = 1_000
MAX_AWAIT_MS = 500
STREAM_VERSION_INDEX = "stream_version"
COMMAND_KEY_INDEX = "command_key"

Document = dict[str, Any]


def event_document(stream_id: str, version: int, event: NewEvent) -> Document:
    """The stored shape of one event: with its stream's owner, and its command key when
    it has a command id (absent otherwise, not null: the index is sparse)."""
    metadata = event.metadata.as_document()
    if event.metadata.command_id is not None:
        metadata["command_key"] = command_key(event.metadata.command_id,
                                              event.metadata.issued_by)
    return {
        "stream_id": stream_id,
        "version": version,
        "type": event.type,
        "schema_version": event.schema_version,
        "data": event.data,
        "metadata": metadata,
        "owner": event.metadata.customer_id,
    }


Method = TypeVar("Method", bound=Callable[..., Awaitable[Any]])
T = TypeVar("T")


def outages_as_unavailable(cls: type[T]) -> type[T]:
    """Make every public coroutine method of an adapter class raise StoreUnavailable
    where PyMongo gives up reaching the server (server selection or the connection timed
    out, the connection broke), so callers answer "retry" instead of an internal error."""
    for name, method in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(method):
            setattr(cls, name, _translated(method))
    return cls


def _translated(method: Method) -> Method:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except ConnectionFailure as error:
            raise StoreUnavailable(f"MongoDB is unavailable: {type(error).__name__}") from error

    return cast(Method, call)


def stored_event(document: Document) -> StoredEvent:
    """An event document read back from MongoDB (a find or a change stream's fullDocument).

    Raises MalformedEvent for a document that is not an event.
    """
    try:
        return StoredEvent(
            stream_id=document["stream_id"],
            version=document["version"],
            type=document["type"],
            schema_version=document["schema_version"],
            data=document["data"],
            metadata=EventMetadata.from_document(document["metadata"]),
            position=document.get("_id"),
        )
    except (KeyError, TypeError) as error:
        raise MalformedEvent(document, error) from error


@outages_as_unavailable
class MongoEventStore:
    """EventStore adapter on PyMongo's async API."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._events: AsyncCollection[Document] = database[EVENTS]
        self._migrations: AsyncCollection[Document] = database[MIGRATIONS]

    async def setup(self) -> None:
        """Create the indexes and migrate older documents; safe at every start-up."""
        await self.create_indexes()
        await self.migrate()

    async def migrate(self) -> None:
        """Give documents stored before the `owner` field their owner and current command
        key (see `migration.py`); done once per database, harmless when repeated."""
        if await self._migrations.find_one({"_id": MIGRATION_ID}) is not None:
            return
        first_events: dict[str, Document | None] = {}
        updates: list[UpdateOne] = []
        async for document in self._events.find({"owner": {"$exists": False}}):
            try:
                stream, metadata = document["stream_id"], document["metadata"]
                if stream not in first_events:
                    first = await self._events.find_one({"stream_id": stream, "version": 1})
                    first_events[stream] = first["metadata"] if first else None
                fields: Document = {"owner": stream_owner(first_events[stream], metadata)}
                if (key := current_command_key(metadata)) is not None:
                    fields["metadata.command_key"] = key
            except (KeyError, TypeError):  # not an event: left for the followers to park
                continue
            updates.append(UpdateOne({"_id": document["_id"]}, {"$set": fields}))
            if len(updates) == MIGRATION_BATCH:
                await self._events.bulk_write(updates, ordered=False)
                updates = []
        if updates:
            await self._events.bulk_write(updates, ordered=False)
        await self._migrations.update_one(
            {"_id": MIGRATION_ID}, {"$set": {"done_at": dt.datetime.now(dt.UTC)}}, upsert=True)

    async def create_indexes(self) -> None:
        """Create the store's indexes; safe to call at every start-up."""
        await self._events.create_indexes([
            IndexModel([("stream_id", ASCENDING), ("version", ASCENDING)],
                       unique=True, name=STREAM_VERSION_INDEX),
            IndexModel([("metadata.command_key", ASCENDING)],
                       unique=True, sparse=True, name=COMMAND_KEY_INDEX),
        ])

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> int:
        """Append after `expected_version`; see the EventStore port."""
        if len(events) != 1:
            # Several events would need a multi-document transaction to be all or
            # nothing; every Booking command produces exactly one.
            raise ValueError("MongoEventStore appends exactly one event at a time")
        event = events[0]
        document = event_document(stream_id, expected_version + 1, event)
        command_id, issued_by = event.metadata.command_id, event.metadata.issued_by
        try:
            await self._events.insert_one(document)
        except DuplicateKeyError as error:
            if command_id and await self.find_by_command(command_id, issued_by):
                raise DuplicateCommand(command_id) from error
            raise ConcurrencyError(stream_id, expected_version) from error
        return expected_version + 1

    async def read(self, stream_id: str, owner: str | None = None) -> list[StoredEvent]:
        """All events of a stream in version order; with `owner`, only if it is theirs."""
        query: Document = {"stream_id": stream_id}
        if owner is not None:
            query["owner"] = owner
        cursor = self._events.find(query).sort("version", ASCENDING)
        return [stored_event(document) async for document in cursor]

    async def read_all(self) -> AsyncIterator[StoredEvent]:
        """Every event, stream by stream in version order (the stream_version index)."""
        cursor = self._events.find({}).sort([("stream_id", ASCENDING), ("version", ASCENDING)])
        async for document in cursor:
            try:
                yield stored_event(document)
            except MalformedEvent as error:
                # Not an event of any stream: skip it, loudly, rather than stop every follower.
                log.error("malformed_event_skipped", error=str(error))

    async def find_by_command(self, command_id: str, issued_by: str | None) -> StoredEvent | None:
        """The event a command of this sender and id produced, if it was handled."""
        key = command_key(command_id, issued_by)
        document = await self._events.find_one({"metadata.command_key": key})
        return stored_event(document) if document else None

    async def count(self, after_position: Any = None) -> int:
        """How many events the store holds after a position (all, without one)."""
        query: Document = {} if after_position is None else {"_id": {"$gt": after_position}}
        return await self._events.count_documents(query)

    async def oldest_recorded_at(self, after_position: Any = None) -> dt.datetime | None:
        """The recording time of the first event after an ObjectId position."""
        query: Document = {} if after_position is None else {"_id": {"$gt": after_position}}
        document = await self._events.find_one(
            query, {"metadata.recorded_at": 1}, sort=[("_id", ASCENDING)])
        if document is None:
            return None
        recorded_at: dt.datetime | None = document.get("metadata", {}).get("recorded_at")
        return recorded_at


# -- the change feed ---------------------------------------------------------------


class MongoFeedCursor:
    def __init__(self, stream: AsyncChangeStream[dict[str, Any]]) -> None:
        self._stream = stream

    @property
    def resume_token(self) -> Any:
        return self._stream.resume_token

    async def try_next(self) -> StoredEvent | None:
        while (change := await self._stream.try_next()) is not None:
            if change.get("operationType") == "insert":  # events are append-only
                return stored_event(change["fullDocument"])
        return None

    async def wait(self) -> None:
        await asyncio.sleep(IDLE_POLL_SECONDS)

    async def close(self) -> None:
        await self._stream.close()


class MongoChangeFeed:
    """A change stream on `events`; its resume token is MongoDB's."""

    def __init__(self, events: AsyncCollection[dict[str, Any]]) -> None:
        self._events = events

    async def open(self, resume_token: Any = None) -> FeedCursor:
        """Watch `events` from the token, or from now."""
        if resume_token is not None:
            stream = await self._events.watch(
                resume_after=resume_token, max_await_time_ms=MAX_AWAIT_MS)
        else:
            stream = await self._events.watch(max_await_time_ms=MAX_AWAIT_MS)
        return MongoFeedCursor(stream)
