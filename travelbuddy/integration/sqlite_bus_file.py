"""The embedded bus's SQLite file: an append-only log of messages per topic partition, and
the offsets each consumer group committed.

Tables: `partitions` (topic, partition, the offset its next message gets), `messages`
(topic, partition, offset, key, value, headers as JSON; primary key (topic, partition,
offset)) and `committed_offsets` (group_id, topic, partition, offset). A message's offset
is taken from its partition's row in the transaction that appends it, so offsets never
repeat, also across processes writing to the file and once old messages are pruned.

One connection, opened on first use (a process that never uses the bus leaves no file),
used under a lock on worker threads so the event loop never waits on the disk. WAL with
synchronous=NORMAL: a committed append survives the process crashing; a power cut may
lose the last commits.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from travelbuddy.integration.bus import BusUnavailable, Message, TopicPartition
from travelbuddy.integration.topics import TopicSpec
from travelbuddy.sqlite_transaction import atomically

Result = TypeVar("Result")

SCHEMA = """
CREATE TABLE IF NOT EXISTS partitions (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key BLOB,
    value BLOB,
    headers TEXT NOT NULL,
    PRIMARY KEY (topic, partition, offset)
);
CREATE TABLE IF NOT EXISTS committed_offsets (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;
"""
COLUMNS = "topic, partition, offset, key, value, headers"


def headers_json(headers: Iterable[tuple[str, bytes]]) -> str:
    """Headers as JSON: [name, value in base64] pairs (values are bytes, maybe binary)."""
    return json.dumps([[name, base64.b64encode(value).decode()] for name, value in headers])


def row_message(row: tuple[Any, ...]) -> Message:
    topic, partition, offset, key, value, headers = row
    return Message(topic, partition, offset, key, value,
                   [(name, base64.b64decode(text)) for name, text in json.loads(headers)])


class SqliteBusFile:
    """The file of a SqliteBus: its topics' partitions, and every query on it."""

    def __init__(self, path: Path, topics: Iterable[TopicSpec]) -> None:
        self.path = path
        self._partition_counts = {spec.name: spec.partitions for spec in topics}
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def partitions(self, topic: str) -> list[TopicPartition]:
        """The partitions of a topic; a topic the bus was not made with is an error."""
        try:
            count = self._partition_counts[topic]
        except KeyError:
            raise LookupError(f"no topic {topic!r} on this bus") from None
        return [TopicPartition(topic, index) for index in range(count)]

    async def append(
        self, tp: TopicPartition, key: bytes | None, value: bytes | None,
        headers: Iterable[tuple[str, bytes]],
    ) -> None:
        """Append a message at its partition's end, committed when this returns."""
        row = (key, value, headers_json(headers))

        def append(connection: sqlite3.Connection) -> None:
            offset = connection.execute(
                "UPDATE partitions SET end_offset = end_offset + 1"
                " WHERE topic = ? AND partition = ? RETURNING end_offset - 1", tp).fetchall()[0][0]
            connection.execute(f"INSERT INTO messages ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                               (*tp, offset, *row))

        await self.run(append, transaction=True)

    async def read(
        self, starts: Mapping[TopicPartition, int], limit: int,
        ends: Mapping[TopicPartition, int] | None = None,
    ) -> list[Message]:
        """Up to `limit` messages, partition after partition in the order given, each from
        its start (up to its end, when given)."""

        def read(connection: sqlite3.Connection) -> list[Message]:
            taken: list[Message] = []
            for tp, start in starts.items():
                room = limit - len(taken)
                if room <= 0:
                    break
                end = ends[tp] if ends is not None else None
                rows = connection.execute(
                    f"SELECT {COLUMNS} FROM messages WHERE topic = ? AND partition = ?"
                    " AND offset >= ? AND (? IS NULL OR offset < ?) ORDER BY offset LIMIT ?",
                    (*tp, start, end, end, room)).fetchall()
                taken += map(row_message, rows)
            return taken

        return await self.run(read)

    async def count(
        self, starts: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]
    ) -> int:
        """How many messages the partitions hold from each start to each end."""

        def count(connection: sqlite3.Connection) -> int:
            return sum(connection.execute(
                "SELECT COUNT(*) FROM messages WHERE topic = ? AND partition = ?"
                " AND offset >= ? AND offset < ?", (*tp, start, ends[tp])).fetchone()[0]
                for tp, start in starts.items())

        return await self.run(count)

    async def end_offsets(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        """The offset the next message of each partition of `topics` gets."""
        wanted = [tp for topic in dict.fromkeys(topics) for tp in self.partitions(topic)]

        def ends(connection: sqlite3.Connection) -> dict[TopicPartition, int]:
            rows = connection.execute("SELECT topic, partition, end_offset FROM partitions")
            known = {TopicPartition(topic, partition): end for topic, partition, end in rows}
            return {tp: known[tp] for tp in wanted}

        return await self.run(ends)

    async def committed_offsets(
        self, group_id: str, topics: Iterable[str]
    ) -> dict[TopicPartition, int]:
        """What the group committed in `topics`."""
        wanted = set(topics)

        def committed(connection: sqlite3.Connection) -> dict[TopicPartition, int]:
            rows = connection.execute(
                "SELECT topic, partition, offset FROM committed_offsets WHERE group_id = ?",
                (group_id,))
            return {TopicPartition(topic, partition): offset
                    for topic, partition, offset in rows if topic in wanted}

        return await self.run(committed)

    async def commit(
        self, group_id: str, offsets: Mapping[TopicPartition, int],
        still_allowed: Callable[[], bool] = lambda: True,
    ) -> bool:
        """Set the group's committed offsets in these partitions, in one transaction, if
        `still_allowed()` holds once the file is locked; whether it did."""

        def commit(connection: sqlite3.Connection) -> bool:
            # Checked under the lock: a commit cut off by a cancellation cannot land after
            # the group's next member read the offsets (and move them back).
            if not still_allowed():
                return False
            connection.executemany(
                "INSERT INTO committed_offsets (group_id, topic, partition, offset)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (group_id, topic, partition)"
                " DO UPDATE SET offset = excluded.offset",
                [(group_id, *tp, offset) for tp, offset in offsets.items()])
            return True

        return await self.run(commit, transaction=True)

    async def close(self) -> None:
        """Close the connection (if it was ever opened)."""

        def close() -> None:
            with self._lock:
                self._closed = True
                if self._connection is not None:
                    self._connection.close()

        await asyncio.to_thread(close)

    async def run(
        self, work: Callable[[sqlite3.Connection], Result], *, transaction: bool = False
    ) -> Result:
        """Run `work` on a worker thread under the lock, in a write transaction if asked.
        SQLite's operational errors (the file locked too long by another process, a full
        disk) come out as BusUnavailable: the same call may work later."""

        def locked() -> Result:
            with self._lock:
                connection = self._connected()
                return atomically(connection, work) if transaction else work(connection)

        try:
            return await asyncio.to_thread(locked)
        except sqlite3.OperationalError as error:
            raise BusUnavailable(f"{self.path}: {error}") from error

    def _connected(self) -> sqlite3.Connection:
        """The connection, opened (and the schema and topics made) on first use."""
        if self._closed:
            raise RuntimeError(f"the bus file {self.path} is closed")
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, check_same_thread=False,
                                         isolation_level=None)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.executescript(SCHEMA)
                self._register_topics(connection)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _register_topics(self, connection: sqlite3.Connection) -> None:
        """Add this bus's partitions the file lacks; refuse a file whose topics have more
        partitions than this bus's, whose keys would then change partitions."""
        def register(connection: sqlite3.Connection) -> list[tuple[str, int]]:
            connection.executemany(
                "INSERT OR IGNORE INTO partitions (topic, partition, end_offset) VALUES (?, ?, 0)",
                [tp for topic in self._partition_counts for tp in self.partitions(topic)])
            return connection.execute(
                "SELECT topic, COUNT(*) FROM partitions GROUP BY topic").fetchall()

        for topic, count in atomically(connection, register):
            expected = self._partition_counts.get(topic, count)
            if count != expected:
                raise ValueError(f"{self.path}: topic {topic!r} has {count} partitions,"
                                 f" this bus {expected}")
