"""The embedded read side: every read model in one SQLite file, beside the event store's.

A `ProjectionBatch` is committed in one transaction, its checkpoint included, so the
embedded projection is exactly-once. Each view write takes the next number of one
sequence kept in the file, so `changes()` follows the writes with a single indexed query,
also across rebuilds. A rebuild fills new tables under a unique name and `swap_in` renames
them over the live ones in one transaction; readers see the old views until then.
The tables beside the projections' live in `sqlite_tables`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import functools
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from pathlib import Path

from travelbuddy.readmodels.ports import (
    BOOKING_VIEWS,
    HOTEL_OCCUPANCY,
    RESYNC,
    HoldWrite,
    PageKey,
    ProjectionBatch,
    ReadModelStore,
    Resync,
    StayHold,
    View,
    ViewWrite,
)
from travelbuddy.readmodels.sqlite_leases import SqliteLeases
from travelbuddy.readmodels.sqlite_tables import (
    PAGE,
    ReadModelFile,
    Row,
    SqliteCatalog,
    SqliteCheckpoints,
    SqliteParkedEvents,
    chunks,
    create_indexes,
    create_schema,
    create_table,
    iso,
    marks,
)

__all__ = ["SqliteReadModels"]

POLL_SECONDS = 1.0
"""How long `changes()` waits for this process's signal before looking anyway: the bound
for a writer in another process (a CLI rebuild)."""

PROJECTION_TABLES = {BOOKING_VIEWS: ("booking_views",),
                     HOTEL_OCCUPANCY: ("stay_holds", "booked_nights")}
"""The live tables of each rebuildable projection."""


def view_json(view: View) -> str:
    """A view as JSON; its datetimes (created, updated, each history entry) as ISO text."""
    document = dict(view)
    for key in ("created_at", "updated_at"):
        if isinstance(document.get(key), dt.datetime):
            document[key] = iso(document[key])
    if "history" in document:
        document["history"] = [
            {**entry, "at": iso(entry["at"])} if isinstance(entry.get("at"), dt.datetime)
            else entry
            for entry in document["history"]
        ]
    return json.dumps(document)


def view_from_json(text: str) -> View:
    """The view `view_json` wrote, its datetimes datetimes again."""
    view: View = json.loads(text)
    for key in ("created_at", "updated_at"):
        if isinstance(view.get(key), str):
            view[key] = dt.datetime.fromisoformat(view[key])
    for entry in view.get("history", []):
        if isinstance(entry.get("at"), str):
            entry["at"] = dt.datetime.fromisoformat(entry["at"])
    return view


class SqliteBookingViews:
    """`booking_views`: a row per booking with the columns queries filter and sort on, the
    whole view as JSON, and the sequence number of the commit that last wrote it."""

    def __init__(self, file: ReadModelFile, table: str) -> None:
        self._file = file
        self.table = table

    async def get(self, booking_id: str) -> View | None:
        """The booking's view, or None."""
        rows = await self._file.rows(
            f'SELECT document FROM "{self.table}" WHERE booking_id = ?', (booking_id,))
        return view_from_json(rows[0][0]) if rows else None

    async def get_many(self, booking_ids: Collection[str]) -> dict[str, View]:
        """The views of these bookings that exist, by booking id."""

        def select(connection: sqlite3.Connection) -> list[Row]:
            return [row for chunk in chunks(booking_ids) for row in connection.execute(
                f'SELECT booking_id, document FROM "{self.table}"'
                f" WHERE booking_id IN ({marks(chunk)})", chunk)]

        return {booking_id: view_from_json(document)
                for booking_id, document in await self._file.run(select)}

    async def customer_page(
        self, customer_id: str, status: str | None, first: int, after: PageKey | None
    ) -> list[View]:
        """Up to `first` of the customer's views (of one status, if given) in (check-in,
        booking id) order after `after`; SQLite sorts a NULL check-in first."""
        where: list[str] = ["customer_id = ?"]
        parameters: list[str | None] = [customer_id]
        if status is not None:
            where.append("status = ?")
            parameters.append(status)
        if after is not None and after.check_in is None:
            where.append("(check_in IS NOT NULL OR booking_id > ?)")
            parameters.append(after.booking_id)
        elif after is not None:
            where.append("(check_in > ? OR (check_in = ? AND booking_id > ?))")
            parameters += [after.check_in, after.check_in, after.booking_id]
        rows = await self._file.rows(
            f'SELECT document FROM "{self.table}" WHERE {" AND ".join(where)}'
            " ORDER BY check_in, booking_id LIMIT ?", (*parameters, max(first, 0)))
        return [view_from_json(document) for (document,) in rows]

    async def of_customer(self, customer_id: str) -> list[View]:
        """Every view of the customer, in (check-in, booking id) order."""
        rows = await self._file.rows(
            f'SELECT document FROM "{self.table}" WHERE customer_id = ?'
            " ORDER BY check_in, booking_id", (customer_id,))
        return [view_from_json(document) for (document,) in rows]

    async def count(self) -> int:
        """How many views there are."""
        rows = await self._file.rows(f'SELECT COUNT(*) FROM "{self.table}"')
        return int(rows[0][0])

    async def changes(self) -> AsyncIterator[list[View] | Resync]:
        """`RESYNC` once open (the sequence number read), then the views written after it,
        in sequence order, a page at a time; `RESYNC` again once a rebuild was swapped in
        (here or by another process)."""
        seq, swaps = await self._file.run(_view_sequence)
        yield RESYNC
        while True:
            written = self._file.next_views_written()
            now_seq, now_swaps, rows = await self._file.run(
                functools.partial(self._written_after, seq))
            if now_swaps != swaps:
                # The views were replaced wholesale: readers start over from the table.
                seq, swaps = now_seq, now_swaps
                yield RESYNC
            elif rows:
                seq = rows[-1][0]
                yield [view_from_json(document) for _, document in rows]
            else:
                with contextlib.suppress(TimeoutError):
                    # Not wait_for: on Python 3.11 it can swallow a cancellation.
                    async with asyncio.timeout(POLL_SECONDS):
                        await written.wait()

    def _written_after(
        self, seq: int, connection: sqlite3.Connection
    ) -> tuple[int, int, list[Row]]:
        # One read transaction: the swap count and the rows come from the same snapshot.
        connection.execute("BEGIN")
        try:
            now_seq, swaps = _view_sequence(connection)
            rows = connection.execute(
                f'SELECT seq, document FROM "{self.table}" WHERE seq > ? ORDER BY seq LIMIT ?',
                (seq, PAGE)).fetchall()
        finally:
            connection.execute("COMMIT")
        return now_seq, swaps, rows

    def write(self, connection: sqlite3.Connection, writes: Iterable[ViewWrite]) -> int:
        """Store each view whose guard holds, with the next sequence number; return how
        many were stored."""
        seq, _ = _view_sequence(connection)
        stored = 0
        for write in writes:
            view = write.view
            values = (view["customer_id"], view["status"], view.get("check_in"),
                      view["version"], seq + 1, view_json(view), view["booking_id"])
            if write.replaces is None:
                cursor = connection.execute(
                    f'INSERT INTO "{self.table}" (customer_id, status, check_in, version, seq,'
                    " document, booking_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (booking_id) DO NOTHING", values)
            else:
                cursor = connection.execute(
                    f'UPDATE "{self.table}" SET customer_id = ?, status = ?, check_in = ?,'
                    " version = ?, seq = ?, document = ? WHERE booking_id = ? AND version = ?",
                    (*values, write.replaces))
            if cursor.rowcount == 1:
                seq, stored = seq + 1, stored + 1
        if stored:
            connection.execute("UPDATE view_sequence SET seq = ?", (seq,))
        return stored


