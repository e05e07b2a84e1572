"""The embedded baselines: the same rows written and read with nothing but sqlite3.

The connection is set up as the embedded event store sets up its own (WAL journal,
synchronous=FULL, autocommit) and called through asyncio.to_thread under a lock, as the
store calls its own, so the difference to the store is the store's work alone. The views
of benchmark 4's bare route are read the same way from the read models' own file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from bench.traffic import RecordedEvent

Row = tuple[str, int, str, int, str, str]


def row_of(recorded: RecordedEvent) -> Row:
    """The columns the embedded store writes for an event, serialised the same way."""
    metadata = recorded.event.metadata.as_document()
    metadata["recorded_at"] = recorded.event.metadata.recorded_at.isoformat()
    return (recorded.stream_id, recorded.version, recorded.event.type,
            recorded.event.schema_version, json.dumps(recorded.event.data), json.dumps(metadata))


class RawSqlite:
    """A table of event-sized rows with no constraint but its rowid."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS raw_events (stream_id TEXT, version INTEGER, type TEXT,"
            " schema_version INTEGER, data TEXT, metadata TEXT)")
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    async def insert(self, row: Row) -> int:
        """Insert one row in its own transaction; return its rowid."""

        def write() -> int:
            with self._lock:
                cursor = self._connection.execute(
                    "INSERT INTO raw_events VALUES (?, ?, ?, ?, ?, ?)", row)
                return int(cursor.lastrowid or 0)

        return await asyncio.to_thread(write)

    async def rows_after(self, rowid: int, limit: int = 500) -> list[tuple[Any, ...]]:
        """Up to `limit` rows after a rowid, in rowid order."""

        def read() -> list[tuple[Any, ...]]:
            with self._lock:
                return self._connection.execute(
                    "SELECT rowid, stream_id, version FROM raw_events WHERE rowid > ?"
                    " ORDER BY rowid LIMIT ?", (rowid, limit)).fetchall()

        return await asyncio.to_thread(read)


class RawSqliteViews:
    """The embedded read models' `booking_views` table read with nothing but sqlite3: the
    bare route's finds of benchmark 4. One connection of its own, read-only, called through
    asyncio.to_thread under a lock, as the read-model adapter calls its own."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA query_only=ON")
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    async def _documents(self, sql: str, parameters: tuple[Any, ...]) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            with self._lock:
                rows = self._connection.execute(sql, parameters).fetchall()
            return [json.loads(document) for (document,) in rows]

        return await asyncio.to_thread(read)

    async def booking(self, booking_id: str) -> dict[str, Any] | None:
        """The view of one booking, by its key, or None."""
        found = await self._documents(
            "SELECT document FROM booking_views WHERE booking_id = ?", (booking_id,))
        return found[0] if found else None

    async def of_customer(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        """The first `limit` views of a customer by (check-in, booking id), off its index."""
        return await self._documents(
            "SELECT document FROM booking_views WHERE customer_id = ?"
            " ORDER BY check_in, booking_id LIMIT ?", (customer_id, limit))
