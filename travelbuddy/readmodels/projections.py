"""The projections: how each stored event changes a query collection.

Every `apply` is idempotent, because delivery is at-least-once: `booking_views` applies an
event only when the view's version is lower than the event's, and `hotel_occupancy`
reconciles a booking's nights with sets (`$addToSet`, `$pull`) from its whole stream.
"""

from __future__ import annotations

from typing import Any, Protocol

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from travelbuddy.eventstore.port import EventStore, StoredEvent
from travelbuddy.readmodels.booking_view import View, apply_to_view
from travelbuddy.readmodels.occupancy import night_key, occupied_nights

BOOKING_VIEWS = "booking_views"
HOTEL_OCCUPANCY = "hotel_occupancy"
STREAM_PREFIX = "booking-"


class Projection(Protocol):
    """Turns stored events into one query collection."""

    name: str

    async def setup(self) -> None:
        """Create the collection's indexes (idempotent)."""
        ...

    async def apply(self, event: StoredEvent) -> None:
        """Apply one event; applying it again changes nothing."""
        ...


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

    async def apply(self, event: StoredEvent) -> None:
        """Fold the event into its booking's view unless the view already has it."""
        if not event.stream_id.startswith(STREAM_PREFIX):
            return
        booking_id = event.stream_id.removeprefix(STREAM_PREFIX)
        current: View | None = await self._views.find_one({"_id": booking_id})
        if current is not None and current["version"] >= event.version:
            return
        view = apply_to_view(current, event)
        if current is None:
            try:
                await self._views.insert_one(view)
            except DuplicateKeyError:
                return  # an earlier delivery of this very event got there first
        else:
            await self._views.replace_one(
                {"_id": booking_id, "version": current["version"]}, view
            )


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

    async def apply(self, event: StoredEvent) -> None:
        """Make the nights holding this booking match its stream as it stands now.

        Reconciling with the latest state (not the state at this event) makes the result
        the same however often, and in whatever order, events are delivered.
        """
        if not event.stream_id.startswith(STREAM_PREFIX):
            return
        booking_id = event.stream_id.removeprefix(STREAM_PREFIX)
        view: View | None = None
        for stored in await self._store.read(event.stream_id):
            try:
                view = apply_to_view(view, stored)
            except Exception:
                if stored.version <= event.version:
                    raise  # this event, or one it builds on, cannot be applied: park it
                # A later event cannot be applied: it gets parked when its turn comes.
                # Until then hold what the events up to it say, rather than parking
                # this (applicable) event too and dropping the booking's nights.
                break
        held = occupied_nights(view)
        wanted: dict[str, tuple[str, str]] = {}
        if held is not None:
            hotel_id, nights = held
            wanted = {night_key(hotel_id, night): (hotel_id, night) for night in nights}
        present = {d["_id"] async for d in self._nights.find({"bookings": booking_id}, {"_id": 1})}
        if stale := present - wanted.keys():
            await self._nights.update_many(
                {"_id": {"$in": sorted(stale)}}, {"$pull": {"bookings": booking_id}}
            )
        for key in sorted(wanted.keys() - present):
            hotel_id, night = wanted[key]
            await self._nights.update_one(
                {"_id": key},
                {"$addToSet": {"bookings": booking_id},
                 "$setOnInsert": {"hotel_id": hotel_id, "night": night}},
                upsert=True,
            )
