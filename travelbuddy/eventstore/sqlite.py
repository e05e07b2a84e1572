"""The embedded EventStore: one SQLite file, a row per event, a global position.

The position (an autoincrement key) orders every event of every stream and is the
embedded change feed's resume token. A unique (stream_id, version) constraint gives the
same optimistic concurrency as the MongoDB adapter, and an append is one transaction.
Each row keeps its stream's owner in a column of its own (`read(stream_id, owner)`); a
file written before that column is migrated when it is opened (see `migration.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sqlite3
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from travelbuddy.eventstore.feeds import FeedCursor
from travelbuddy.eventstore.migration import (
    OWNER_AND_COMMAND_KEYS,
    current_command_key,
    stream_owner,
)
from travelbuddy.eventstore.port import (
    ConcurrencyError,
    DuplicateCommand,
    EventMetadata,
    MalformedEvent,
    NewEvent,
    StoredEvent,
    command_key,
)
from travelbuddy.observability.logs import get_logger
from travelbuddy.sqlite_transaction import atomically

log = get_logger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL,
    command_key TEXT UNIQUE,
    owner TEXT,
    UNIQUE (stream_id, version)
);
"""
OWNER_INDEX = "CREATE INDEX IF NOT EXISTS events_by_owner ON events (stream_id, owner, version)"
"""A read for an owner finds another owner's stream as an unknown one, in the index alone."""
PAGE = 500
# The feed is woken by this process's appends; another process appending to the same file
# (`travelbuddy seed`) is seen within this bound.
OTHER_WRITERS_SECONDS = 0.25
COLUMNS = "position, stream_id, version, type, schema_version, data, metadata"


def _command_key(command_id: str | None, issued_by: str | None) -> str | None:
    return None if command_id is None else command_key(command_id, issued_by)


def metadata_json(metadata: EventMetadata) -> str:
    document = metadata.as_document()
    document["recorded_at"] = metadata.recorded_at.isoformat()
    return json.dumps(document)


def migrate(connection: sqlite3.Connection) -> None:
    """Give rows written before the owner column their owner and current command key
    (see `migration.py`); once per file, in one transaction."""
    if connection.execute("PRAGMA user_version").fetchone()[0] >= OWNER_AND_COMMAND_KEYS:
        return
    atomically(connection, _add_owners)


def _add_owners(connection: sqlite3.Connection) -> None:
    if "owner" not in {column[1] for column in connection.execute("PRAGMA table_info(events)")}:
        connection.execute("ALTER TABLE events ADD COLUMN owner TEXT")
    older = connection.execute(
        "SELECT event.position, event.metadata, first.metadata FROM events AS event"
        " LEFT JOIN events AS first ON first.stream_id = event.stream_id"
        " AND first.version = 1 WHERE event.owner IS NULL").fetchall()
    updates = []
    for position, metadata, first in older:
        fields = json.loads(metadata)
        updates.append((stream_owner(first and json.loads(first), fields),
                        current_command_key(fields), position))
    connection.executemany(
        "UPDATE events SET owner = ?, command_key = ? WHERE position = ?", updates)
    connection.execute(f"PRAGMA user_version = {OWNER_AND_COMMAND_KEYS}")


def row_event(row: tuple[Any, ...]) -> StoredEvent:
    """An event row read back. Raises MalformedEvent for a row that is not one (its data
    or metadata not the JSON an append writes: written to the file by something else)."""
    position, stream_id, version, type_name, schema_version, data, metadata = row
    try:
        fields = json.loads(metadata)
        fields["recorded_at"] = dt.datetime.fromisoformat(fields["recorded_at"])
        return StoredEvent(
            stream_id=stream_id, version=version, type=type_name,
            schema_version=schema_version, data=json.loads(data),
            metadata=EventMetadata.from_document(fields), position=position,
        )
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        document = dict(zip(("_id", *COLUMNS.split(", ")[1:]), row, strict=True))
        raise MalformedEvent(document, error) from error


