"""One write transaction on a SQLite connection, shared by the embedded adapters (the
read-model file and the bus file)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")


def atomically(
    connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], Result]
) -> Result:
    """Run `work` in one write transaction: all of it is committed or none of it."""
    # IMMEDIATE takes the write lock up front, also against another process on the file,
    # so the guards a transaction checks and the writes they allow see the same rows.
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = work(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result
