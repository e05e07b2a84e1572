"""The Bus port on a SQLite file: the embedded default's stand-in for Kafka.

Every topic of topics.TOPICS exists from the start with the same partition count; a
message's partition is a stable hash of its key (CRC-32, so the same in every run;
messages without a key go round-robin). Messages and committed offsets are kept in the
file (sqlite_bus_file.py), so they outlive the process: the bus is `durable`, and a
restarted relay, partner or inbound consumer goes on from where it stopped.

Consumer groups are coordinated by the SqliteBus object, so within one process (bootstrap
builds one bus per process), and the bus is not `shared_between_processes`: a group has
one active member at a time, holding every partition of its topics; a member that joins
while another is active waits, and takes over from the committed offsets when that one
stops (as in Kafka when a group has more members than partitions). So a partition is
never taken from a running member: `partitions_revoked` stays False.

Waiting readers are woken in process when a message is published to one of their topics;
a message another process appended to the file is seen within OTHER_WRITERS_SECONDS.

Retention: every message is kept, the file grows with the traffic (and with the catalog
the partners publish at each start); nothing prunes the log yet. A later change may, and
offsets would stay valid: each partition's next offset is kept apart from its messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path

from travelbuddy.integration.bus import CommitRejected, Headers, Message, TopicPartition
from travelbuddy.integration.sqlite_bus_file import SqliteBusFile
from travelbuddy.integration.topics import TOPICS, TopicSpec
from travelbuddy.observability.metrics import AssignedPartitions, observed_publish

OTHER_WRITERS_SECONDS = 0.25
"""How long a waiting reader trusts this process's wake-ups before looking at the file."""
POLL_LIMIT = 500
"""The most messages one poll (or one page of a backlog) holds, when the caller sets none."""


