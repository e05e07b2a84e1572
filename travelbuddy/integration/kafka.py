"""Kafka clients as the service uses them: topics, an idempotent producer, consumers."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from travelbuddy.integration.topics import TOPICS, TopicSpec

log = logging.getLogger(__name__)


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
            log.info("event=topics_created topics=%s", ",".join(t.name for t in missing))
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


def new_consumer(bootstrap_servers: str, group_id: str | None, *topics: str) -> AIOKafkaConsumer:
    """A consumer that commits offsets only when told to, after handling."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        retry_backoff_ms=200,
    )
