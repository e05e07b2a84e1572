"""The projector runner: follows the change feed and feeds the projections.

Each batch (what the feed has ready, up to BATCH_LIMIT events) goes to every projection,
which adds its writes to one `ProjectionBatch`; the store commits the batch together with
the checkpoint that covers it. On the embedded default that is one transaction
(exactly-once); on MongoDB the checkpoint is written last, so a crash repeats a batch and
the projections' version guards make the repeat harmless (at-least-once).

With no checkpoint yet, the runner opens the feed first, then replays the store stream by
stream in version order (`EventStore.read_all`), then follows the feed from where it was
opened: an event written meanwhile is seen twice, never lost, and a booking's events are
never applied out of order, whichever process wrote them. Until that first catch-up is
done the checkpoint says so (`caught_up` False), and readiness answers 503.

An event no projection can apply is parked with the batch; when the batch cannot be
committed with its parked events, each is parked alone, as a minimal record when its own
record cannot be stored (`parking.py`), and the batch is committed without them. A batch
that still fails is applied again event by event, so the failure names its event, which
this process's `FollowerFailures` keep for readiness.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any

from travelbuddy.eventstore.feeds import ChangeFeed, FeedCursor
from travelbuddy.eventstore.port import EventStore, MalformedEvent, StoredEvent
from travelbuddy.health import FollowerFailure, FollowerFailures
from travelbuddy.observability.logs import bound, get_logger
from travelbuddy.observability.metrics import FOLLOWER_HANDLED, FOLLOWER_PARKED, follower_of
from travelbuddy.observability.tracing import traced_batch
from travelbuddy.readmodels.parking import park_document, park_each
from travelbuddy.readmodels.ports import Checkpoint, LeaseLost, ProjectionBatch, ReadModelStore
from travelbuddy.readmodels.projections import Projection
from travelbuddy.readmodels.single_active import SingleActive

log = get_logger(__name__)

# The most events handed to the projections at once: what the feed has ready, up to this.
BATCH_LIMIT = 200
# During a first catch-up, how often its progress is recorded (for status and readiness).
PROGRESS_EVERY = 2_000


class ProjectorRunner:
    """Runs a named group of projections over the event stream."""

    def __init__(
        self,
        name: str,
        read_models: ReadModelStore,
        store: EventStore,
        feed: ChangeFeed,
        projections: Sequence[Projection],
        single_active: SingleActive | None = None,
        failures: FollowerFailures | None = None,
    ) -> None:
        """With `single_active`, the runner works only while it holds that lease, and its
        checkpoints carry the lease's fencing number. `failures`: where it says on which
        event it failed (the process's, for readiness)."""
        self.name = name
        self._single_active = single_active
        self._read_models = read_models
        self._store = store
        self._feed = feed
        self._projections = list(projections)
        self.applied = 0
        self.parked = 0
        self._position: Any = None
        self._recorded_at: dt.datetime | None = None
        self._failures = failures or FollowerFailures()
        self._applying: StoredEvent | None = None
        """The event a failure is to be blamed on: the one applied alone (or a batch's first)."""

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Follow the stream until cancelled. `ready` is set once caught up. A standby
        (another replica holds the lease) waits; LeaseLost when the lease is lost."""
        try:
            if self._single_active is None:
                await self._run(ready)
            else:
                await self._single_active.run(lambda: self._run(ready))
        except LeaseLost:
            raise
        except Exception as error:
            self._failed(error)
            raise

    def _failed(self, error: Exception) -> None:
        event = self._applying
        failure = FollowerFailure(
            position=str(event.position if event else self._position),
            stream_id=event.stream_id if event else None,
            version=event.version if event else None, error=repr(error)[:500])
        self._failures.failed(self.name, failure)
        log.error("follower_failed", follower=self.name, position=failure.position,
                  stream_id=failure.stream_id, version=failure.version,
                  failures=self._failures.failing[self.name].failures, error=repr(error))

    async def _run(self, ready: asyncio.Event | None) -> None:
        checkpoint = await self._read_models.checkpoints.load(self.name)
        if checkpoint is not None and checkpoint.caught_up and checkpoint.resume_token is not None:
            cursor = await self._feed.open(checkpoint.resume_token)
            self._position, self._recorded_at = checkpoint.position, checkpoint.recorded_at
            log.info("projector_resumed", projector=self.name)
        else:
            cursor = await self._feed.open()
            await self._catch_up(cursor)
        if ready is not None:
            ready.set()
        try:
            await self._follow(cursor)
        finally:
            await cursor.close()

    async def _catch_up(self, cursor: FeedCursor) -> None:
        """Replay the store stream by stream into the projections (the feed is open)."""
        caught_up = 0
        async for batch in batches(self._store.read_all(), BATCH_LIMIT):
            done = caught_up + len(batch)
            progress = None
            if done // PROGRESS_EVERY != caught_up // PROGRESS_EVERY:
                progress = self._checkpoint(None, caught_up=False, applied=done)
            await self.apply(batch, progress)
            caught_up = done
            for event in batch:  # where the replay reached, for the lag until the feed moves
                if self._position is None or _after(event.position, self._position):
                    self._position, self._recorded_at = event.position, event.metadata.recorded_at
        await self._commit(ProjectionBatch(), cursor)
        log.info("projector_caught_up", projector=self.name, events=caught_up)

    async def _follow(self, cursor: FeedCursor) -> None:
        while True:
            batch, malformed = await self._take(cursor)
            if batch or malformed:
                await self.apply(batch, self._checkpoint(cursor.resume_token))
                continue
            await cursor.wait()

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
                FOLLOWER_PARKED.labels(follower_of(self.name), type(error).__name__).inc()
                log.error("malformed_event_parked", projector=self.name, error=str(error))
                await park_document(self._read_models, self.name,
                                    str(error.document.get("_id")), error.document, str(error))
                continue
            if event is None:
                break
            batch.append(event)
            self._position, self._recorded_at = event.position, event.metadata.recorded_at
        return batch, malformed

    async def _commit(self, batch: ProjectionBatch, cursor: FeedCursor) -> None:
        batch.checkpoint = self._checkpoint(cursor.resume_token)
        await self._read_models.commit(batch)

    def _checkpoint(
        self, resume_token: Any, *, caught_up: bool = True, applied: int = 0
    ) -> Checkpoint:
        fencing = None
        if self._single_active is not None:
            self._single_active.check()  # never write past the lease
            fencing = self._single_active.fencing
        return Checkpoint(
            follower=self.name, resume_token=resume_token, position=self._position,
            recorded_at=self._recorded_at, saved_at=dt.datetime.now(dt.UTC),
            caught_up=caught_up, applied=applied, fencing=fencing,
        )

    @traced_batch
    async def apply(self, events: Sequence[StoredEvent], checkpoint: Checkpoint | None) -> None:
        """Hand events to every projection and commit what they wrote, with `checkpoint`
        (a batch that fails is applied again an event at a time, without checkpoints, so
        the failure names its event; see the module doc)."""
        self._applying = events[0] if events else None
        try:
            await self._apply(events, checkpoint)
        except LeaseLost:
            raise
        except Exception:
            if len(events) < 2:
                raise
            for event in events:
                self._applying = event
                await self._apply([event], None)
            await self._apply([], checkpoint)
        self._applying = None
        self._failures.progressed(self.name)

    async def _apply(self, events: Sequence[StoredEvent], checkpoint: Checkpoint | None) -> None:
        batch = ProjectionBatch(checkpoint=checkpoint)
        with bound(projector=self.name, batch_events=len(events)):
            for projection in self._projections:
                await projection.apply(events, batch)
            try:
                await self._read_models.commit(batch)
            except LeaseLost:
                raise
            except Exception as error:
                if not batch.parked:
                    raise
                log.error("parking_failed", follower=self.name, parked=len(batch.parked),
                          error=repr(error))
                await park_each(self._read_models, self.name, batch.parked)
                await self._read_models.commit(dataclasses.replace(batch, parked=[]))
            self.applied += len(events)
            FOLLOWER_HANDLED.labels(follower_of(self.name)).inc(len(events))
            self._log_parked(batch)

    def _log_parked(self, batch: ProjectionBatch) -> None:
        for projection, event, error in batch.parked:
            self.parked += 1
            # The error reads "<exception class>: <message>": the class is the reason.
            FOLLOWER_PARKED.labels(follower_of(self.name), error.partition(":")[0]).inc()
            log.warning(
                "projection_failed", projector=self.name, projection=projection,
                stream_id=event.stream_id, version=event.version, event_type=event.type,
                error=repr(error),
            )

    async def retry_parked(self) -> tuple[int, int]:
        """Apply parked events again, in stream order; return (applied, still failing)."""
        entries = await self._read_models.parked.list()
        done = failed = 0
        for projection in self._projections:
            mine = [entry for entry in entries if entry.projection == projection.name]
            if not mine:
                continue
            batch = ProjectionBatch()
            await projection.apply([entry.event for entry in mine], batch)
            still = {event.metadata.event_id for _, event, _ in batch.parked}
            batch.unparked = [e.entry_id for e in mine if e.event.metadata.event_id not in still]
            await self._read_models.commit(batch)
            done, failed = done + len(batch.unparked), failed + len(still)
        return done, failed


def _after(position: Any, other: Any) -> bool:
    try:
        return bool(position > other)
    except TypeError:
        return True


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
