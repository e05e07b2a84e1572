"""The embedded read side's file, its schema, and the tables beside the projections':
checkpoints, parked events and the partners' catalog.

Every query runs on a worker thread under the file's lock, so the event loop never waits
on the disk. The `write` methods take the connection: they run inside the transaction
`SqliteReadModels.commit` opens (see `travelbuddy.readmodels.sqlite`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from travelbuddy.domain import CatalogView, Flight, Hotel, InMemoryCatalog
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.eventstore.sqlite import COLUMNS, metadata_json, row_event
from travelbuddy.readmodels.ports import Checkpoint, LeaseLost, ParkedEvent
from travelbuddy.sqlite_transaction import atomically

PAGE = 500
"""Views per `changes()` step, and ids per IN list."""

Result = TypeVar("Result")
Row = tuple[Any, ...]

# Every table, by its live name. Names are quoted, as SQLite writes them when it renames
# a table: a swapped-in rebuild then leaves the schema text exactly as `setup()` makes it.
TABLES = {
    "booking_views": "(booking_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL,"
    " status TEXT NOT NULL, check_in TEXT, version INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " document TEXT NOT NULL)",
    "stay_holds": "(booking_id TEXT PRIMARY KEY, version INTEGER NOT NULL, hotel_id TEXT,"
    " nights TEXT NOT NULL)",
    "booked_nights": "(hotel_id TEXT NOT NULL, night TEXT NOT NULL, booking_id TEXT NOT NULL,"
    " PRIMARY KEY (hotel_id, night, booking_id)) WITHOUT ROWID",
    # The sequence numbers of view writes, and how many times the views were swapped.
    "view_sequence": "(id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,"
    " swaps INTEGER NOT NULL)",
    "checkpoints": "(follower TEXT PRIMARY KEY, resume_token TEXT NOT NULL,"
    " position TEXT NOT NULL, recorded_at TEXT, saved_at TEXT NOT NULL,"
    " caught_up INTEGER NOT NULL, applied INTEGER NOT NULL, fencing INTEGER)",
    "projection_dlq": "(entry_id TEXT PRIMARY KEY, projection TEXT, stream_id TEXT,"
    " version INTEGER, type TEXT, schema_version INTEGER, data TEXT, metadata TEXT,"
    " position TEXT, document TEXT, error TEXT NOT NULL, attempts INTEGER NOT NULL,"
    " parked_at TEXT NOT NULL)",
    "leases": "(name TEXT PRIMARY KEY, owner TEXT NOT NULL, fencing INTEGER NOT NULL,"
    " expires_at REAL NOT NULL)",
    "hotels": "(id TEXT PRIMARY KEY, city TEXT NOT NULL, document TEXT NOT NULL)",
    "flights": "(id TEXT PRIMARY KEY, origin TEXT NOT NULL, destination TEXT NOT NULL,"
    " document TEXT NOT NULL)",
}
INDEXES = {
    "booking_views": {
        "booking_views_by_customer_status": "(customer_id, status, check_in, booking_id)",
        "booking_views_by_customer": "(customer_id, check_in, booking_id)",
        "booking_views_by_check_in": "(check_in)",
        "booking_views_by_seq": "(seq)",
    },
    "projection_dlq": {"projection_dlq_by_event": "(stream_id, version)"},
    "hotels": {"hotels_by_city": "(city)"},
    "flights": {"flights_by_route": "(origin, destination)"},
}


def create_table(connection: sqlite3.Connection, table: str, name: str | None = None) -> None:
    """Create `table` (one of TABLES) if missing, under another `name` for a rebuild."""
    connection.execute(f'CREATE TABLE IF NOT EXISTS "{name or table}" {TABLES[table]}')


def create_indexes(connection: sqlite3.Connection, table: str) -> None:
    """Create the indexes of the live `table` if missing."""
    for index, columns in INDEXES.get(table, {}).items():
        connection.execute(f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" {columns}')


def create_schema(connection: sqlite3.Connection) -> None:
    """Every table and index, and the view sequence's one row (idempotent)."""
    for table in TABLES:
        create_table(connection, table)
        create_indexes(connection, table)
    connection.execute("INSERT OR IGNORE INTO view_sequence (id, seq, swaps) VALUES (1, 0, 0)")


