"""The projections: how stored events change the query collections.

A projection reads the state it keeps for the batch's bookings (one query), folds the
events into it and adds the writes to the `ProjectionBatch`, which the store commits with
the checkpoint. No projection reads the event store: each keeps what it needs.

Every booking's events are applied in version order, each exactly once:
- an event at or below the version already applied was delivered before: skipped;
- the next version is applied; one that cannot be applied is parked;
- an event further ahead means a version in between is missing (it was parked): the
  event is parked too, as a version gap, so a booking never skips a version. Retrying the
  parked events (`projections retry`) applies them in stream order once the first of
  them can be applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.readmodels.booking_view import View, fold_into
from travelbuddy.readmodels.occupancy import next_hold
from travelbuddy.readmodels.ports import (
    BOOKING_VIEWS,
    HOTEL_OCCUPANCY,
    HoldWrite,
    ProjectionBatch,
    ReadModelStore,
    StayHold,
    ViewWrite,
)

STREAM_PREFIX = "booking-"

State = TypeVar("State")


class VersionGap(ValueError):
    """An event whose booking is missing the version before it (parked earlier)."""

    def __init__(self, event: StoredEvent, applied: int) -> None:
        super().__init__(
            f"{event.type} is version {event.version} of {event.stream_id}, but the "
            f"projection has applied up to version {applied}: waiting for version {applied + 1}"
        )


class Projection(Protocol):
    """Turns stored events into one query collection."""

    name: str

    async def apply(self, events: Sequence[StoredEvent], batch: ProjectionBatch) -> None:
        """Add the writes these events call for to `batch`, and park in it each event
        that cannot be applied. Applying events again changes nothing."""
        ...


def by_booking(events: Iterable[StoredEvent]) -> dict[str, list[StoredEvent]]:
    """The events of booking streams, per booking id, each list in version order."""
    grouped: dict[str, list[StoredEvent]] = {}
    for event in events:
        if event.stream_id.startswith(STREAM_PREFIX):
            grouped.setdefault(event.stream_id.removeprefix(STREAM_PREFIX), []).append(event)
    for its_events in grouped.values():
        its_events.sort(key=lambda event: event.version)
    return grouped


class BookingViews:
    """`booking_views`: one view per booking, what the booking page shows."""

    name = BOOKING_VIEWS

    def __init__(self, store: ReadModelStore) -> None:
        self._views = store.views

    async def apply(self, events: Sequence[StoredEvent], batch: ProjectionBatch) -> None:
        """Fold each booking's new events into its view; one read for the batch."""
        grouped = by_booking(events)
        if not grouped:
            return
        stored = await self._views.get_many(list(grouped))
        for booking_id, its_events in grouped.items():
            view = stored.get(booking_id)
            known = None if view is None else view["version"]
            view = _fold_in_order(self.name, view, its_events, _view_version, fold_into, batch)
            if view is not None and view["version"] != known:
                batch.views.append(ViewWrite(view, known))


class HotelOccupancy:
    """`hotel_occupancy`: rooms booked per hotel and night, from the nights each booking
    holds (claimed when requested or moved, given back when rejected or cancelled)."""

    name = HOTEL_OCCUPANCY

    def __init__(self, store: ReadModelStore) -> None:
        self._occupancy = store.occupancy

    async def apply(self, events: Sequence[StoredEvent], batch: ProjectionBatch) -> None:
        """Fold each booking's new events into the nights it holds; one read for the batch."""
        grouped = by_booking(events)
        if not grouped:
            return
        stored = await self._occupancy.holds(list(grouped))
        for booking_id, its_events in grouped.items():
            before = stored.get(booking_id)
            hold = _fold_in_order(self.name, before, its_events, _hold_version, next_hold, batch)
            if hold is not None and hold != before:
                batch.holds.append(HoldWrite(hold, before))


def _view_version(view: View | None) -> int:
    return 0 if view is None else int(view["version"])


def _hold_version(hold: StayHold | None) -> int:
    return 0 if hold is None else hold.version


def _fold_in_order(
    projection: str,
    state: State | None,
    events: Sequence[StoredEvent],
    version_of: Callable[[State | None], int],
    fold: Callable[[State | None, StoredEvent], State],
    batch: ProjectionBatch,
) -> State | None:
    """Apply a booking's events (in version order) to its state: skip what was applied,
    park what cannot be applied and every version after a missing one."""
    for event in events:
        applied = version_of(state)
        if event.version <= applied:
            continue  # delivered before
        if event.version != applied + 1:
            batch.park(projection, event, VersionGap(event, applied))
            continue
        try:
            state = fold(state, event)
        except Exception as error:  # the fold raises before it changes anything
            batch.park(projection, event, error)
    return state
