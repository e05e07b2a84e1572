"""The Bus port in process: the embedded default's stand-in for Kafka.

Every topic of topics.TOPICS exists from the start with the same partition count; a
message's partition is a stable hash of its key (CRC-32, so the same in every run;
messages without a key go round-robin). Messages stay in memory for the life of the
process (no retention, no compaction) and are gone after it: the bus is not `durable`.
Groups keep committed offsets per partition, as Kafka's do.

A consumer group has one active member at a time, holding every partition of its topics;
a member that joins while another is active waits, and takes over from the committed
offsets when that one stops (as in Kafka when a group has more members than partitions).
So a partition is never taken from a running member: `partitions_revoked` stays False.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence

from travelbuddy.integration.bus import (
    CommitRejected,
    Headers,
    Message,
    TopicPartition,
)
from travelbuddy.integration.topics import TOPICS, TopicSpec


class MemoryBus:
    """The Bus port on lists in memory; waiting readers wake on an asyncio.Condition."""

    durable = False

    def __init__(self, topics: Iterable[TopicSpec] = TOPICS) -> None:
        self._logs: dict[str, list[list[Message]]] = {
            spec.name: [[] for _ in range(spec.partitions)] for spec in topics
        }
        self._committed: dict[str, dict[TopicPartition, int]] = defaultdict(dict)
        self._members: dict[str, list[MemorySubscription]] = defaultdict(list)
        self._round_robin = itertools.count()
        # Notified on every message published and every member that stops.
        self._changed = asyncio.Condition()

    async def ensure_topics(self) -> None:
        """Nothing to do: the topics exist from the start."""

    async def publish(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> None:
        """Append the message to its partition and wake the readers waiting for one."""
        partitions = self._log(topic)
        if key is None:
            index = next(self._round_robin) % len(partitions)
        else:
            index = zlib.crc32(key) % len(partitions)
        async with self._changed:
            partition = partitions[index]
            partition.append(Message(topic, index, len(partition), key, value, list(headers)))
            self._changed.notify_all()

    def subscribe(
        self, topics: Sequence[str], group_id: str | None, *, from_end: bool = False
    ) -> MemorySubscription:
        """A subscription to `topics`; in a group, active once the members before it stop."""
        return MemorySubscription(self, topics, group_id, from_end=from_end)

    @contextlib.asynccontextmanager
    async def read_to_end(
        self, topic: str, group_id: str | None = None
    ) -> AsyncIterator[MemoryBacklog]:
        """The topic's messages from the group's committed offsets up to now."""
        committed = self._committed[group_id] if group_id is not None else {}
        backlog = [
            message
            for index, partition in enumerate(self._log(topic))
            for message in partition[committed.get(TopicPartition(topic, index), 0):]
        ]
        yield MemoryBacklog(self, backlog, group_id)

    async def end_offsets(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        """Each partition's length."""
        return {
            TopicPartition(topic, index): len(partition)
            for topic in topics
            for index, partition in enumerate(self._log(topic))
        }

    async def committed_offsets(
        self, group_id: str, topics: Iterable[str]
    ) -> dict[TopicPartition, int]:
        """What the group committed in `topics`."""
        wanted = set(topics)
        return {tp: offset for tp, offset in self._committed[group_id].items()
                if tp.topic in wanted}

    async def reset_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Set the group's committed offsets."""
        self._committed[group_id].update(offsets)

    async def close(self) -> None:
        """Nothing to release."""

    def _log(self, topic: str) -> list[list[Message]]:
        """The partitions of a topic; a topic the bus was not made with is an error."""
        try:
            return self._logs[topic]
        except KeyError:
            raise LookupError(f"no topic {topic!r} on this bus") from None

    def _commit(self, group_id: str, message: Message) -> None:
        self._committed[group_id][message.topic_partition] = message.offset + 1

    def _committed_offset(self, group_id: str, tp: TopicPartition) -> int | None:
        return self._committed[group_id].get(tp)

    def _join(self, member: MemorySubscription, group_id: str) -> bool:
        """Add a member to its group; True when it is the active one."""
        members = self._members[group_id]
        members.append(member)
        return members[0] is member

    async def _leave(self, member: MemorySubscription, group_id: str) -> None:
        """Remove a member; the next one, if any, becomes active."""
        members = self._members[group_id]
        was_active = bool(members) and members[0] is member
        if member in members:
            members.remove(member)
        if was_active and members:
            members[0].activate()
        async with self._changed:
            self._changed.notify_all()