def _view_sequence(connection: sqlite3.Connection) -> tuple[int, int]:
    seq, swaps = connection.execute("SELECT seq, swaps FROM view_sequence").fetchone()
    return int(seq), int(swaps)


class SqliteOccupancy:
    """`hotel_occupancy`: a stay hold per booking and a row per (hotel, night, booking)
    held, so a night's rooms are a count over an index."""

    def __init__(self, file: ReadModelFile, holds_table: str, nights_table: str) -> None:
        self._file = file
        self.holds_table = holds_table
        self.nights_table = nights_table

    async def holds(self, booking_ids: Collection[str]) -> dict[str, StayHold]:
        """The stored holds of these bookings, by booking id."""

        def select(connection: sqlite3.Connection) -> list[Row]:
            return [row for chunk in chunks(booking_ids) for row in connection.execute(
                f'SELECT booking_id, version, hotel_id, nights FROM "{self.holds_table}"'
                f" WHERE booking_id IN ({marks(chunk)})", chunk)]

        return {
            booking_id: StayHold(booking_id, version, hotel_id, frozenset(json.loads(nights)))
            for booking_id, version, hotel_id, nights in await self._file.run(select)
        }

    async def rooms_booked(
        self, hotel_id: str, start: dt.date, end: dt.date
    ) -> list[tuple[str, int]]:
        """(ISO night, rooms booked) from `start` to `end` inclusive, in night order."""
        rows = await self._file.rows(
            f'SELECT night, COUNT(*) FROM "{self.nights_table}" WHERE hotel_id = ?'
            " AND night BETWEEN ? AND ? GROUP BY night ORDER BY night",
            (hotel_id, start.isoformat(), end.isoformat()))
        return [(night, int(rooms)) for night, rooms in rows]

    def write(self, connection: sqlite3.Connection, writes: Iterable[HoldWrite]) -> None:
        """Store each hold whose guard holds; give back its old nights and take its new."""
        for write in writes:
            hold, old = write.hold, write.replaces
            values = (hold.version, hold.hotel_id, json.dumps(sorted(hold.nights)),
                      hold.booking_id)
            if old is None:
                cursor = connection.execute(
                    f'INSERT INTO "{self.holds_table}" (version, hotel_id, nights, booking_id)'
                    " VALUES (?, ?, ?, ?) ON CONFLICT (booking_id) DO NOTHING", values)
            else:
                cursor = connection.execute(
                    f'UPDATE "{self.holds_table}" SET version = ?, hotel_id = ?, nights = ?'
                    " WHERE booking_id = ? AND version = ?", (*values, old.version))
            if cursor.rowcount != 1:
                continue  # another delivery stored this hold (or a newer one) first
            if old is not None and old.hotel_id is not None:
                connection.executemany(
                    f'DELETE FROM "{self.nights_table}"'
                    " WHERE hotel_id = ? AND night = ? AND booking_id = ?",
                    [(old.hotel_id, night, hold.booking_id) for night in old.nights])
            if hold.hotel_id is not None:
                connection.executemany(
                    f'INSERT OR IGNORE INTO "{self.nights_table}" (hotel_id, night, booking_id)'
                    " VALUES (?, ?, ?)",
                    [(hold.hotel_id, night, hold.booking_id) for night in hold.nights])


