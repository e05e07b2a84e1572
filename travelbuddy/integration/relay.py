"""The relay: every booking event, from the store's change stream to the bus.

It is a projector whose effect is a publish: the ProjectorRunner saves the resume token
only after the bus accepted the events before it (on Kafka: the idempotent producer's
acks=all), so an event can reach the topic twice after a crash, never zero times. While
the broker is down it retries with backoff and then carries on where it stopped.

On the in-process bus, which forgets everything when the process ends, the relay starts
each run from the beginning of the store: what was published before is gone, and every
consumer of the topic is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from travelbuddy.eventstore.feeds import ChangeFeed
from travelbuddy.eventstore.port import EventStore, StoredEvent
from travelbuddy.integration.bus import Bus, BusUnavailable
from travelbuddy.integration.messages import BookingEventEnvelope
from travelbuddy.integration.topics import BOOKINGS
from travelbuddy.readmodels.ports import ProjectionBatch, ReadModelStore
from travelbuddy.readmodels.runner import ProjectorRunner

log = logging.getLogger(__name__)

RELAY = "kafka-relay"
IN_PROCESS_RELAY = "in-process-relay"
MAX_BACKOFF_SECONDS = 5.0


class BusPublisher:
    """A "projection" that publishes each event to `travelbuddy.bookings.v1`."""

    def __init__(self, bus: Bus, name: str = RELAY) -> None:
        self._bus = bus
        self.name = name
        self.published = 0

    async def apply(self, events: Sequence[StoredEvent], batch: ProjectionBatch) -> None:
        """Publish the events in order, each keyed by booking id; return once the bus has
        them all (the batch gets nothing to write but the relay's checkpoint)."""
        for event in events:
            await self._publish(event)

    async def _publish(self, event: StoredEvent) -> None:
        envelope = BookingEventEnvelope.of(event)
        key, value = envelope.subject.encode(), envelope.model_dump_json().encode()
        delay = 0.1
        while True:
            try:
                await self._bus.publish(BOOKINGS, key, value)
                self.published += 1
                return
            except BusUnavailable as error:
                log.warning(
                    "event=publish_retry booking_id=%s event_id=%s error=%r delay=%.1f",
                    envelope.subject, envelope.id, error, delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)


class Relay:
    """The relay process: topics ensured, and a ProjectorRunner publishing to the bus."""

    def __init__(
        self,
        read_models: ReadModelStore,
        store: EventStore,
        feed: ChangeFeed,
        bus: Bus,
        name: str | None = None,
    ) -> None:
        """`name` names the checkpoint; by default one per kind of bus."""
        self._read_models = read_models
        self._store = store
        self._feed = feed
        self._bus = bus
        self._name = name
        self._publisher: BusPublisher | None = None

    @property
    def published(self) -> int:
        """Events the bus accepted since this relay started."""
        return self._publisher.published if self._publisher else 0

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Run until cancelled; `ready` is set once the relay caught up with the store."""
        await self._bus.ensure_topics()
        name = self._name or (RELAY if self._bus.durable else IN_PROCESS_RELAY)
        if not self._bus.durable:
            await self._read_models.checkpoints.delete(name)
        self._publisher = BusPublisher(self._bus, name)
        runner = ProjectorRunner(
            name, self._read_models, self._store, self._feed, [self._publisher])
        await runner.run(ready)
