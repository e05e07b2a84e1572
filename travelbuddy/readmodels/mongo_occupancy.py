"""`occupancy_holds` and `hotel_occupancy` on MongoDB: the stay holds, and the night
documents (`{_id: "hotel|night", hotel_id, night, bookings: [ids]}`) they add up to.

A hold is `{_id: booking id, version, hotel_id, nights: [ISO]}`. Rooms booked on a night
is how many booking ids its document holds; the ids are a set (`$addToSet` / `$pull`), so
writing a hold's nights again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, IndexModel, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from travelbuddy.eventstore.mongo import outages_as_unavailable
from travelbuddy.readmodels.ports import HoldWrite, StayHold

Document = dict[str, Any]
NIGHT_INDEXES = [
    IndexModel([("hotel_id", ASCENDING), ("night", ASCENDING)], name="hotel_night"),
    IndexModel([("bookings", ASCENDING)], name="bookings"),
]


@outages_as_unavailable
class MongoOccupancy:
    """The OccupancyStore port on a holds and a nights collection (live or a rebuild's)."""

    def __init__(
        self, holds: AsyncCollection[dict[str, Any]], nights: AsyncCollection[dict[str, Any]]
    ) -> None:
        self.holds_collection = holds
        self.nights_collection = nights

    async def setup(self) -> None:
        """Indexes for a hotel's nights in a date range, and for a booking's nights (holds
        are read by booking id only)."""
        await self.nights_collection.create_indexes(NIGHT_INDEXES)

    async def holds(self, booking_ids: Collection[str]) -> dict[str, StayHold]:
        """The stored holds of these bookings, by booking id (one query)."""
        if not booking_ids:
            return {}
        query = {"_id": {"$in": list(booking_ids)}}
        return {
            document["_id"]: stay_hold(document)
            async for document in self.holds_collection.find(query)
        }

    async def rooms_booked(
        self, hotel_id: str, start: dt.date, end: dt.date
    ) -> list[tuple[str, int]]:
        """(ISO night, rooms booked) from `start` to `end` inclusive, in night order;
        nights with no room booked are left out."""
        cursor = self.nights_collection.find(
            {"hotel_id": hotel_id, "night": {"$gte": start.isoformat(), "$lte": end.isoformat()}},
            {"night": 1, "bookings": 1},
        ).sort("night", ASCENDING)
        return [(d["night"], len(d["bookings"])) async for d in cursor if d.get("bookings")]


def hold_document(hold: StayHold) -> dict[str, Any]:
    """The stored shape of a hold (nights sorted, so equal holds are equal documents)."""
    return {"_id": hold.booking_id, "version": hold.version, "hotel_id": hold.hotel_id,
            "nights": sorted(hold.nights)}


def stay_hold(document: dict[str, Any]) -> StayHold:
    """A hold read back."""
    return StayHold(booking_id=document["_id"], version=document["version"],
                    hotel_id=document.get("hotel_id"), nights=frozenset(document["nights"]))


@dataclass(frozen=True)
class HoldChange:
    """What a batch's hold writes do to one booking, their guards checked against the
    stored hold: from `stored` to `hold`."""

    stored: StayHold | None
    hold: StayHold


def hold_changes(
    writes: Sequence[HoldWrite], stored: Mapping[str, StayHold]
) -> list[HoldChange]:
    """The writes whose guard holds, applied in order (a booking's second write is guarded
    by its first), one change per booking; a write whose guard does not hold is left out,
    nights and all."""
    current: dict[str, StayHold] = dict(stored)
    changed: dict[str, None] = {}  # the bookings a write passed its guard for, in order
    for write in writes:
        booking_id = write.hold.booking_id
        if _version(current.get(booking_id)) != _version(write.replaces):
            continue  # a delivery before this one got there first
        current[booking_id] = write.hold
        changed[booking_id] = None
    return [HoldChange(stored.get(booking_id), current[booking_id]) for booking_id in changed]


def hold_writes(changes: Iterable[HoldChange]) -> list[InsertOne[Document] | ReplaceOne[Document]]:
    """One write per booking: its new hold, guarded by the version read before."""
    operations: list[InsertOne[Document] | ReplaceOne[Document]] = []
    for change in changes:
        document = hold_document(change.hold)
        if change.stored is None:
            operations.append(InsertOne(document))
        else:
            guard = {"_id": change.hold.booking_id, "version": change.stored.version}
            operations.append(ReplaceOne(guard, document))
    return operations


def night_writes(changes: Iterable[HoldChange]) -> list[UpdateOne | UpdateMany]:
    """For each booking a change touches: `$pull` it from every night document that its
    new hold does not have, whatever hold it was written for (a batch cut short by a crash
    may have written the nights of a hold that was never stored), and `$addToSet` it
    (upserted) to every night of its new hold. The two touch different documents, so
    their order does not matter, and repeating them changes nothing."""
    updates: list[UpdateOne | UpdateMany] = []
    taken: dict[str, list[str]] = {}
    where: dict[str, tuple[str, str]] = {}
    for change in changes:
        booking_id = change.hold.booking_id
        kept = _night_keys(change.hold)
        updates.append(UpdateMany({"bookings": booking_id, "_id": {"$nin": sorted(kept)}},
                                  {"$pull": {"bookings": booking_id}}))
        for key, hotel_and_night in kept.items():
            taken.setdefault(key, []).append(booking_id)
            where[key] = hotel_and_night
    for key in sorted(taken):
        hotel_id, night = where[key]
        updates.append(UpdateOne(
            {"_id": key},
            {"$addToSet": {"bookings": {"$each": taken[key]}},
             "$setOnInsert": {"hotel_id": hotel_id, "night": night}},
            upsert=True,
        ))
    return updates


def _version(hold: StayHold | None) -> int | None:
    return None if hold is None else hold.version


def night_key(hotel_id: str, night: str) -> str:
    """The `_id` of the document of one hotel and (ISO) night."""
    return f"{hotel_id}|{night}"


def _night_keys(hold: StayHold | None) -> dict[str, tuple[str, str]]:
    if hold is None or hold.hotel_id is None:
        return {}
    return {night_key(hold.hotel_id, night): (hold.hotel_id, night) for night in hold.nights}