class SqliteReadModels:
    """The ReadModelStore on one SQLite file: WAL journal, synchronous=NORMAL, one
    connection shared by every part (and by the fresh stores of a rebuild)."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the file at `path`; `setup()` creates the tables."""
        self.path = path
        self._file = ReadModelFile(path)
        # The port's parts are read-only properties, so these may be the adapter's own
        # classes (the commit writes to them, inside its transaction).
        self.views: SqliteBookingViews
        self.occupancy: SqliteOccupancy
        self._use_tables({table: table for tables in PROJECTION_TABLES.values()
                          for table in tables})
        self.checkpoints = SqliteCheckpoints(self._file)
        self.parked = SqliteParkedEvents(self._file)
        self.catalog = SqliteCatalog(self._file)
        self.leases = SqliteLeases(self._file)
        self._owns_file = True
        self._rebuilding: dict[str, str] = {}
        """For a fresh store: the name of the new table for each live one it replaces."""

    async def setup(self) -> None:
        """Create the tables and indexes that are missing."""
        await self._file.transaction(create_schema)

    async def commit(self, batch: ProjectionBatch) -> None:
        """Write the batch in one transaction, checkpoint included: after a crash either
        all of it is stored or none of it. A write whose guard fails is skipped."""

        def write(connection: sqlite3.Connection) -> int:
            stored = self.views.write(connection, batch.views)
            self.occupancy.write(connection, batch.holds)
            self.parked.write(connection, batch.parked, batch.unparked)
            if batch.checkpoint is not None:
                self.checkpoints.write(connection, batch.checkpoint)
            return stored

        if not (batch.views or batch.holds or batch.parked or batch.unparked
                or batch.checkpoint):
            return
        stored = await self._file.transaction(write)
        if stored and not self._rebuilding.get("booking_views"):
            self._file.views_written()

    async def fresh(self, projection: str) -> SqliteReadModels:
        """A store sharing this one's file whose `projection` lives in new, empty tables."""
        suffix = uuid.uuid4().hex[:12]
        names = {table: f"{table}__rebuild_{suffix}" for table in _tables_of(projection)}

        def create(connection: sqlite3.Connection) -> None:
            for table, name in names.items():
                create_table(connection, table, name)

        await self._file.transaction(create)
        rebuilt = copy.copy(self)
        rebuilt._owns_file = False
        rebuilt._rebuilding = names
        rebuilt._use_tables(names)
        return rebuilt

    async def swap_in(self, fresh: ReadModelStore, projection: str) -> None:
        """Replace the live tables of `projection` by `fresh`'s, in one transaction; the
        live names, indexes included, end up as `setup()` makes them."""
        tables = _tables_of(projection)
        if (not isinstance(fresh, SqliteReadModels) or fresh._file is not self._file
                or set(fresh._rebuilding) != set(tables)):
            raise ValueError(f"not a fresh {projection} of this store")
        names = fresh._rebuilding

        def swap(connection: sqlite3.Connection) -> None:
            for table in tables:
                connection.execute(f'DROP TABLE IF EXISTS "{table}"')
                connection.execute(f'ALTER TABLE "{names[table]}" RENAME TO "{table}"')
                # Built only now, under their live names: index names cannot be renamed.
                create_indexes(connection, table)
            if projection == BOOKING_VIEWS:
                connection.execute("UPDATE view_sequence SET swaps = swaps + 1")

        await self._file.transaction(swap)
        fresh._rebuilding = {}
        fresh._use_tables({table: table for table in tables})
        if projection == BOOKING_VIEWS:
            self._file.views_written()

    async def close(self) -> None:
        """Close the file. A fresh store leaves it open for its live store and drops its
        tables if they were never swapped in."""
        if self._owns_file:
            await self._file.close()
            return
        names, self._rebuilding = list(self._rebuilding.values()), {}

        def drop(connection: sqlite3.Connection) -> None:
            for name in names:
                connection.execute(f'DROP TABLE IF EXISTS "{name}"')

        if names:
            await self._file.transaction(drop)

    def _use_tables(self, names: Mapping[str, str]) -> None:
        if "booking_views" in names:
            self.views = SqliteBookingViews(self._file, names["booking_views"])
        if "stay_holds" in names:
            self.occupancy = SqliteOccupancy(
                self._file, names["stay_holds"], names["booked_nights"])


def _tables_of(projection: str) -> tuple[str, ...]:
    if projection not in PROJECTION_TABLES:
        raise ValueError(
            f"unknown projection {projection!r}; choose one of {', '.join(PROJECTION_TABLES)}")
    return PROJECTION_TABLES[projection]
