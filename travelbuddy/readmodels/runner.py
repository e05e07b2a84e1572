"""The projector runner: follows `events` with a change stream and feeds the projections.

At-least-once: the resume token is saved in `checkpoints` only after every projection has
applied the events before it, so a crash replays a few events and never skips one. With
no checkpoint yet, the runner opens the change stream first and then catches up from the
start of the store, so an event written between the two is seen (perhaps twice), never lost.
A projection that fails on an event parks it in `projection_dlq` and the stream moves on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from travelbuddy.eventstore.feeds import ChangeFeed, FeedCursor
from travelbuddy.eventstore.mongo import MalformedEvent
from travelbuddy.eventstore.port import EventStore, StoredEvent
from travelbuddy.readmodels.checkpoints import CheckpointStore
from travelbuddy.readmodels.dead_letters import ParkedEvents
from travelbuddy.readmodels.projections import Projection

log = logging.getLogger(__name__)

# An empty poll answers at once (mongo-java-server does not wait server-side; the
# embedded feed is a query): pause between empty polls so an idle follower does not spin.
IDLE_POLL_SECONDS = 0.02
CHECKPOINT_EVERY = 100


class ProjectorRunner:
    """Runs a named group of projections over the event stream."""

    def __init__(
        self,
        name: str,
        database: AsyncDatabase[dict[str, Any]],
        store: EventStore,
        feed: ChangeFeed,
        projections: Sequence[Projection],
    ) -> None:
        self.name = name
        self._store = store
        self._feed = feed
        self._projections = list(projections)
        self._checkpoints = CheckpointStore(database)
        self._parked = ParkedEvents(database)
        self.applied = 0
        self.parked = 0

    async def setup(self) -> None:
        """Create every projection's indexes."""
        for projection in self._projections:
            await projection.setup()

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Follow the stream until cancelled. `ready` is set once caught up."""
        await self.setup()
        checkpoint = await self._checkpoints.load(self.name)
        if checkpoint is not None and checkpoint.resume_token is not None:
            cursor = await self._feed.open(checkpoint.resume_token)
            log.info("event=projector_resumed projector=%s", self.name)
        else:
            cursor = await self._feed.open()
            caught_up, last = 0, None
            async for event in self._store.read_all():
                await self.apply(event)
                caught_up, last = caught_up + 1, event
            # Where it stands, for status and readiness; without a resume token yet, a
            # restart catches up again (the projections are idempotent).
            await self._save(cursor, last)
            log.info("event=projector_caught_up projector=%s events=%d", self.name, caught_up)
        if ready is not None:
            ready.set()
        try:
            await self._follow(cursor)
        finally:
            await cursor.close()

    async def _follow(self, cursor: FeedCursor) -> None:
        unsaved = 0
        last: StoredEvent | None = None
        while True:
            try:
                event = await cursor.try_next()
            except MalformedEvent as error:
                self.parked += 1
                log.error("event=malformed_event_parked projector=%s error=%s", self.name, error)
                await self._parked.park_malformed(error.document, error)
                unsaved += 1  # the checkpoint may move past it: it is parked
                continue
            if event is None:
                if unsaved:
                    await self._save(cursor, last)
                    unsaved = 0
                await asyncio.sleep(IDLE_POLL_SECONDS)
                continue
            last = event
            await self.apply(event)
            unsaved += 1
            if unsaved >= CHECKPOINT_EVERY:
                await self._save(cursor, last)
                unsaved = 0

    async def _save(self, cursor: FeedCursor, last: StoredEvent | None) -> None:
        recorded_at = last.metadata.recorded_at if last else None
        await self._checkpoints.save(
            self.name, cursor.resume_token, last.position if last else None, recorded_at
        )

    async def apply(self, event: StoredEvent) -> None:
        """Hand one event to every projection; park it for any projection that fails."""
        for projection in self._projections:
            try:
                await projection.apply(event)
            except Exception as error:
                self.parked += 1
                log.warning(
                    "event=projection_failed projector=%s projection=%s stream_id=%s "
                    "version=%d event_type=%s error=%r",
                    self.name, projection.name, event.stream_id, event.version, event.type, error,
                )
                await self._parked.park(projection.name, event, error)
        self.applied += 1

    async def retry_parked(self) -> tuple[int, int]:
        """Apply parked events again; return (applied, still failing)."""
        by_name = {projection.name: projection for projection in self._projections}
        done = failed = 0
        for entry in await self._parked.list():
            projection = by_name.get(entry["projection"])
            if projection is None:
                continue
            try:
                await projection.apply(ParkedEvents.event_of(entry))
            except Exception as error:
                failed += 1
                await self._parked.park(projection.name, ParkedEvents.event_of(entry), error)
                continue
            await self._parked.remove(entry["_id"])
            done += 1
        return done, failed
