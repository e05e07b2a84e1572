"""The read side's ports: what projections write and queries read, in the read side's words.

A `ReadModelStore` holds the query collections (booking views, occupancy, the partners'
catalog) and the runner's bookkeeping (checkpoints, parked events). Projections never
write directly: they describe a batch's effect as a `ProjectionBatch` (views each guarded
by the version they replace, stay holds each guarded by the hold they replace, parked
events, the checkpoint that covers them), and the store commits it. The SQLite adapter
commits a batch in one transaction, checkpoint included, so embedded projection is
exactly-once; the MongoDB adapter writes the views, then the holds and nights, then the
checkpoint, so a crash repeats a batch (at-least-once) and the guards make that harmless.

Two adapters: `travelbuddy.readmodels.mongo` (PyMongo async) and
`travelbuddy.readmodels.sqlite` (the embedded default). Only they know their driver.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from travelbuddy.domain import CatalogView, Flight, Hotel
from travelbuddy.eventstore.port import StoredEvent

View = dict[str, Any]
"""A booking view: what the booking page shows (see `booking_view.py` for its fields)."""

BOOKING_VIEWS = "booking_views"
HOTEL_OCCUPANCY = "hotel_occupancy"
REBUILDABLE = (BOOKING_VIEWS, HOTEL_OCCUPANCY)


@dataclass(frozen=True)
class PageKey:
    """Where a customer's page continues: after this check-in and booking id."""

    check_in: str | None
    booking_id: str


@dataclass(frozen=True)
class ViewWrite:
    """Store `view`, if the stored view is still at version `replaces` (None: no view yet).

    A write whose guard no longer holds is skipped: another delivery of the same events
    got there first, and the view it stored is at least as new.
    """

    view: View
    replaces: int | None


@dataclass(frozen=True)
class StayHold:
    """The nights one booking holds a room for, as the occupancy projection keeps them.

    Every booking has one (a flights-only booking holds no nights), so that the projection
    sees every version of every booking and can tell a gap from a redelivery.
    """

    booking_id: str
    version: int
    hotel_id: str | None
    nights: frozenset[str]
    """ISO dates, check-in inclusive, check-out exclusive; empty once released."""


@dataclass(frozen=True)
class HoldWrite:
    """Store `hold` if the stored hold is still `replaces` (None: no hold yet); the nights
    of `replaces` are given back and those of `hold` taken, in the same write."""

    hold: StayHold
    replaces: StayHold | None


@dataclass(frozen=True)
class ParkedEvent:
    """An event a projection could not apply, kept with the error for an operator."""

    entry_id: str
    projection: str
    event: StoredEvent
    error: str
    attempts: int
    parked_at: dt.datetime


@dataclass(frozen=True)
class Checkpoint:
    """Where a follower (projector, relay) stands in the event stream.

    `resume_token` is the change feed's (adapter-specific). Until the first catch-up is
    done, `caught_up` is False and `applied` counts the events replayed so far.
    """

    follower: str
    resume_token: Any
    position: Any
    recorded_at: dt.datetime | None
    saved_at: dt.datetime
    caught_up: bool = True
    applied: int = 0
    fencing: int | None = None
    """The fencing number of the follower's lease when it was written: a store refuses a
    checkpoint whose number is not the lease's current one (`LeaseLost`)."""


@dataclass(frozen=True)
class Lease:
    """The right to be the one active worker of `name` until `expires_at`.

    `fencing` grows by one whenever the lease changes hands, so a writer that lost its
    lease (paused, partitioned) is recognised by its old number and refused. A name may
    later carry a segment ("relay/segment-0-of-4") to split work by stream hash.
    """

    name: str
    owner: str
    fencing: int
    expires_at: dt.datetime


class LeaseLost(Exception):
    """This worker no longer holds its lease: another took over. Nothing was written."""

    def __init__(self, name: str, fencing: int | None) -> None:
        super().__init__(f"the lease of {name} is no longer held at fencing number {fencing}")
        self.name = name
        self.fencing = fencing


@dataclass
class ProjectionBatch:
    """Everything one batch of events changes, committed by the store at once."""

    views: list[ViewWrite] = field(default_factory=list)
    holds: list[HoldWrite] = field(default_factory=list)
    parked: list[tuple[str, StoredEvent, str]] = field(default_factory=list)
    """(projection, event, error) for each event that could not be applied."""
    unparked: list[str] = field(default_factory=list)
    """Entry ids of parked events applied now (a retry)."""
    checkpoint: Checkpoint | None = None

    def park(self, projection: str, event: StoredEvent, error: BaseException | str) -> None:
        """Add an event that `projection` could not apply."""
        reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.parked.append((projection, event, reason))


class Resync:
    """Yielded by `BookingViewStore.changes` when changes may have been missed (the feed
    was reopened, a rebuild swapped the views): readers should read the current state."""


RESYNC = Resync()


class BookingViewStore(Protocol):
    """`booking_views`: one view per booking."""

    async def get(self, booking_id: str) -> View | None:
        """The booking's view, or None."""
        ...

    async def get_many(self, booking_ids: Collection[str]) -> dict[str, View]:
        """The views of these bookings that exist, by booking id (one query)."""
        ...

    async def customer_page(
        self, customer_id: str, status: str | None, first: int, after: PageKey | None
    ) -> list[View]:
        """Up to `first` of the customer's views (of one status, if given) in (check-in,
        booking id) order, after `after`. A view without check-in sorts first."""
        ...

    async def of_customer(self, customer_id: str) -> list[View]:
        """Every view of the customer, in check-in order (what a subscription starts with)."""
        ...

    async def count(self) -> int:
        """How many views there are."""
        ...

    def changes(self) -> AsyncIterator[list[View] | Resync]:
        """Every view written after the feed opened, in write order, a batch at a time.

        The first item is always `RESYNC`, yielded once the feed is open: a reader that
        reads the current state after it misses no change. Later `RESYNC`s say that some
        changes may have been missed (the feed was reopened, a rebuild swapped the views).
        One per serving process: the subscription fan-out reads it and nothing else does."""
        ...


