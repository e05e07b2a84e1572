"""Kafka clients as the service uses them: topics, an idempotent producer, consumers;
and the small pieces that turn them into the Bus port (kafka_bus.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from travelbuddy.integration.bus import BusUnavailable, Message
from travelbuddy.integration.topics import TOPICS, TopicSpec
from travelbuddy.observability.logs import get_logger

log = get_logger(__name__)

C = TypeVar("C")


async def ensure_topics(bootstrap_servers: str, topics: tuple[TopicSpec, ...] = TOPICS) -> None:
    """Create the service's topics that do not exist yet (automatic creation is off)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                spec.name, num_partitions=spec.partitions, replication_factor=1,
                topic_configs={"cleanup.policy": "compact"} if spec.compacted else {},
            )
            for spec in topics
            if spec.name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them meanwhile
            log.info("topics_created", topics=",".join(t.name for t in missing))
    finally:
        await admin.close()


def new_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    """An idempotent producer that waits for every in-sync replica (acks=all)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=10_000,
        retry_backoff_ms=200,
    )


def new_consumer(
    bootstrap_servers: str, group_id: str | None, *topics: str, from_end: bool = False
) -> AIOKafkaConsumer:
    """A consumer that commits offsets only when told to, after handling. Where the group
    committed nothing it starts at the beginning of each partition, or at its end."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="latest" if from_end else "earliest",
        isolation_level="read_committed",
        retry_backoff_ms=200,
    )


def drop_unsent(producer: AIOKafkaProducer) -> None:
    """Fail the messages a producer still holds for a broker that is away, so that its
    `stop` has nothing to flush and ends its sender. Else `stop` waits to send them, and
    cut short it leaves the sender running: a discarded producer would deliver them once
    the broker is back, after the caller's retry sent them again through the next
    producer, each one twice. (aiokafka has no public call for this: its accumulator's.)"""
    producer._message_accumulator.fail_all(KafkaTimeoutError("the producer was discarded"))


@contextlib.contextmanager
def unavailable_on_kafka_errors() -> Iterator[None]:
    """Kafka's errors as the port's BusUnavailable."""
    try:
        yield
    except KafkaError as error:
        raise BusUnavailable(repr(error)) from error


DISCARD_SECONDS = 5.0


class StartedClient(Generic[C]):
    """A client started on first use (again after a failed start) and stopped by `close`."""

    def __init__(
        self,
        create: Callable[[], C],
        stop: Callable[[C], Awaitable[Any]],
        abandon: Callable[[C], None] | None = None,
    ) -> None:
        """`abandon` prepares a client for `discard`: a producer's unsent messages dropped."""
        self._create = create
        self._stop = stop
        self._abandon = abandon
        self._client: C | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> C:
        """The client, started."""
        async with self._lock:
            if self._client is None:
                client: Any = self._create()
                try:
                    await client.start()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await self._stop(client)
                    raise
                self._client = client
            return self._client

    async def close(self) -> None:
        """Stop the client, if it was started; a broker that is away does not hold the
        stop for longer than DISCARD_SECONDS (what was not acknowledged by then is
        published again by the relay, from its checkpoint)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.wait_for(self._stop(client), DISCARD_SECONDS)
            except TimeoutError:
                log.warning("kafka_client_stop_timed_out", seconds=DISCARD_SECONDS)

    async def discard(self) -> None:
        """Stop the client without waiting long for a broker that is away; the next
        `get` starts a new one."""
        async with self._lock:
            client, self._client = self._client, None
        if client is not None:
            if self._abandon is not None:
                self._abandon(client)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._stop(client), DISCARD_SECONDS)


def message_of(record: Any) -> Message:
    """The port's Message for an aiokafka consumer record."""
    return Message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=[(name, bytes(value or b"")) for name, value in record.headers or ()],
    )