class SqliteEventStore:
    """EventStore adapter on a SQLite file (WAL journal, synchronous=FULL: durable)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._connection.executescript(SCHEMA)
        migrate(self._connection)
        self._connection.execute(OWNER_INDEX)  # after the migration: older files lack `owner`
        self._lock = threading.Lock()
        self._appended = asyncio.Event()
        self.appends = 0
        """Appends made by this process: followers compare it to see whether to wait."""

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._connection.close()

    async def _run(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        def query() -> list[tuple[Any, ...]]:
            with self._lock:
                return self._connection.execute(sql, parameters).fetchall()

        return await asyncio.to_thread(query)

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> int:
        """Append after `expected_version` in one transaction; see the EventStore port."""
        rows = [
            (stream_id, expected_version + offset, e.type, e.schema_version, json.dumps(e.data),
             metadata_json(e.metadata),
             _command_key(e.metadata.command_id, e.metadata.issued_by), e.metadata.customer_id)
            for offset, e in enumerate(events, start=1)
        ]

        def write() -> None:
            with self._lock:
                # BEGIN IMMEDIATE takes the write lock first: the version check and the
                # insert see the same stream, also against another process on the file.
                self._connection.execute("BEGIN IMMEDIATE")
                try:
                    current = self._connection.execute(
                        "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?",
                        (stream_id,),
                    ).fetchone()[0]
                    if current != expected_version:
                        raise ConcurrencyError(stream_id, expected_version)
                    self._connection.executemany(
                        "INSERT INTO events (stream_id, version, type, schema_version, data,"
                        " metadata, command_key, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                except sqlite3.IntegrityError as error:
                    self._connection.execute("ROLLBACK")
                    if "command_key" in str(error):
                        raise DuplicateCommand(events[0].metadata.command_id or "") from error
                    raise ConcurrencyError(stream_id, expected_version) from error
                except BaseException:
                    self._connection.execute("ROLLBACK")
                    raise
                self._connection.execute("COMMIT")

        await asyncio.to_thread(write)
        self._wake_followers()
        return expected_version + len(events)

    def _wake_followers(self) -> None:
        self.appends += 1
        appended, self._appended = self._appended, asyncio.Event()
        appended.set()

    async def appended(self, since: int, within: float) -> None:
        """Return once this process has appended since its `appends` count was `since`,
        or after `within` seconds (the bound for another process writing to the file)."""
        if self.appends != since:
            return
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
        # that arrives as the event is set, and the follower would never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._appended.wait()

    async def read(self, stream_id: str, owner: str | None = None) -> list[StoredEvent]:
        """All events of a stream in version order; with `owner`, only if it is theirs."""
        if owner is None:
            rows = await self._run(
                f"SELECT {COLUMNS} FROM events WHERE stream_id = ? ORDER BY version",
                (stream_id,))
        else:
            rows = await self._run(
                f"SELECT {COLUMNS} FROM events WHERE stream_id = ? AND owner = ?"
                " ORDER BY version", (stream_id, owner))
        return [row_event(row) for row in rows]

    async def read_all(self) -> AsyncIterator[StoredEvent]:
        """Every event, stream by stream in version order, a page at a time (the
        (stream_id, version) index, continued from the last pair read)."""
        after: tuple[str, int] = ("", 0)
        while True:
            rows = await self._run(
                f"SELECT {COLUMNS} FROM events WHERE (stream_id, version) > (?, ?)"
                " ORDER BY stream_id, version LIMIT ?", (*after, PAGE))
            for row in rows:
                try:
                    yield row_event(row)
                except MalformedEvent as error:
                    # Not an event: skip it, loudly, rather than stop every follower.
                    log.error("malformed_event_skipped", error=str(error))
            if len(rows) < PAGE:
                return
            after = (rows[-1][1], rows[-1][2])

    async def read_page(self, after_position: int) -> list[tuple[Any, ...]]:
        """Up to a page of event rows after a position, in position order (`row_event`
        reads each)."""
        return await self._run(
            f"SELECT {COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (after_position or 0, PAGE))

    async def find_by_command(self, command_id: str, issued_by: str | None) -> StoredEvent | None:
        """The event a command of this sender and id produced, if it was handled."""
        rows = await self._run(
            f"SELECT {COLUMNS} FROM events WHERE command_key = ?",
            (_command_key(command_id, issued_by),))
        return row_event(rows[0]) if rows else None

    async def count(self, after_position: Any = None) -> int:
        """How many events the store holds after a position (all, without one)."""
        rows = await self._run(
            "SELECT COUNT(*) FROM events WHERE position > ?", (after_position or 0,))
        return int(rows[0][0])

    async def oldest_recorded_at(self, after_position: Any = None) -> dt.datetime | None:
        """The recording time of the first event after a position."""
        rows = await self._run(
            "SELECT metadata FROM events WHERE position > ? ORDER BY position LIMIT 1",
            (after_position or 0,))
        if not rows:
            return None
        return dt.datetime.fromisoformat(json.loads(rows[0][0])["recorded_at"])

    async def last_position(self) -> int:
        """The position of the newest event (0 for an empty store)."""
        rows = await self._run("SELECT COALESCE(MAX(position), 0) FROM events")
        return int(rows[0][0])


# -- the change feed ---------------------------------------------------------------


class SqliteFeedCursor:
    def __init__(self, store: SqliteEventStore, position: int) -> None:
        self._store = store
        self.resume_token: Any = position
        self._buffer: deque[tuple[Any, ...]] = deque()
        self._appends_seen = store.appends

    async def try_next(self) -> StoredEvent | None:
        if not self._buffer:
            self._appends_seen = self._store.appends  # before the read: no wake-up is lost
            self._buffer.extend(await self._store.read_page(self.resume_token))
        if not self._buffer:
            return None
        row = self._buffer.popleft()
        self.resume_token = row[0]  # past a malformed row too: it is parked, not retried
        return row_event(row)

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
