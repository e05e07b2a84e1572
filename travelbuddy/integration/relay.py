"""The relay: every booking event, from the store's change stream to Kafka.

It is a projector whose effect is a publish: the ProjectorRunner saves the resume token
only after the broker acknowledged the events before it (idempotent producer, acks=all),
so an event can reach the topic twice after a crash, never zero times. While the broker
is down it retries with backoff and then carries on where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pymongo.asynchronous.database import AsyncDatabase

from travelbuddy.eventstore.feeds import ChangeFeed
from travelbuddy.eventstore.port import EventStore, StoredEvent
from travelbuddy.integration.kafka import ensure_topics, new_producer
from travelbuddy.integration.messages import BookingEventEnvelope
from travelbuddy.integration.topics import BOOKINGS
from travelbuddy.readmodels.runner import ProjectorRunner

log = logging.getLogger(__name__)

RELAY = "kafka-relay"
MAX_BACKOFF_SECONDS = 5.0


class KafkaPublisher:
    """A "projection" that publishes each event to `travelbuddy.bookings.v1`."""

    name = RELAY

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def setup(self) -> None:
        """Nothing to prepare: the topics are ensured before the relay starts."""

    async def apply(self, event: StoredEvent) -> None:
        """Publish the event keyed by booking id; return only once the broker has it."""
        envelope = BookingEventEnvelope.of(event)
        key, value = envelope.subject.encode(), envelope.model_dump_json().encode()
        delay = 0.1
        while True:
            try:
                await self._producer.send_and_wait(BOOKINGS, key=key, value=value)
                return
            except KafkaError as error:
                log.warning(
                    "event=publish_retry booking_id=%s event_id=%s error=%r delay=%.1f",
                    envelope.subject, envelope.id, error, delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)


class Relay:
    """The relay process: topics ensured, a producer, and a ProjectorRunner publishing."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        store: EventStore,
        feed: ChangeFeed,
        bootstrap_servers: str,
    ) -> None:
        self._database = database
        self._store = store
        self._feed = feed
        self._bootstrap_servers = bootstrap_servers
        self._runner: ProjectorRunner | None = None

    @property
    def published(self) -> int:
        """Events acknowledged by the broker since this relay started."""
        return self._runner.applied if self._runner else 0

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Run until cancelled; `ready` is set once the relay caught up with the store."""
        await ensure_topics(self._bootstrap_servers)
        producer = new_producer(self._bootstrap_servers)
        await producer.start()
        try:
            self._runner = ProjectorRunner(
                RELAY, self._database, self._store, self._feed, [KafkaPublisher(producer)]
            )
            await self._runner.run(ready)
        finally:
            await producer.stop()