class MemorySubscription:
    """A Subscription to the in-process bus; positions kept per partition."""

    def __init__(
        self, bus: MemoryBus, topics: Sequence[str], group_id: str | None, *, from_end: bool
    ) -> None:
        self._bus = bus
        self._group_id = group_id
        self._from_end = from_end
        self._partitions = [
            TopicPartition(topic, index)
            for topic in dict.fromkeys(topics)
            for index in range(len(bus._log(topic)))
        ]
        self._positions: dict[TopicPartition, int] | None = None
        """Where each partition is read next; None while not active."""
        self._next_first = 0

    async def start(self) -> None:
        """Become active (or wait in line, in a group with an active member)."""
        if self._group_id is None or self._bus._join(self, self._group_id):
            self.activate()

    def activate(self) -> None:
        """Take every partition: from the committed offsets, else the beginning or end."""
        positions = {}
        for tp in self._partitions:
            committed = (self._bus._committed_offset(self._group_id, tp)
                         if self._group_id is not None else None)
            end = len(self._bus._log(tp.topic)[tp.partition])
            positions[tp] = committed if committed is not None else end if self._from_end else 0
        self._positions = positions

    async def poll(self, timeout_s: float, max_messages: int | None = None) -> list[Message]:
        """Wait (on the bus's condition, no polling) for messages, up to `timeout_s`."""
        async with self._bus._changed:
            try:
                async with asyncio.timeout(timeout_s):
                    await self._bus._changed.wait_for(self._has_messages)
            except TimeoutError:
                return []
            return self._take(max_messages)

    def _has_messages(self) -> bool:
        positions = self._positions
        return positions is not None and any(
            offset < len(self._bus._log(tp.topic)[tp.partition])
            for tp, offset in positions.items()
        )

    def _take(self, max_messages: int | None) -> list[Message]:
        assert self._positions is not None
        taken: list[Message] = []
        # Start at a different partition each time, so a busy one starves no other.
        count = len(self._partitions)
        order = self._partitions[self._next_first:] + self._partitions[:self._next_first]
        self._next_first = (self._next_first + 1) % count if count else 0
        for tp in order:
            room = None if max_messages is None else max_messages - len(taken)
            if room == 0:
                break
            start = self._positions[tp]
            log = self._bus._log(tp.topic)[tp.partition]
            batch = log[start:] if room is None else log[start:start + room]
            self._positions[tp] = start + len(batch)
            taken += batch
        return taken

    async def commit(self, message: Message) -> None:
        """Record the offset after `message` for the group."""
        if self._group_id is None:
            raise ValueError("a subscription without a group commits nothing")
        if self._positions is None or message.topic_partition not in self._positions:
            raise CommitRejected(f"{message.topic_partition} is not this member's")
        self._bus._commit(self._group_id, message)

    def rewind(self, message: Message) -> None:
        """Deliver again from `message` on."""
        if self._positions is not None and message.topic_partition in self._positions:
            self._positions[message.topic_partition] = message.offset

    @property
    def partitions_revoked(self) -> bool:
        return False  # an active member keeps its partitions until it stops

    async def stop(self) -> None:
        """Leave the group; the next member in line resumes from the committed offsets."""
        self._positions = None
        if self._group_id is not None:
            await self._bus._leave(self, self._group_id)


class MemoryBacklog:
    """A Backlog of the in-process bus: the messages there were when the reading opened."""

    def __init__(self, bus: MemoryBus, messages: list[Message], group_id: str | None) -> None:
        self._bus = bus
        self._messages = messages
        self._group_id = group_id

    @property
    def total(self) -> int:
        return len(self._messages)

    async def __aiter__(self) -> AsyncIterator[Message]:
        for message in self._messages:
            yield message

    async def commit(self, message: Message) -> None:
        """Record the offset after `message` for the reading's group."""
        if self._group_id is None:
            raise ValueError("a reading without a group commits nothing")
        self._bus._commit(self._group_id, message)