class ReadModelFile:
    """The SQLite file: one connection, the lock every use of it takes, and the in-process
    signal that views were written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode can lose the last commits on a power cut, never corrupt: the
        # views are rebuilt from the event store, which is synchronous=FULL.
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        self._written: asyncio.Event | None = None

    async def run(self, work: Callable[[sqlite3.Connection], Result]) -> Result:
        """Run `work` on the connection, on a worker thread, under the lock."""

        def locked() -> Result:
            with self._lock:
                return work(self._connection)

        return await asyncio.to_thread(locked)

    async def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[Row]:
        """The rows of one query."""
        return await self.run(lambda connection: connection.execute(sql, parameters).fetchall())

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        """Run one statement (a transaction of its own)."""
        await self.run(lambda connection: connection.execute(sql, parameters))

    async def transaction(self, work: Callable[[sqlite3.Connection], Result]) -> Result:
        """Run `work` in one write transaction: all of it is committed or none of it."""

        return await self.run(functools.partial(atomically, work=work))

    def next_views_written(self) -> asyncio.Event:
        """An event set the next time this process writes views (take it before looking)."""
        if self._written is None:
            self._written = asyncio.Event()
        return self._written

    def views_written(self) -> None:
        """Wake whoever waits for views (call on the event loop, after the commit)."""
        written, self._written = self._written, None
        if written is not None:
            written.set()

    async def close(self) -> None:
        """Close the connection."""
        await self.run(lambda connection: connection.close())


def chunks(ids: Collection[str]) -> Iterator[list[str]]:
    """The distinct ids, a PAGE at a time (SQLite bounds the parameters of a statement)."""
    distinct = list(dict.fromkeys(ids))
    for start in range(0, len(distinct), PAGE):
        yield distinct[start:start + PAGE]


def marks(values: Collection[Any]) -> str:
    """One `?` per value, for an IN list."""
    return ", ".join("?" * len(values))


def iso(moment: dt.datetime) -> str:
    """A datetime as ISO text; a naive one is taken to be UTC, so it comes back tz-aware."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


class SqliteCheckpoints:
    """`checkpoints`: a row per follower; the resume token and position as JSON."""

    def __init__(self, file: ReadModelFile) -> None:
        self._file = file

    async def load(self, follower: str) -> Checkpoint | None:
        """The follower's checkpoint, or None before its first save."""
        rows = await self._file.rows(
            "SELECT resume_token, position, recorded_at, saved_at, caught_up, applied, fencing"
            " FROM checkpoints WHERE follower = ?", (follower,))
        if not rows:
            return None
        resume_token, position, recorded_at, saved_at, caught_up, applied, fencing = rows[0]
        return Checkpoint(
            follower=follower, resume_token=json.loads(resume_token),
            position=json.loads(position),
            recorded_at=None if recorded_at is None else dt.datetime.fromisoformat(recorded_at),
            saved_at=dt.datetime.fromisoformat(saved_at), caught_up=bool(caught_up),
            applied=int(applied), fencing=fencing)

    async def save(self, checkpoint: Checkpoint) -> None:
        """Record where the follower stands."""
        await self._file.transaction(functools.partial(self.write, checkpoint=checkpoint))

    async def names(self) -> list[str]:
        """The followers that have a checkpoint, by name."""
        rows = await self._file.rows("SELECT follower FROM checkpoints ORDER BY follower")
        return [follower for (follower,) in rows]

    async def delete(self, follower: str) -> None:
        """Forget the checkpoint: the follower catches up from the start next time."""
        await self._file.execute("DELETE FROM checkpoints WHERE follower = ?", (follower,))

    @staticmethod
    def write(connection: sqlite3.Connection, checkpoint: Checkpoint) -> None:
        """Store the checkpoint, replacing the follower's last one; raise LeaseLost (the
        caller's transaction rolls back) when it carries a fencing number that is no
        longer its follower's lease's."""
        if checkpoint.fencing is not None:
            row = connection.execute("SELECT fencing FROM leases WHERE name = ?",
                                     (checkpoint.follower,)).fetchone()
            if row is None or row[0] != checkpoint.fencing:
                raise LeaseLost(checkpoint.follower, checkpoint.fencing)
        recorded_at = checkpoint.recorded_at
        connection.execute(
            "INSERT OR REPLACE INTO checkpoints (follower, resume_token, position, recorded_at,"
            " saved_at, caught_up, applied, fencing) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (checkpoint.follower, json.dumps(checkpoint.resume_token),
             json.dumps(checkpoint.position), None if recorded_at is None else iso(recorded_at),
             iso(checkpoint.saved_at), int(checkpoint.caught_up), checkpoint.applied,
             checkpoint.fencing))


