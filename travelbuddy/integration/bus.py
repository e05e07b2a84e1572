"""The `Bus` port: integration messages between the booking service and its partners.

Two adapters: `KafkaBus` (kafka_bus.py) and `SqliteBus` (sqlite_bus.py), the embedded
default's bus in a SQLite file. The relay, the partners, the inbound consumer with its
dead-letter queue and the catalog projector are written once, against this port; the
contract tests (tests/integration/test_bus_contract.py) hold both adapters to it.

The model is Kafka's: a topic has numbered partitions; a message's key picks its
partition, so messages of one key keep their order; a consumer group remembers, per
partition, the offset after the last message it committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

Headers = Sequence[tuple[str, bytes]]


class TopicPartition(NamedTuple):
    """One partition of a topic."""

    topic: str
    partition: int


@dataclass(frozen=True)
class Message:
    """A message as it sits on the bus: where it is, its key, value and headers."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class BusUnavailable(Exception):
    """The bus could not do it now (a broker away, say); the same call may work later."""


class CommitRejected(Exception):
    """The partition is no longer this subscription's: another member of its group owns
    it now and resumes from the offsets committed before."""


class Subscription(Protocol):
    """Messages of some topics, for one member of a consumer group (or for no group)."""

    async def start(self) -> None:
        """Join the group; return once the starting positions are known, so a message
        published after this returns is delivered (unless the group committed past it).

        Positions: the group's committed offsets; where it has none (or with no group),
        the beginning of each partition, or its end with `from_end`."""

    async def poll(self, timeout_s: float, max_messages: int | None = None) -> list[Message]:
        """The next messages (in order within each partition), waiting up to `timeout_s`
        for one to arrive; an empty list when none did."""

    async def commit(self, message: Message) -> None:
        """Record in the group that everything up to and including `message` (in its
        partition) is done. Raises CommitRejected when the partition was taken away,
        BusUnavailable when the bus cannot record it now."""

    def rewind(self, message: Message) -> None:
        """Deliver again from `message` on (its partition), e.g. the rest of a batch that
        could not be finished. Nothing happens when the partition is no longer ours."""

    @property
    def assigned_partitions(self) -> int:
        """How many partitions this member reads now (0 while it waits for them)."""

    @property
    def partitions_revoked(self) -> bool:
        """Whether partitions were taken from this member since the last poll: the rest of
        that poll's messages may belong to another member by now."""

    async def stop(self) -> None:
        """Leave the group; what was not committed is delivered again to its next member."""


class Backlog(Protocol):
    """The messages of a topic from where a reading started to the topic's end at that time."""

    @property
    def total(self) -> int:
        """How many messages the backlog holds."""

    def __aiter__(self) -> AsyncIterator[Message]:
        """Each message of the backlog, once, in order within each partition."""

    async def commit(self, message: Message) -> None:
        """Record in the reading's group that `message` is done (the next reading of the
        group starts after it)."""


class Bus(Protocol):
    """Topics of messages: publish to them, subscribe to them, read them back."""

    @property
    def durable(self) -> bool:
        """Whether published messages and committed offsets outlive this process (Kafka,
        and the SQLite bus: both keep them)."""

    @property
    def shared_between_processes(self) -> bool:
        """Whether processes can share the bus's consumer groups (Kafka). The SQLite bus
        coordinates a group's members within one process only: two processes on its file
        would each run an active member of the same group, so whoever publishes and whoever
        answers over it (relay, partners, inbound consumer) must run in one process."""

    async def ensure_topics(self) -> None:
        """Create the service's topics (topics.TOPICS) that do not exist yet."""

    async def publish(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> None:
        """Append a message to `topic`, in the partition its key picks; return only once
        the bus has it durably (for Kafka: acknowledged by every in-sync replica).
        Raises BusUnavailable when it could not be sure of that."""

    def subscribe(
        self, topics: Sequence[str], group_id: str | None, *, from_end: bool = False
    ) -> Subscription:
        """A subscription to `topics` as a member of `group_id` (members of one group
        share its partitions) or, with None, to every partition without a group."""

    def read_to_end(
        self, topic: str, group_id: str | None = None
    ) -> AbstractAsyncContextManager[Backlog]:
        """Read `topic` from the group's committed offsets (from the beginning without a
        group) up to its end as of now; nothing is committed unless the reader says so."""

    async def end_offsets(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        """Each partition's end: the offset the next message published to it will get."""

    async def committed_offsets(
        self, group_id: str, topics: Iterable[str]
    ) -> dict[TopicPartition, int]:
        """The group's committed offsets in `topics`; partitions it never committed are absent."""

    async def reset_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Set where the group resumes in these partitions (the group must be idle)."""

    async def close(self) -> None:
        """Release connections; subscriptions are stopped by their owners before."""


async def group_lag(bus: Bus, group_id: str, topics: Sequence[str]) -> int | None:
    """Messages of `topics` the group has not committed yet (None when the bus cannot
    say now)."""
    try:
        ends = await bus.end_offsets(topics)
        committed = await bus.committed_offsets(group_id, topics)
    except BusUnavailable:
        return None
    return sum(max(end - committed.get(partition, 0), 0) for partition, end in ends.items())


def by_partition(messages: Iterable[Message]) -> dict[TopicPartition, list[Message]]:
    """The messages grouped by partition, each group in the order given."""
    grouped: dict[TopicPartition, list[Message]] = {}
    for message in messages:
        grouped.setdefault(message.topic_partition, []).append(message)
    return grouped
