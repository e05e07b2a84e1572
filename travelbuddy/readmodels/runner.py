"""The projector runner: follows `events` with a change stream and feeds the projections.

At-least-once: the resume token is saved in `checkpoints` only after every projection has
applied the events before it, so a crash replays a few events and never skips one. With
no checkpoint yet, the runner opens the change stream first and then catches up from the
start of the store, so an event written between the two is seen (perhaps twice), never lost.
A projection that fails on an event parks it in `projection_dlq` and the stream moves on.
Events go to the projections in batches of what the feed has ready, so a backlog is
applied with a few round trips per batch; a batch that fails is applied one event at a
time to find the event to park.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
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
# The most events handed to the projections at once: what the feed has ready, up to this.
BATCH_LIMIT = 200


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
            async for batch in batches(self._store.read_all(), BATCH_LIMIT):
                await self.apply(batch)
                caught_up, last = caught_up + len(batch), batch[-1]
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
            batch, malformed = await self._take(cursor)
            unsaved += malformed  # the checkpoint may move past them: they are parked
            if not batch:
                if unsaved:
                    await self._save(cursor, last)
                    unsaved = 0
                await asyncio.sleep(IDLE_POLL_SECONDS)
                continue
            await self.apply(batch)
            last = batch[-1]
            unsaved += len(batch)
            if unsaved >= CHECKPOINT_EVERY:
                await self._save(cursor, last)
                unsaved = 0

    async def _take(self, cursor: FeedCursor) -> tuple[list[StoredEvent], int]:
        """The events the feed has ready, at most BATCH_LIMIT, and how many malformed
        documents were parked on the way."""
        batch: list[StoredEvent] = []
        malformed = 0
        while len(batch) < BATCH_LIMIT:
            try:
                event = await cursor.try_next()
            except MalformedEvent as error:
                malformed += 1
                self.parked += 1
                log.error("event=malformed_event_parked projector=%s error=%s", self.name, error)
                await self._parked.park_malformed(error.document, error)
                continue
            if event is None:
                break
            batch.append(event)
        return batch, malformed

    async def _save(self, cursor: FeedCursor, last: StoredEvent | None) -> None:
        recorded_at = last.metadata.recorded_at if last else None
        await self._checkpoints.save(
            self.name, cursor.resume_token, last.position if last else None, recorded_at
        )

    async def apply(self, events: Sequence[StoredEvent]) -> None:
        """Hand events to every projection; park each one a projection cannot apply."""
        for projection in self._projections:
            await self._apply_to(projection, events)
        self.applied += len(events)

    async def _apply_to(self, projection: Projection, events: Sequence[StoredEvent]) -> None:
        try:
            await projection.apply(events)
        except Exception as error:
            if len(events) > 1:
                # Which one? Apply them one at a time (applying again changes nothing).
                for event in events:
                    await self._apply_to(projection, [event])
                return
            event = events[0]
            self.parked += 1
            log.warning(
                "event=projection_failed projector=%s projection=%s stream_id=%s "
                "version=%d event_type=%s error=%r",
                self.name, projection.name, event.stream_id, event.version, event.type, error,
            )
            await self._parked.park(projection.name, event, error)

    async def retry_parked(self) -> tuple[int, int]:
        """Apply parked events again; return (applied, still failing)."""
        by_name = {projection.name: projection for projection in self._projections}
        done = failed = 0
        for entry in await self._parked.list():
            projection = by_name.get(entry["projection"])
            if projection is None:
                continue
            try:
                await projection.apply([ParkedEvents.event_of(entry)])
            except Exception as error:
                failed += 1
                await self._parked.park(projection.name, ParkedEvents.event_of(entry), error)
                continue
            await self._parked.remove(entry["_id"])
            done += 1
        return done, failed


async def batches(events: AsyncIterator[StoredEvent], size: int
                  ) -> AsyncIterator[list[StoredEvent]]:
    """The events in lists of `size` (the last one shorter)."""
    batch: list[StoredEvent] = []
    async for event in events:
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
