"""Operating the projections: status and lag, rebuild with a swap."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from travelbuddy.eventstore.feeds import ChangeFeed
from travelbuddy.eventstore.port import EventStore
from travelbuddy.readmodels.ports import (
    BOOKING_VIEWS,
    HOTEL_OCCUPANCY,
    REBUILDABLE,
    ProjectionBatch,
    ReadModelStore,
)
from travelbuddy.readmodels.projections import BookingViews, HotelOccupancy, Projection
from travelbuddy.readmodels.runner import BATCH_LIMIT, batches


@dataclass(frozen=True)
class ProjectorStatus:
    """Where a follower stands: its last event, how far behind it is, in events and in
    seconds (the age of the oldest event it has not applied), and whether its first
    catch-up is done."""

    projector: str
    position: Any
    recorded_at: dt.datetime | None
    saved_at: dt.datetime | None
    lag: int
    lag_seconds: float
    caught_up: bool


async def projector_status(
    read_models: ReadModelStore, store: EventStore, projector: str
) -> ProjectorStatus:
    """The follower's checkpoint and its lag (every event, when it has none)."""
    checkpoint = await read_models.checkpoints.load(projector)
    now = dt.datetime.now(dt.UTC)
    if checkpoint is None or not checkpoint.caught_up:
        total = await store.count()
        applied = checkpoint.applied if checkpoint else 0
        oldest = await store.oldest_recorded_at() if total else None
        return ProjectorStatus(
            projector, None, None, checkpoint.saved_at if checkpoint else None,
            max(total - applied, 0), _seconds_since(oldest, now), caught_up=False,
        )
    lag = await store.count(checkpoint.position)  # no position: nothing applied yet
    behind_since = await store.oldest_recorded_at(checkpoint.position) if lag else None
    return ProjectorStatus(
        projector, checkpoint.position, checkpoint.recorded_at, checkpoint.saved_at, lag,
        _seconds_since(behind_since, now), caught_up=True,
    )


def _seconds_since(moment: dt.datetime | None, now: dt.datetime) -> float:
    return 0.0 if moment is None else max((now - moment).total_seconds(), 0.0)


def projection_named(name: str, read_models: ReadModelStore) -> Projection:
    """The projection `name` (one of REBUILDABLE) writing to `read_models`."""
    if name == BOOKING_VIEWS:
        return BookingViews(read_models)
    if name == HOTEL_OCCUPANCY:
        return HotelOccupancy(read_models)
    raise ValueError(f"unknown projection {name!r}; choose one of {', '.join(REBUILDABLE)}")


async def rebuild(
    name: str,
    read_models: ReadModelStore,
    store: EventStore,
    feed: ChangeFeed,
    progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Replay the whole store into a fresh table / collection, then swap it in.

    The feed is opened first; then every stream is replayed in version order into the
    fresh copy; then what the feed carried meanwhile is applied to it, and again to the
    live one after the swap, so nothing appended during the rebuild is missed (applying an
    event twice changes nothing). Readers see the old copy until the swap and the whole
    new one after it. Returns how many events were applied.
    """
    projection_named(name, read_models)  # an unknown name fails before anything is made
    cursor = await feed.open()
    try:
        fresh = await read_models.fresh(name)
        building = projection_named(name, fresh)
        replayed = 0
        async for batch in batches(store.read_all(), BATCH_LIMIT):
            replayed += await _apply(building, fresh, batch, progress)
        backlog = []
        while (event := await cursor.try_next()) is not None:
            backlog.append(event)
        replayed += await _apply(building, fresh, backlog, progress)
        await read_models.swap_in(fresh, name)
        live = projection_named(name, read_models)
        while (event := await cursor.try_next()) is not None:
            backlog.append(event)
        replayed += await _apply(live, read_models, backlog, progress)
    finally:
        await cursor.close()
    return replayed


async def _apply(projection: Projection, target: ReadModelStore, events: list[Any],
                 progress: Callable[[int], None]) -> int:
    """Apply and commit the events BATCH_LIMIT at a time; return how many there were."""
    for start in range(0, len(events), BATCH_LIMIT):
        batch = ProjectionBatch()
        chunk = events[start:start + BATCH_LIMIT]
        await projection.apply(chunk, batch)
        await target.commit(batch)
        progress(len(chunk))
    return len(events)
