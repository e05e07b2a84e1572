"""The projections: how each stored event changes a query collection.

Every `apply` is idempotent, because delivery is at-least-once: `booking_views` applies an
event only when the view's version is lower than the event's, and `hotel_occupancy`
reconciles a booking's nights with sets (`$addToSet`, `$pull`) from its whole stream.
Both take the events in batches (whatever the feed has ready), so a burst costs a few
reads and one bulk write, rather than a round trip or two per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from pymongo import ASCENDING, IndexModel, InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from travelbuddy.eventstore.port import EventStore, StoredEvent
from travelbuddy.readmodels.booking_view import View, fold_into
from travelbuddy.readmodels.occupancy import night_key, occupied_nights

BOOKING_VIEWS = "booking_views"
HOTEL_OCCUPANCY = "hotel_occupancy"
STREAM_PREFIX = "booking-"
DUPLICATE_KEY = 11000
# Events after which a booking holds exactly the nights it held before: a confirmation
# keeps a PENDING or CONFIRMED booking holding, and one that lost its room stays so.
KEEP_NIGHTS = frozenset({"HotelReserved", "FlightReserved", "PerkApplied"})


class Projection(Protocol):
    """Turns stored events into one query collection."""

    name: str

    async def setup(self) -> None:
        """Create the collection's indexes (idempotent)."""
        ...

    async def apply(self, events: Sequence[StoredEvent]) -> None:
        """Apply events given in store order; applying any of them again changes nothing.

        Raises when one of them cannot be applied; the runner then applies them one at a
        time to find and park it.
        """
        ...


def by_booking(events: Iterable[StoredEvent]) -> dict[str, list[StoredEvent]]:
    """The events of booking streams, per booking id, each list in the given order."""
    grouped: dict[str, list[StoredEvent]] = {}
    for event in events:
        if event.stream_id.startswith(STREAM_PREFIX):
            grouped.setdefault(event.stream_id.removeprefix(STREAM_PREFIX), []).append(event)
    return grouped


class BookingViews:
    """`booking_views`: one document per booking, what the booking page shows."""

    name = BOOKING_VIEWS

    def __init__(self, database: AsyncDatabase[dict[str, Any]], collection: str = BOOKING_VIEWS):
        self._views = database[collection]

    async def setup(self) -> None:
        """Indexes for "my bookings" (customer, status, check-in) and for check-in."""
        await self._views.create_indexes([
            IndexModel([("customer_id", ASCENDING), ("status", ASCENDING),
                        ("check_in", ASCENDING), ("_id", ASCENDING)], name="customer_status"),
            IndexModel([("customer_id", ASCENDING), ("check_in", ASCENDING),
                        ("_id", ASCENDING)], name="customer_check_in"),
            IndexModel([("check_in", ASCENDING)], name="check_in"),
        ])

    async def apply(self, events: Sequence[StoredEvent]) -> None:
        """Fold each booking's events into its view, skipping those the view has; one read
        for all the views, then one bulk write of those that changed."""
        grouped = by_booking(events)
        if not grouped:
            return
        stored: dict[str, View] = {
            view["_id"]: view async for view in self._views.find({"_id": {"$in": list(grouped)}})
        }
        changed: list[tuple[int | None, View]] = []
        for booking_id, its_events in grouped.items():
            view = stored.get(booking_id)
            known = None if view is None else view["version"]
            for event in its_events:
                if view is None or event.version > view["version"]:
                    view = fold_into(view, event)  # the document just read is ours to change
            if view is not None and view["version"] != known:
                changed.append((known, view))
        if not changed:
            return
        try:
            await self._views.bulk_write([
                InsertOne(view) if known is None
                else ReplaceOne({"_id": view["_id"], "version": known}, view)
                for known, view in changed
            ], ordered=False)
        except BulkWriteError as error:
            # A view inserted already: an earlier delivery of these events got there first.
            if any(e["code"] != DUPLICATE_KEY for e in error.details["writeErrors"]):
                raise


class HotelOccupancy:
    """`hotel_occupancy`: one document per hotel and night with the ids of the bookings
    holding a room that night; rooms booked = how many ids."""

    name = HOTEL_OCCUPANCY

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        store: EventStore,
        collection: str = HOTEL_OCCUPANCY,
    ) -> None:
        self._nights = database[collection]
        self._store = store

    async def setup(self) -> None:
        """Indexes for a hotel's nights in a date range, and for a booking's nights."""
        await self._nights.create_indexes([
            IndexModel([("hotel_id", ASCENDING), ("night", ASCENDING)], name="hotel_night"),
            IndexModel([("bookings", ASCENDING)], name="bookings"),
        ])

    async def apply(self, events: Sequence[StoredEvent]) -> None:
        """Make the nights holding each booking named by the events match its stream as it
        stands now.

        Reconciling with the latest state (not the state at these events) makes the result
        the same however often, and in whatever order, events are delivered. One read of
        the streams and one of the nights they hold, then one bulk write of the nights that change.
        """
        grouped = {
            booking_id: its_events
            for booking_id, its_events in by_booking(events).items()
            if any(event.type not in KEEP_NIGHTS for event in its_events)
        }
        if not grouped:
            return
        streams = await self._store.read_streams([STREAM_PREFIX + b for b in grouped])
        wanted: dict[str, dict[str, tuple[str, str]]] = {
            booking_id: _nights_held(streams[STREAM_PREFIX + booking_id], its_events[-1].version)
            for booking_id, its_events in grouped.items()
        }
        present: dict[str, set[str]] = {booking_id: set() for booking_id in grouped}
        async for document in self._nights.find({"bookings": {"$in": list(grouped)}},
                                                {"bookings": 1}):
            for booking_id in present.keys() & set(document["bookings"]):
                present[booking_id].add(document["_id"])
        released: dict[str, list[str]] = {}
        taken: dict[str, list[str]] = {}
        where: dict[str, tuple[str, str]] = {}
        for booking_id, nights in wanted.items():
            for key in present[booking_id] - nights.keys():
                released.setdefault(key, []).append(booking_id)
            for key in nights.keys() - present[booking_id]:
                taken.setdefault(key, []).append(booking_id)
                where[key] = nights[key]
        writes = [UpdateOne({"_id": key}, {"$pull": {"bookings": {"$in": released[key]}}})
                  for key in sorted(released)]
        for key in sorted(taken):
            hotel_id, night = where[key]
            writes.append(UpdateOne(
                {"_id": key},
                {"$addToSet": {"bookings": {"$each": taken[key]}},
                 "$setOnInsert": {"hotel_id": hotel_id, "night": night}},
                upsert=True,
            ))
        if writes:
            await self._nights.bulk_write(writes, ordered=False)


def _nights_held(stream: Sequence[StoredEvent], newest: int) -> dict[str, tuple[str, str]]:
    """The night keys (with hotel id and night) the booking holds after its stream; an
    event up to version `newest` that cannot be applied raises (it gets parked)."""
    view: View | None = None
    for stored in stream:
        try:
            view = fold_into(view, stored)  # a fold of our own, from nothing
        except Exception:
            if stored.version <= newest:
                raise
            # A later event cannot be applied: it gets parked when its turn comes.
            # Until then hold what the events up to it say, rather than parking
            # these (applicable) events too and dropping the booking's nights.
            break
    held = occupied_nights(view)
    if held is None:
        return {}
    hotel_id, nights = held
    return {night_key(hotel_id, night): (hotel_id, night) for night in nights}