class SqliteParkedEvents:
    """`projection_dlq`: a parked event's columns as the event store keeps them, or a
    malformed document as JSON (no stream, no projection)."""

    _EVENT = COLUMNS  # the event store's columns, in the order `row_event` reads them

    def __init__(self, file: ReadModelFile) -> None:
        self._file = file

    async def list(self, projection: str | None = None) -> list[ParkedEvent]:
        """Parked events by (stream, version), of one projection if given."""
        where, parameters = "stream_id IS NOT NULL", []
        if projection is not None:
            where, parameters = where + " AND projection = ?", [projection]
        rows = await self._file.rows(
            f"SELECT entry_id, projection, error, attempts, parked_at, {self._EVENT}"
            f" FROM projection_dlq WHERE {where} ORDER BY stream_id, version, entry_id",
            parameters)
        return [
            ParkedEvent(entry_id=entry_id, projection=name,
                        event=row_event((json.loads(position), *event)), error=error,
                        attempts=attempts, parked_at=dt.datetime.fromisoformat(parked_at))
            for entry_id, name, error, attempts, parked_at, position, *event in rows
        ]

    async def park_malformed(self, key: str, document: dict[str, Any], error: str) -> None:
        """Keep a stored document that is not an event (never listed)."""
        await self._file.execute(
            "INSERT INTO projection_dlq (entry_id, document, error, attempts, parked_at)"
            " VALUES (?, ?, ?, 1, ?) ON CONFLICT (entry_id) DO UPDATE SET"
            " document = excluded.document, error = excluded.error,"
            " parked_at = excluded.parked_at, attempts = attempts + 1",
            (f"malformed|{key}", json.dumps(document, default=str), error, _now()))

    async def count(self) -> int:
        """How many entries there are, malformed documents included."""
        rows = await self._file.rows("SELECT COUNT(*) FROM projection_dlq")
        return int(rows[0][0])

    def write(self, connection: sqlite3.Connection,
              parked: Iterable[tuple[str, StoredEvent, str]], unparked: Sequence[str]) -> None:
        """Forget the entries applied now, then park the events that failed (again)."""
        connection.executemany(
            "DELETE FROM projection_dlq WHERE entry_id = ?", [(entry,) for entry in unparked])
        parked_at = _now()
        connection.executemany(
            f"INSERT INTO projection_dlq (entry_id, projection, error, attempts, parked_at,"
            f" {self._EVENT}) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (entry_id) DO UPDATE SET error = excluded.error,"
            " parked_at = excluded.parked_at, attempts = attempts + 1",
            [(f"{projection}|{event.metadata.event_id}", projection, error, parked_at,
              json.dumps(event.position, default=str), event.stream_id, event.version,
              event.type, event.schema_version, json.dumps(event.data),
              metadata_json(event.metadata))
             for projection, event, error in parked])


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class SqliteCatalog:
    """`hotels` and `flights`: each entry as JSON, beside the columns it is searched by
    (the city lower-cased, the airport codes upper-cased)."""

    def __init__(self, file: ReadModelFile) -> None:
        self._file = file

    async def put(self, entry: Hotel | Flight) -> None:
        """Store an entry; it replaces what its id held."""
        await self._file.run(functools.partial(_put, entries=[entry]))

    async def put_all(self, hotels: Iterable[Hotel], flights: Iterable[Flight]) -> None:
        """Store every entry of a catalog, in one transaction."""
        entries: list[Hotel | Flight] = [*hotels, *flights]
        await self._file.transaction(functools.partial(_put, entries=entries))

    async def remove(self, entry_id: str) -> None:
        """Forget an entry, hotel or flight."""

        def delete(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM hotels WHERE id = ?", (entry_id,))
            connection.execute("DELETE FROM flights WHERE id = ?", (entry_id,))

        await self._file.transaction(delete)

    async def hotels_in(self, city: str) -> list[Hotel]:
        """The hotels of a city (any case), by id."""
        rows = await self._file.rows(
            "SELECT document FROM hotels WHERE city = ? ORDER BY id", (city.lower(),))
        return [Hotel.model_validate_json(document) for (document,) in rows]

    async def flights_between(self, origin: str, destination: str) -> list[Flight]:
        """The flights from one airport to another (IATA codes, any case), by id."""
        rows = await self._file.rows(
            "SELECT document FROM flights WHERE origin = ? AND destination = ? ORDER BY id",
            (origin.upper(), destination.upper()))
        return [Flight.model_validate_json(document) for (document,) in rows]

    async def view(self, hotel_ids: set[str], flight_ids: set[str]) -> CatalogView:
        """The named entries; with none named, the whole catalog."""
        whole = not hotel_ids and not flight_ids

        def select(connection: sqlite3.Connection) -> tuple[list[Row], list[Row]]:
            return (_documents(connection, "hotels", None if whole else hotel_ids),
                    _documents(connection, "flights", None if whole else flight_ids))

        hotels, flights = await self._file.run(select)
        return InMemoryCatalog([Hotel.model_validate_json(document) for (document,) in hotels],
                               [Flight.model_validate_json(document) for (document,) in flights])

    async def count(self) -> tuple[int, int]:
        """How many hotels and flights there are."""
        rows = await self._file.rows(
            "SELECT (SELECT COUNT(*) FROM hotels), (SELECT COUNT(*) FROM flights)")
        return int(rows[0][0]), int(rows[0][1])


def _put(connection: sqlite3.Connection, entries: Iterable[Hotel | Flight]) -> None:
    for entry in entries:
        document = json.dumps(entry.model_dump(mode="json"))
        if isinstance(entry, Hotel):
            connection.execute("INSERT OR REPLACE INTO hotels (id, city, document)"
                               " VALUES (?, ?, ?)", (entry.id, entry.city.lower(), document))
        else:
            connection.execute(
                "INSERT OR REPLACE INTO flights (id, origin, destination, document)"
                " VALUES (?, ?, ?, ?)",
                (entry.id, entry.origin.upper(), entry.destination.upper(), document))


def _documents(connection: sqlite3.Connection, table: str, ids: set[str] | None) -> list[Row]:
    if ids is None:
        return connection.execute(f"SELECT document FROM {table} ORDER BY id").fetchall()
    rows = [row for chunk in chunks(ids) for row in connection.execute(
        f"SELECT id, document FROM {table} WHERE id IN ({marks(chunk)})", chunk)]
    return [(document,) for _, document in sorted(rows)]