class SqliteBus:
    """The Bus port on a SQLite file; groups and wake-ups on an asyncio.Condition."""

    durable = True
    shared_between_processes = False

    def __init__(self, path: Path, topics: Iterable[TopicSpec] = TOPICS) -> None:
        self.path = path
        self._file = SqliteBusFile(path, topics)
        self._members: dict[str, list[SqliteSubscription]] = {}
        self._round_robin = itertools.count()
        self._published: Counter[str] = Counter()
        """Messages this process published, per topic: what waiting readers watch."""
        # Notified on every message published and every member that stops.
        self._changed = asyncio.Condition()

    async def ensure_topics(self) -> None:
        """Nothing to do: the topics are made in the file when it is opened."""

    @observed_publish
    async def publish(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> None:
        """Append the message to its partition, committed to the file before this returns,
        and wake the readers waiting for one."""
        partitions = self._file.partitions(topic)
        if key is None:
            tp = partitions[next(self._round_robin) % len(partitions)]
        else:
            tp = partitions[zlib.crc32(key) % len(partitions)]
        await self._file.append(tp, key, value, headers)
        async with self._changed:
            self._published[topic] += 1
            self._changed.notify_all()

    def subscribe(
        self, topics: Sequence[str], group_id: str | None, *, from_end: bool = False
    ) -> SqliteSubscription:
        """A subscription to `topics`; in a group, active once the members before it stop."""
        return SqliteSubscription(self, topics, group_id, from_end=from_end)

    @contextlib.asynccontextmanager
    async def read_to_end(
        self, topic: str, group_id: str | None = None
    ) -> AsyncIterator[SqliteBacklog]:
        """The topic's messages from the group's committed offsets up to its end now."""
        ends = await self._file.end_offsets([topic])
        committed = await self._file.committed_offsets(group_id, [topic]) if group_id else {}
        starts = {tp: min(committed.get(tp, 0), end) for tp, end in ends.items()}
        total = await self._file.count(starts, ends)
        yield SqliteBacklog(self, starts, ends, total, group_id)

    async def end_offsets(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        """Each partition's end, as the file has it."""
        return await self._file.end_offsets(topics)

    async def committed_offsets(
        self, group_id: str, topics: Iterable[str]
    ) -> dict[TopicPartition, int]:
        """What the group committed in `topics`."""
        return await self._file.committed_offsets(group_id, topics)

    async def reset_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Set the group's committed offsets."""
        await self._file.commit(group_id, offsets)

    async def close(self) -> None:
        """Close the file."""
        await self._file.close()

    def _published_count(self, topics: Iterable[str]) -> tuple[int, ...]:
        """What this process published to `topics` so far (compare it to see whether to
        look again)."""
        return tuple(self._published[topic] for topic in topics)

    async def _wait_for_change(self, changed: Callable[[], bool], within: float) -> None:
        """Return once `changed()` holds after a publish or a member's stop in this
        process, or after `within` seconds."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await self._changed.wait_for(changed)

    def _join(self, member: SqliteSubscription, group_id: str) -> bool:
        """Add a member to its group; True when it is the active one."""
        members = self._members.setdefault(group_id, [])
        members.append(member)
        return members[0] is member

    async def _leave(self, member: SqliteSubscription, group_id: str) -> None:
        """Remove a member; the next one, if any, takes over at its next poll."""
        members = self._members.get(group_id, [])
        was_active = bool(members) and members[0] is member
        if member in members:
            members.remove(member)
        if was_active and members:
            members[0].take_over()
        async with self._changed:
            self._changed.notify_all()


class SqliteSubscription:
    """A Subscription to the SQLite bus; positions kept per partition, in memory."""

    def __init__(
        self, bus: SqliteBus, topics: Sequence[str], group_id: str | None, *, from_end: bool
    ) -> None:
        self._bus = bus
        self._topics = list(dict.fromkeys(topics))
        self._group_id = group_id
        self._from_end = from_end
        self._partitions = [tp for topic in self._topics for tp in bus._file.partitions(topic)]
        self._positions: dict[TopicPartition, int] | None = None
        """Where each partition is read next; None while not active."""
        self._taking_over = False
        """The member before stopped: take the partitions at the next poll."""
        self._stopped = False
        self._next_first = 0
        self._assigned_partitions = AssignedPartitions(group_id)

    async def start(self) -> None:
        """Become active (or wait in line, in a group with an active member)."""
        if self._group_id is None or self._bus._join(self, self._group_id):
            await self._activate()

    def take_over(self) -> None:
        """Called by the bus when this member becomes the active one of its group."""
        self._taking_over = True

    async def _activate(self) -> None:
        """Take every partition: from the committed offsets, else the beginning or end."""
        committed = (await self._bus.committed_offsets(self._group_id, self._topics)
                     if self._group_id is not None else {})
        ends = await self._bus.end_offsets(self._topics) if self._from_end else {}
        if not self._stopped:
            self._positions = {tp: committed.get(tp, ends.get(tp, 0)) for tp in self._partitions}

    async def poll(self, timeout_s: float, max_messages: int | None = None) -> list[Message]:
        """The next messages, waiting up to `timeout_s` for one: woken by this process's
        publishes, looking at the file every OTHER_WRITERS_SECONDS meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            seen = self._bus._published_count(self._topics)
            if self._taking_over:
                await self._activate()
                self._taking_over = False
            self._assigned_partitions.set(self.assigned_partitions)
            if self._positions is not None:
                messages = await self._next(POLL_LIMIT if max_messages is None else max_messages)
                if messages:
                    return messages
            left = deadline - loop.time()
            if left <= 0:
                return []
            await self._bus._wait_for_change(
                functools.partial(self._news_since, seen), min(left, OTHER_WRITERS_SECONDS))

    def _news_since(self, seen: tuple[int, ...]) -> bool:
        return self._taking_over or self._bus._published_count(self._topics) != seen

    async def _next(self, limit: int) -> list[Message]:
        positions = self._positions
        assert positions is not None
        # Start at a different partition each time, so a busy one starves no other.
        count = len(self._partitions)
        order = self._partitions[self._next_first:] + self._partitions[:self._next_first]
        self._next_first = (self._next_first + 1) % count if count else 0
        starts = {tp: positions[tp] for tp in order}
        messages = await self._bus._file.read(starts, limit)
        if self._positions is not positions:
            return []  # stopped while reading
        # A partition rewound while reading is read again from there.
        taken = [m for m in messages if positions[m.topic_partition] == starts[m.topic_partition]]
        for message in taken:
            positions[message.topic_partition] = message.offset + 1
        return taken

    async def commit(self, message: Message) -> None:
        """Record the offset after `message` for the group, in the file."""
        if self._group_id is None:
            raise ValueError("a subscription without a group commits nothing")
        tp = message.topic_partition
        positions = self._positions
        if positions is None or tp not in positions or not await self._bus._file.commit(
                self._group_id, {tp: message.offset + 1},
                still_allowed=lambda: self._positions is positions):
            raise CommitRejected(f"{tp} is not this member's")

    def rewind(self, message: Message) -> None:
        """Deliver again from `message` on."""
        if self._positions is not None and message.topic_partition in self._positions:
            self._positions[message.topic_partition] = message.offset

    @property
    def assigned_partitions(self) -> int:
        return 0 if self._positions is None else len(self._positions)

    @property
    def partitions_revoked(self) -> bool:
        return False  # an active member keeps its partitions until it stops

    async def stop(self) -> None:
        """Leave the group; the next member in line resumes from the committed offsets."""
        self._stopped = True
        self._positions = None
        self._assigned_partitions.set(0)
        if self._group_id is not None:
            await self._bus._leave(self, self._group_id)


class SqliteBacklog:
    """A Backlog of the SQLite bus: from where the reading started to the ends it found,
    read a page at a time."""

    def __init__(
        self, bus: SqliteBus, starts: dict[TopicPartition, int], ends: dict[TopicPartition, int],
        total: int, group_id: str | None,
    ) -> None:
        self._bus = bus
        self._starts = starts
        self._ends = ends
        self._total = total
        self._group_id = group_id

    @property
    def total(self) -> int:
        return self._total

    async def __aiter__(self) -> AsyncIterator[Message]:
        for tp, start in self._starts.items():
            end = {tp: self._ends[tp]}
            while start < end[tp]:
                page = await self._bus._file.read({tp: start}, POLL_LIMIT, end)
                if not page:
                    break
                for message in page:
                    yield message
                start = page[-1].offset + 1

    async def commit(self, message: Message) -> None:
        """Record the offset after `message` for the reading's group."""
        if self._group_id is None:
            raise ValueError("a reading without a group commits nothing")
        await self._bus._file.commit(self._group_id, {message.topic_partition: message.offset + 1})
