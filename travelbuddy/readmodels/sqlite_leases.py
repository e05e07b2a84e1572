"""Leases of single-active workers in the embedded read-model file (`leases` table).

Each change is one write transaction (BEGIN IMMEDIATE), so two processes on the file
cannot both take a lease. A follower's checkpoint is written only while its lease is still
at the fencing number the checkpoint carries (`SqliteCheckpoints.write`, inside the batch's
transaction): a worker that lost its lease writes nothing more.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3

from travelbuddy.readmodels.ports import Lease
from travelbuddy.readmodels.sqlite_tables import ReadModelFile


def _lease(name: str, owner: str, fencing: int, expires_at: float) -> Lease:
    return Lease(name, owner, fencing, dt.datetime.fromtimestamp(expires_at, dt.UTC))


def _now() -> float:
    return dt.datetime.now(dt.UTC).timestamp()


class SqliteLeases:
    """The LeaseStore port on the read-model file."""

    def __init__(self, file: ReadModelFile) -> None:
        self._file = file

    async def acquire(self, name: str, owner: str, ttl: float) -> Lease | None:
        """Take the lease if free, expired or `owner`'s; see the port."""
        return await self._file.transaction(
            functools.partial(_acquire, name=name, owner=owner, ttl=ttl))

    async def renew(self, lease: Lease, ttl: float) -> Lease | None:
        """Extend the lease if it is still held as `lease` says."""

        def extend(connection: sqlite3.Connection) -> Lease | None:
            expires_at = _now() + ttl
            cursor = connection.execute(
                "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ? AND fencing = ?",
                (expires_at, lease.name, lease.owner, lease.fencing))
            if cursor.rowcount != 1:
                return None
            return _lease(lease.name, lease.owner, lease.fencing, expires_at)

        return await self._file.transaction(extend)

    async def release(self, lease: Lease) -> None:
        """Let the lease expire now, if it is still ours."""
        await self._file.execute(
            "UPDATE leases SET expires_at = 0 WHERE name = ? AND owner = ? AND fencing = ?",
            (lease.name, lease.owner, lease.fencing))

    async def holder(self, name: str) -> Lease | None:
        """The lease as stored, expired or not."""
        rows = await self._file.rows(
            "SELECT owner, fencing, expires_at FROM leases WHERE name = ?", (name,))
        return _lease(name, *rows[0]) if rows else None


def _acquire(connection: sqlite3.Connection, name: str, owner: str, ttl: float) -> Lease | None:
    now = _now()
    row = connection.execute(
        "SELECT owner, fencing, expires_at FROM leases WHERE name = ?", (name,)).fetchone()
    if row is None:
        fencing = 1
    else:
        held_by, fencing, expires_at = row
        if held_by != owner:
            if expires_at > now:
                return None
            fencing += 1  # a change of hands: the old holder's writes are refused from now
    connection.execute(
        "INSERT OR REPLACE INTO leases (name, owner, fencing, expires_at) VALUES (?, ?, ?, ?)",
        (name, owner, fencing, now + ttl))
    return _lease(name, owner, fencing, now + ttl)

