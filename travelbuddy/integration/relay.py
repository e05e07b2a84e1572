"""The relay: every booking event, from the store's change stream to the bus.

It is a projector whose effect is a publish: the ProjectorRunner saves the resume token
only after the bus accepted the events before it (on Kafka: the idempotent producer's
acks=all; on the SQLite bus: committed to its file), so an event can reach the topic twice
after a crash, never zero times. While the broker is down it retries with backoff and then
carries on where it stopped. Both buses keep what was published, so a restarted relay
resumes from its checkpoint and publishes nothing again. A stored event that cannot be
made into a message (data that is not an object, say) is parked under the relay's name
and the relay moves on (`projections dlq` lists it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from travelbuddy.eventstore.feeds import ChangeFeed
from travelbuddy.eventstore.port import EventStore, StoredEvent
from travelbuddy.health import WorkerHealth
from travelbuddy.integration.bus import Bus, BusUnavailable
from travelbuddy.integration.messages import BookingEventEnvelope
from travelbuddy.integration.topics import BOOKINGS
from travelbuddy.observability.logs import bound, event_ids
from travelbuddy.observability.retries import RETRY, Backoff, retrying
from travelbuddy.observability.tracing import outgoing_headers, traced_publish
from travelbuddy.readmodels.ports import ProjectionBatch, ReadModelStore
from travelbuddy.readmodels.runner import ProjectorRunner
from travelbuddy.readmodels.single_active import SingleActive

RELAY = "kafka-relay"
EMBEDDED_RELAY = "sqlite-bus-relay"
"""The relay's checkpoint on the SQLite bus: one per kind of bus, as each is fed apart."""
FORGETFUL_BUS_RELAY = "in-process-relay"
"""The checkpoint of the relay to the in-process bus the SQLite bus replaced, which forgot
its messages at every exit. It says nothing about what `bus.sqlite3` holds: the relay to
the SQLite bus keeps a checkpoint of its own (its first run on an older data folder
publishes every event once) and deletes this one, which `projections status` would list."""


class BusPublisher:
    """A "projection" that publishes each event to `travelbuddy.bookings.v1`."""

    def __init__(self, bus: Bus, name: str = RELAY, health: WorkerHealth | None = None,
                 backoff: Backoff = RETRY) -> None:
        self._bus = bus
        self.name = name
        self.published = 0
        self._health = health or WorkerHealth()
        self._backoff = backoff

    async def apply(self, events: Sequence[StoredEvent], batch: ProjectionBatch) -> None:
        """Publish the events in order, each keyed by booking id; return once the bus has
        them all (the batch gets nothing to write but the relay's checkpoint, and the
        events that are no message parked)."""
        for event in events:
            with bound(**event_ids(event)):
                try:
                    envelope = BookingEventEnvelope.of(event)
                    key, value = envelope.subject.encode(), envelope.model_dump_json().encode()
                except ValueError as error:  # not valid, or not encodable (a lone surrogate)
                    batch.park(self.name, event, error)
                    continue
                await self._publish(event, key, value)

    @traced_publish
    async def _publish(self, event: StoredEvent, key: bytes, value: bytes) -> None:
        """Publish one event's message, retried for as long as the bus is unavailable."""
        headers = outgoing_headers()
        self._health.publishing()
        await retrying("relay_publish", lambda: self._send(key, value, headers),
                       on=(BusUnavailable,), backoff=self._backoff)
        self.published += 1
        self._health.published()

    async def _send(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        try:
            await self._bus.publish(BOOKINGS, key, value, headers)
        except BusUnavailable as error:
            self._health.publish_failed(error)
            raise


class Relay:
    """The relay process: topics ensured, and a ProjectorRunner publishing to the bus."""

    def __init__(
        self,
        read_models: ReadModelStore,
        store: EventStore,
        feed: ChangeFeed,
        bus: Bus,
        name: str | None = None,
        single_active: SingleActive | None = None,
        health: WorkerHealth | None = None,
        backoff: Backoff = RETRY,
    ) -> None:
        """`name` names the checkpoint (and the lease); by default one per kind of bus.
        With `single_active` (that lease), only one relay of all replicas publishes;
        `backoff` is the wait between tries of a publish the bus refused."""
        self._read_models = read_models
        self._store = store
        self._feed = feed
        self._bus = bus
        self.name = name or relay_name(bus)
        self._single_active = single_active
        self._health = health
        self._backoff = backoff
        self._publisher: BusPublisher | None = None

    @property
    def published(self) -> int:
        """Events the bus accepted since this relay started."""
        return self._publisher.published if self._publisher else 0

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Run until cancelled; `ready` is set once the relay caught up with the store."""
        await self._bus.ensure_topics()
        if self.name == EMBEDDED_RELAY:
            await self._read_models.checkpoints.delete(FORGETFUL_BUS_RELAY)
        self._publisher = BusPublisher(self._bus, self.name, self._health, self._backoff)
        runner = ProjectorRunner(self.name, self._read_models, self._store, self._feed,
                                 [self._publisher], self._single_active,
                                 self._health.followers if self._health else None)
        await runner.run(ready)


def relay_name(bus: Bus) -> str:
    """The relay's checkpoint and lease name on this kind of bus."""
    return RELAY if bus.shared_between_processes else EMBEDDED_RELAY
