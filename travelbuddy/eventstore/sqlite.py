"""The embedded EventStore: one SQLite file, a row per event, a global position.

The position (an autoincrement key) orders every event of every stream and is the
embedded change feed's resume token. A unique (stream_id, version) constraint gives the
same optimistic concurrency as the MongoDB adapter, and an append is one transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Collection, Sequence
from pathlib import Path
from typing import Any

from travelbuddy.eventstore.port import (
    ConcurrencyError,
    DuplicateCommand,
    EventMetadata,
    NewEvent,
    StoredEvent,
)

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
    UNIQUE (stream_id, version)
);
"""
PAGE = 500
COLUMNS = "position, stream_id, version, type, schema_version, data, metadata"


def _command_key(command_id: str | None, issued_by: str | None) -> str | None:
    return None if command_id is None else f"{issued_by or ''}\x1f{command_id}"


def _metadata_json(metadata: EventMetadata) -> str:
    document = metadata.as_document()
    document["recorded_at"] = metadata.recorded_at.isoformat()
    return json.dumps(document)


def _row_event(row: tuple[Any, ...]) -> StoredEvent:
    position, stream_id, version, type_name, schema_version, data, metadata = row
    fields = json.loads(metadata)
    fields["recorded_at"] = dt.datetime.fromisoformat(fields["recorded_at"])
    return StoredEvent(
        stream_id=stream_id, version=version, type=type_name, schema_version=schema_version,
        data=json.loads(data), metadata=EventMetadata.from_document(fields), position=position,
    )


class SqliteEventStore:
    """EventStore adapter on a SQLite file (WAL journal, synchronous=FULL: durable)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._connection.executescript(SCHEMA)
        self._lock = threading.Lock()

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
             _metadata_json(e.metadata),
             _command_key(e.metadata.command_id, e.metadata.issued_by))
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
                        " metadata, command_key) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
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
        return expected_version + len(events)

    async def read(self, stream_id: str) -> list[StoredEvent]:
        """All events of a stream in version order."""
        rows = await self._run(
            f"SELECT {COLUMNS} FROM events WHERE stream_id = ? ORDER BY version", (stream_id,))
        return [_row_event(row) for row in rows]

    async def read_streams(self, stream_ids: Collection[str]) -> dict[str, list[StoredEvent]]:
        """The events of several streams, each in version order, in one query."""
        streams: dict[str, list[StoredEvent]] = {stream_id: [] for stream_id in stream_ids}
        marks = ", ".join("?" * len(streams))
        rows = await self._run(
            f"SELECT {COLUMNS} FROM events WHERE stream_id IN ({marks})"
            " ORDER BY stream_id, version", list(streams))
        for row in rows:
            event = _row_event(row)
            streams[event.stream_id].append(event)
        return streams

    async def read_all(self, after_position: Any = None) -> AsyncIterator[StoredEvent]:
        """Every event in position order, a page at a time, after a position."""
        position = after_position or 0
        while True:
            page = await self.read_page(position)
            for event in page:
                yield event
            if len(page) < PAGE:
                return
            position = page[-1].position

    async def read_page(self, after_position: int) -> list[StoredEvent]:
        """Up to a page of events after a position, in position order."""
        rows = await self._run(
            f"SELECT {COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (after_position or 0, PAGE))
        return [_row_event(row) for row in rows]

    async def find_by_command(self, command_id: str, issued_by: str | None) -> StoredEvent | None:
        """The event a command of this sender and id produced, if it was handled."""
        rows = await self._run(
            f"SELECT {COLUMNS} FROM events WHERE command_key = ?",
            (_command_key(command_id, issued_by),))
        return _row_event(rows[0]) if rows else None

    async def count(self, after_position: Any = None) -> int:
        """How many events the store holds after a position (all, without one)."""
        rows = await self._run(
            "SELECT COUNT(*) FROM events WHERE position > ?", (after_position or 0,))
        return int(rows[0][0])

    async def last_position(self) -> int:
        """The position of the newest event (0 for an empty store)."""
        rows = await self._run("SELECT COALESCE(MAX(position), 0) FROM events")
        return int(rows[0][0])
