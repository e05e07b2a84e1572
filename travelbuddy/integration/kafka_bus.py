"""The Bus port on Kafka (aiokafka), with the clients kafka.py configures: an idempotent
producer waiting for every in-sync replica, consumers that commit only when told to.

One producer, one admin client and one offsets consumer per bus, started on first use and
stopped by `close`; every subscription and every reading has a consumer of its own.
Kafka's errors come out as the port's: BusUnavailable, or CommitRejected for a commit to
a partition that a rebalance took away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from travelbuddy.integration.bus import (
    BusUnavailable,
    CommitRejected,
    Headers,
    Message,
    TopicPartition,
)
from travelbuddy.integration.kafka import (
    StartedClient,
    drop_unsent,
    ensure_topics,
    message_of,
    new_consumer,
    new_producer,
    unavailable_on_kafka_errors,
)
from travelbuddy.integration.topics import TOPICS, TopicSpec
from travelbuddy.observability.logs import get_logger
from travelbuddy.observability.metrics import AssignedPartitions, observed_publish

log = get_logger(__name__)

ASSIGNMENT_WAIT_SECONDS = 30.0
"""How long `start` waits for the group to hand out partitions before going on anyway."""
READ_POLL_MS = 500
PUBLISH_TIMEOUT_SECONDS = 15.0
"""The longest a publish waits for the broker's acknowledgement before the producer is
started anew (an idempotent producer otherwise keeps retrying a broker that is away)."""


class KafkaBus:
    """The Bus port on a Kafka cluster."""

    durable = True
    shared_between_processes = True

    def __init__(self, bootstrap_servers: str, topics: tuple[TopicSpec, ...] = TOPICS) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._topics = topics
        self._producer = StartedClient(lambda: new_producer(bootstrap_servers), lambda p: p.stop(),
                                       drop_unsent)
        self._admin = StartedClient(
            lambda: AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers), lambda a: a.close()
        )
        self._offsets = StartedClient(
            lambda: new_consumer(bootstrap_servers, None), lambda c: c.stop()
        )

    async def ensure_topics(self) -> None:
        """Create the service's topics that do not exist yet (automatic creation is off)."""
        with unavailable_on_kafka_errors():
            await ensure_topics(self.bootstrap_servers, self._topics)

    @observed_publish
    async def publish(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> None:
        """Send the message and wait for the broker's acknowledgement (acks=all).

        A send that fails leaves the idempotent producer in a state it may not leave by
        itself (after a broker restart: OutOfOrderSequenceNumber, an unknown or fenced
        producer id), so the producer is dropped and the next publish starts a new one.
        Messages are sent one at a time, so none is in flight on the dropped producer.
        """
        try:
            with unavailable_on_kafka_errors():
                async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                    producer = await self._producer.get()
                    await producer.send_and_wait(
                        topic, key=key, value=value, headers=list(headers) or None
                    )
        except TimeoutError as error:  # a producer that waits on a broker that is away
            log.warning("producer_reset", reason="publish_timeout")
            await self._producer.discard()
            raise BusUnavailable(f"no acknowledgement in {PUBLISH_TIMEOUT_SECONDS:.0f} s") \
                from error
        except BusUnavailable as error:
            log.warning("producer_reset", reason=repr(error))
            await self._producer.discard()
            raise

    def subscribe(
        self, topics: Sequence[str], group_id: str | None, *, from_end: bool = False
    ) -> KafkaSubscription:
        """A consumer of `topics`: a member of `group_id`, or with None one assigned every
        partition of the topics (no group, nothing committed)."""
        return KafkaSubscription(self, topics, group_id, from_end=from_end)

    @contextlib.asynccontextmanager
    async def read_to_end(
        self, topic: str, group_id: str | None = None
    ) -> AsyncIterator[KafkaBacklog]:
        """A consumer assigned every partition of `topic` (it joins no group, so nothing
        waits for a rebalance), from the group's committed offsets to today's end."""
        with unavailable_on_kafka_errors():
            partitions = await self.partitions(topic)
        consumer = new_consumer(self.bootstrap_servers, group_id)
        with unavailable_on_kafka_errors():
            await consumer.start()
        try:
            backlog = KafkaBacklog(consumer)
            with unavailable_on_kafka_errors():
                await backlog.open(partitions, committed=group_id is not None)
            yield backlog
        finally:
            await consumer.stop()

    async def end_offsets(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        """The end of every partition of `topics` (those that exist)."""
        with unavailable_on_kafka_errors():
            partitions = [tp for topic in topics for tp in await self.partitions(topic)]
            if not partitions:
                return {}
            consumer = await self._offsets.get()
            ends = await consumer.end_offsets(partitions)
        return {TopicPartition(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def committed_offsets(
        self, group_id: str, topics: Iterable[str]
    ) -> dict[TopicPartition, int]:
        """The group's committed offsets, as the group coordinator keeps them."""
        wanted = set(topics)
        with unavailable_on_kafka_errors():
            admin = await self._admin.get()
            offsets = await admin.list_consumer_group_offsets(group_id)
        return {
            TopicPartition(tp.topic, tp.partition): meta.offset
            for tp, meta in offsets.items()
            if tp.topic in wanted and meta.offset >= 0
        }

    async def reset_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit the offsets for the group from outside it (Kafka refuses while the group
        has members)."""
        consumer = new_consumer(self.bootstrap_servers, group_id)
        with unavailable_on_kafka_errors():
            await consumer.start()
            try:
                consumer.assign([KafkaTopicPartition(*tp) for tp in offsets])
                await consumer.commit(
                    {KafkaTopicPartition(*tp): offset for tp, offset in offsets.items()}
                )
            finally:
                await consumer.stop()

    async def close(self) -> None:
        """Stop the producer (flushing what it holds) and the other shared clients."""
        await self._producer.close()
        await self._offsets.close()
        await self._admin.close()

    async def partitions(self, topic: str) -> list[KafkaTopicPartition]:
        """The partitions of a topic, in order; none when it does not exist."""
        admin = await self._admin.get()
        described = await admin.describe_topics([topic])
        return [KafkaTopicPartition(topic, p["partition"])
                for t in described if t["topic"] == topic and t["error_code"] == 0
                for p in sorted(t["partitions"], key=lambda p: int(p["partition"]))]


class _RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Knows when the group first handed out partitions, and when it took some away."""

    def __init__(self) -> None:
        self.assigned = asyncio.Event()
        self.revoked = False

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.revoked = True

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.assigned.set()


class KafkaSubscription:
    """A Subscription: one aiokafka consumer, offsets committed only when told to."""

    def __init__(
        self, bus: KafkaBus, topics: Sequence[str], group_id: str | None, *, from_end: bool
    ) -> None:
        self._bus = bus
        self._topics = list(topics)
        self._group_id = group_id
        self._from_end = from_end
        self._listener = _RebalanceListener()
        self._consumer: AIOKafkaConsumer | None = None
        self._assigned_partitions = AssignedPartitions(group_id)

    async def start(self) -> None:
        """Start the consumer, wait for its partitions, and resolve where each starts."""
        consumer = new_consumer(self._bus.bootstrap_servers, self._group_id,
                                from_end=self._from_end)
        try:
            with unavailable_on_kafka_errors():
                if self._group_id is None:
                    partitions = [tp for t in self._topics for tp in await self._bus.partitions(t)]
                    await consumer.start()
                    consumer.assign(partitions)
                else:
                    consumer.subscribe(self._topics, listener=self._listener)
                    await consumer.start()
                    await self._assigned()
                for tp in consumer.assignment():
                    with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                        await consumer.position(tp)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer

    async def _assigned(self) -> None:
        try:
            await asyncio.wait_for(self._listener.assigned.wait(), ASSIGNMENT_WAIT_SECONDS)
        except TimeoutError:
            log.warning("partitions_not_assigned_yet", group_id=self._group_id,
                        topics=",".join(self._topics), waited_seconds=ASSIGNMENT_WAIT_SECONDS)

    async def poll(self, timeout_s: float, max_messages: int | None = None) -> list[Message]:
        """The next messages of the partitions assigned to this member."""
        consumer = self._started()
        self._listener.revoked = False
        with unavailable_on_kafka_errors():
            batches = await consumer.getmany(
                timeout_ms=int(timeout_s * 1000), max_records=max_messages
            )
        self._assigned_partitions.set(len(consumer.assignment()))
        return [message_of(record) for records in batches.values() for record in records]

    async def commit(self, message: Message) -> None:
        """Commit the offset after `message` in its partition, for the group."""
        consumer = self._started()
        tp = KafkaTopicPartition(message.topic, message.partition)
        try:
            await consumer.commit({tp: message.offset + 1})
        except (CommitFailedError, IllegalStateError) as error:
            raise CommitRejected(str(error)) from error
        except KafkaError as error:
            raise BusUnavailable(repr(error)) from error

    def rewind(self, message: Message) -> None:
        """Fetch again from `message` when its partition is still assigned here."""
        consumer = self._started()
        tp = KafkaTopicPartition(message.topic, message.partition)
        if tp in consumer.assignment():
            consumer.seek(tp, message.offset)

    @property
    def assigned_partitions(self) -> int:
        return 0 if self._consumer is None else len(self._consumer.assignment())

    @property
    def partitions_revoked(self) -> bool:
        return self._listener.revoked

    async def stop(self) -> None:
        """Stop the consumer: the group hands its partitions to the other members."""
        consumer, self._consumer = self._consumer, None
        self._assigned_partitions.set(0)
        if consumer is not None:
            await consumer.stop()

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the subscription is not started")
        return self._consumer


class KafkaBacklog:
    """A Backlog: a consumer assigned a topic's partitions, reading up to their ends."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self._start: dict[KafkaTopicPartition, int] = {}
        self._end: dict[KafkaTopicPartition, int] = {}

    async def open(self, partitions: list[KafkaTopicPartition], *, committed: bool) -> None:
        """Find where to start (the committed offsets, or the beginning) and the ends."""
        if not partitions:
            return
        consumer = self._consumer
        consumer.assign(partitions)
        beginning = await consumer.beginning_offsets(partitions)
        for tp in partitions:
            offset = await consumer.committed(tp) if committed else None
            # Offsets below the beginning were deleted by retention: start after them.
            self._start[tp] = beginning[tp] if offset is None else max(offset, beginning[tp])
            consumer.seek(tp, self._start[tp])
        self._end = await consumer.end_offsets(partitions)

    @property
    def total(self) -> int:
        return sum(max(0, self._end[tp] - start) for tp, start in self._start.items())

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        consumer, end = self._consumer, self._end
        remaining = {tp for tp, start in self._start.items() if start < end[tp]}
        while remaining:
            with unavailable_on_kafka_errors():
                batches = await consumer.getmany(*remaining, timeout_ms=READ_POLL_MS)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < end[tp]:
                        yield message_of(record)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)

    async def commit(self, message: Message) -> None:
        """Commit the offset after `message` for the reading's group."""
        with unavailable_on_kafka_errors():
            await self._consumer.commit(
                {KafkaTopicPartition(message.topic, message.partition): message.offset + 1}
            )