class OccupancyStore(Protocol):
    """`hotel_occupancy`: rooms booked per hotel and night, and the holds behind them."""

    async def holds(self, booking_ids: Collection[str]) -> dict[str, StayHold]:
        """The stored holds of these bookings, by booking id (one query)."""
        ...

    async def rooms_booked(
        self, hotel_id: str, start: dt.date, end: dt.date
    ) -> list[tuple[str, int]]:
        """(ISO night, rooms booked) from `start` to `end` inclusive, in night order;
        nights with no room booked are left out."""
        ...


class CheckpointStore(Protocol):
    """One checkpoint per follower, keyed by its name."""

    async def load(self, follower: str) -> Checkpoint | None:
        """The follower's checkpoint, or None before its first save."""
        ...

    async def save(self, checkpoint: Checkpoint) -> None:
        """Record where the follower stands (after the effects of everything before it)."""
        ...

    async def names(self) -> list[str]:
        """The followers that have a checkpoint."""
        ...

    async def delete(self, follower: str) -> None:
        """Forget the checkpoint: the follower catches up from the start next time."""
        ...


class ParkedEvents(Protocol):
    """Events a projection could not apply (`projection_dlq`)."""

    async def list(self, projection: str | None = None) -> list[ParkedEvent]:
        """Parked events, by stream and version (the order a retry applies them in)."""
        ...

    async def park_malformed(self, key: str, document: dict[str, Any], error: str) -> None:
        """Keep a stored document that is not an event at all (no projection can apply it;
        it is not listed)."""
        ...

    async def count(self) -> int:
        """How many entries there are, malformed documents included."""
        ...


class CatalogStore(Protocol):
    """`hotels` and `flights`: the partners' catalog, as the catalog projector keeps it."""

    async def put(self, entry: Hotel | Flight) -> None:
        """Store an entry; it replaces what its id held."""
        ...

    async def put_all(self, hotels: Iterable[Hotel], flights: Iterable[Flight]) -> None:
        """Store a whole catalog (the built-in sample when there is no Kafka)."""
        ...

    async def remove(self, entry_id: str) -> None:
        """Forget an entry (a tombstone on the compacted topic)."""
        ...

    async def hotels_in(self, city: str) -> list[Hotel]:
        """The hotels of a city (matched without regard to case), by id."""
        ...

    async def flights_between(self, origin: str, destination: str) -> list[Flight]:
        """The flights from one airport to another (IATA codes, any case), by id."""
        ...

    async def view(self, hotel_ids: set[str], flight_ids: set[str]) -> CatalogView:
        """The application's Catalog port: the named entries; with none named, the whole
        (small) catalog, for perk look-ups."""
        ...

    async def count(self) -> tuple[int, int]:
        """How many hotels and flights there are."""
        ...


class LeaseStore(Protocol):
    """Leases of single-active workers (the read-model projector, the relay, the catalog
    projector), one per name. Times are the caller's clock (UTC)."""

    async def acquire(self, name: str, owner: str, ttl: float) -> Lease | None:
        """Take the lease for `ttl` seconds if it is free, expired or already `owner`'s
        (then it is renewed, keeping its fencing number); a change of hands increments the
        fencing number. None when another owner holds it."""
        ...

    async def renew(self, lease: Lease, ttl: float) -> Lease | None:
        """Extend a held lease by `ttl` seconds from now; None when it was lost."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give a held lease up at once (a clean stop), so a standby need not wait."""
        ...

    async def holder(self, name: str) -> Lease | None:
        """Who holds (or last held) the lease, or None if nobody ever did."""
        ...


class ReadModelStore(Protocol):
    """The query collections and the runner's bookkeeping, on one database."""

    # Read-only (properties), so an adapter may hold its own classes of each part.
    @property
    def views(self) -> BookingViewStore: ...
    @property
    def occupancy(self) -> OccupancyStore: ...
    @property
    def checkpoints(self) -> CheckpointStore: ...
    @property
    def parked(self) -> ParkedEvents: ...
    @property
    def catalog(self) -> CatalogStore: ...
    @property
    def leases(self) -> LeaseStore: ...

    async def setup(self) -> None:
        """Create tables / indexes (idempotent)."""
        ...

    async def commit(self, batch: ProjectionBatch) -> None:
        """Write a batch's views, holds, parked events and checkpoint (see the module doc).
        A parked event parked again is one entry with its attempts counted. A checkpoint
        with a fencing number that is no longer its follower's lease's raises `LeaseLost`
        (on SQLite nothing of the batch is written then)."""
        ...

    async def fresh(self, projection: str) -> ReadModelStore:
        """A store like this one whose `projection` (one of REBUILDABLE) is new and empty,
        for a rebuild; everything else is shared with this store."""
        ...

    async def swap_in(self, fresh: ReadModelStore, projection: str) -> None:
        """Make `fresh`'s `projection` the live one, replacing the old one at once."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...

