"""The ChangeFeed port: the store's events, in order, from a resume token on.

Followers (projectors, the relay) open a feed, take events with `try_next`, and save the
feed's `resume_token` after their effects. MongoDB: a change stream on `events` and its
resume token. Embedded: the SQLite store's global position.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Protocol

from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.collection import AsyncCollection

from travelbuddy.eventstore.mongo import stored_event
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.eventstore.sqlite import SqliteEventStore

MAX_AWAIT_MS = 500
# The test MongoDB answers an empty getMore at once instead of waiting MAX_AWAIT_MS: pause
# between empty polls so an idle follower does not spin.
IDLE_POLL_SECONDS = 0.02
# The embedded feed is woken by this process's appends; another process appending to the
# same file (`travelbuddy seed`) is seen within this bound.
OTHER_WRITERS_SECONDS = 0.25


class FeedCursor(Protocol):
    """An open feed."""

    @property
    def resume_token(self) -> Any:
        """Where to resume to see only the events after the last one taken."""
        ...

    async def try_next(self) -> StoredEvent | None:
        """The next event, or None at once when there is none yet.

        Raises MalformedEvent (MongoDB) for a document that is not an event.
        """
        ...

    async def wait(self) -> None:
        """Return when more events may be ready (after `try_next` answered None)."""
        ...

    async def close(self) -> None:
        """Release the cursor."""
        ...


class ChangeFeed(Protocol):
    """Opens cursors on the store's events."""

    async def open(self, resume_token: Any = None) -> FeedCursor:
        """A cursor after `resume_token`, or, without one, after the newest event now."""
        ...


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


class SqliteFeedCursor:
    def __init__(self, store: SqliteEventStore, position: int) -> None:
        self._store = store
        self.resume_token: Any = position
        self._buffer: deque[StoredEvent] = deque()
        self._appends_seen = store.appends

    async def try_next(self) -> StoredEvent | None:
        if not self._buffer:
            self._appends_seen = self._store.appends  # before the read: no wake-up is lost
            self._buffer.extend(await self._store.read_page(self.resume_token))
        if not self._buffer:
            return None
        event = self._buffer.popleft()
        self.resume_token = event.position
        return event

    async def wait(self) -> None:
        await self._store.appended(self._appends_seen, OTHER_WRITERS_SECONDS)

    async def close(self) -> None:
        self._buffer.clear()


class SqliteChangeFeed:
    """The embedded store's events by global position; the position is the token."""

    def __init__(self, store: SqliteEventStore) -> None:
        self._store = store

    async def open(self, resume_token: Any = None) -> FeedCursor:
        """A cursor after the token's position, or after the newest event now."""
        start = resume_token if resume_token is not None else await self._store.last_position()
        return SqliteFeedCursor(self._store, int(start))
