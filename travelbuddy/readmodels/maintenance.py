"""Operating the projections: status and lag, rebuild with a swap, parked events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from travelbuddy.eventstore.port import EventStore
from travelbuddy.readmodels.checkpoints import CheckpointStore
from travelbuddy.readmodels.projections import (
    BOOKING_VIEWS,
    HOTEL_OCCUPANCY,
    BookingViews,
    HotelOccupancy,
    Projection,
)
from travelbuddy.readmodels.runner import BATCH_LIMIT, batches

REBUILDABLE = (BOOKING_VIEWS, HOTEL_OCCUPANCY)


@dataclass(frozen=True)
class ProjectorStatus:
    """Where a projector stands: its last event and how many events it has yet to apply."""

    projector: str
    position: Any
    recorded_at: dt.datetime | None
    saved_at: dt.datetime | None
    lag: int


async def projector_status(
    database: AsyncDatabase[dict[str, Any]], store: EventStore, projector: str
) -> ProjectorStatus:
    """The projector's checkpoint and its lag in events (all events when it has none)."""
    checkpoint = await CheckpointStore(database).load(projector)
    if checkpoint is None or checkpoint.position is None:
        return ProjectorStatus(projector, None, None, None, await store.count())
    lag = await store.count(checkpoint.position)
    return ProjectorStatus(
        projector, checkpoint.position, checkpoint.recorded_at, checkpoint.saved_at, lag
    )


def _projection(
    name: str, database: AsyncDatabase[dict[str, Any]], store: EventStore, collection: str
) -> Projection:
    if name == BOOKING_VIEWS:
        return BookingViews(database, collection)
    if name == HOTEL_OCCUPANCY:
        return HotelOccupancy(database, store, collection)
    raise ValueError(f"unknown projection {name!r}; choose one of {', '.join(REBUILDABLE)}")


async def rebuild(
    name: str,
    database: AsyncDatabase[dict[str, Any]],
    store: EventStore,
    progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Replay the whole store into a fresh collection, then swap it in by rename.

    Readers keep the old collection until the rename, so they never see a half-built
    view. Events appended meanwhile are replayed again after the swap (the projections
    are idempotent), so none is missed. Returns how many events were replayed.
    """
    fresh = f"{name}_rebuild_{uuid.uuid4().hex[:8]}"
    building = _projection(name, database, store, fresh)
    await building.setup()
    replayed, position = 0, None
    while True:  # until a pass finds nothing new
        before = replayed
        async for batch in batches(store.read_all(position), BATCH_LIMIT):
            await building.apply(batch)
            position = batch[-1].position
            replayed += len(batch)
            progress(len(batch))
        if replayed == before:
            break
    await database.client.admin.command(
        "renameCollection", f"{database.name}.{fresh}", to=f"{database.name}.{name}",
        dropTarget=True,
    )
    live = _projection(name, database, store, name)
    await live.setup()
    async for batch in batches(store.read_all(position), BATCH_LIMIT):
        await live.apply(batch)
        replayed += len(batch)
        progress(len(batch))
    return replayed
