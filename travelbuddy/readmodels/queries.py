"""The read-only query API the query schema calls. It reads query collections only."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from travelbuddy.readmodels.booking_view import View
from travelbuddy.readmodels.projections import BOOKING_VIEWS, HOTEL_OCCUPANCY
from travelbuddy.readmodels.runner import IDLE_POLL_SECONDS

MAX_PAGE_SIZE = 100


class InvalidCursor(ValueError):
    """An `after` cursor that this service did not hand out."""


@dataclass(frozen=True)
class Reader:
    """Who reads: a customer sees their own bookings; an agent sees every booking."""

    customer_id: str
    sees_every_booking: bool = False

    def may_see(self, view: View) -> bool:
        return self.sees_every_booking or view.get("customer_id") == self.customer_id


@dataclass(frozen=True)
class BookingPage:
    views: list[View]
    cursors: list[str]
    has_next_page: bool


def encode_cursor(view: View) -> str:
    raw = json.dumps([view.get("check_in"), view["_id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[str | None, str]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as error:
        raise InvalidCursor("invalid cursor") from error
    # Only the [check_in, id] pair encode_cursor writes: unpacking alone would also take a
    # two-key object or a two-character string apart.
    if not isinstance(decoded, list) or len(decoded) != 2:
        raise InvalidCursor("invalid cursor")
    check_in, booking_id = decoded
    if not isinstance(booking_id, str) or not isinstance(check_in, str | None):
        raise InvalidCursor("invalid cursor")
    return check_in, booking_id


class BookingQueries:
    """Reads of `booking_views` and `hotel_occupancy`."""

    def __init__(
        self, database: AsyncDatabase[dict[str, Any]], wait_timeout: float = 2.0
    ) -> None:
        self._views = database[BOOKING_VIEWS]
        self._occupancy = database[HOTEL_OCCUPANCY]
        self._wait_timeout = wait_timeout

    async def booking(self, reader: Reader, booking_id: str) -> View | None:
        """The booking's view, or None when it does not exist or is not the reader's."""
        view: View | None = await self._views.find_one({"_id": booking_id})
        return view if view is not None and reader.may_see(view) else None

    async def booking_at_least(
        self, reader: Reader, booking_id: str, min_version: int
    ) -> tuple[View | None, bool]:
        """Read-your-writes: wait (bounded) until the view reaches `min_version`.

        Returns the newest view and whether it is still behind `min_version`.
        """
        deadline = asyncio.get_running_loop().time() + self._wait_timeout
        while True:
            view = await self.booking(reader, booking_id)
            if view is not None and view["version"] >= min_version:
                return view, False
            if asyncio.get_running_loop().time() >= deadline:
                return view, True
            await asyncio.sleep(IDLE_POLL_SECONDS)

    async def my_bookings(
        self, reader: Reader, status: str | None, first: int, after: str | None
    ) -> BookingPage:
        """The reader's bookings ordered by check-in (then id), a page at a time."""
        query: dict[str, Any] = {"customer_id": reader.customer_id}
        if status is not None:
            query["status"] = status
        if after is not None:
            check_in, booking_id = decode_cursor(after)
            query["$or"] = [
                {"check_in": {"$gt": check_in}},
                {"check_in": check_in, "_id": {"$gt": booking_id}},
            ]
        first = max(0, min(first, MAX_PAGE_SIZE))
        cursor = (
            self._views.find(query)
            .sort([("check_in", ASCENDING), ("_id", ASCENDING)])
            .limit(first + 1)
        )
        views = await cursor.to_list()
        page = views[:first]
        return BookingPage(page, [encode_cursor(v) for v in page], len(views) > first)

    async def hotel_occupancy(
        self, hotel_id: str, start: dt.date, end: dt.date
    ) -> list[tuple[str, int]]:
        """Rooms booked per night from `start` to `end` (inclusive), nights with none left out."""
        cursor = self._occupancy.find(
            {"hotel_id": hotel_id, "night": {"$gte": start.isoformat(), "$lte": end.isoformat()}}
        ).sort("night", ASCENDING)
        return [
            (d["night"], len(d.get("bookings", []))) async for d in cursor if d.get("bookings")
        ]

    async def watch(self, reader: Reader, booking_id: str | None) -> AsyncIterator[View]:
        """The current view(s) first, then every change: one booking, or all of the reader's.

        Fed by a change stream on `booking_views`, opened before the current state is read
        so that no change falls between the two. When the stream ends (a rebuild swapped the
        collection in), it is opened again and the current state sent again.
        """
        match: dict[str, Any] = (
            {"documentKey._id": booking_id}
            if booking_id is not None
            else {"fullDocument.customer_id": reader.customer_id}
        )
        current = {"_id": booking_id} if booking_id else {"customer_id": reader.customer_id}
        last_version: dict[str, int] = {}
        while True:
            stream = await self._views.watch(
                [{"$match": {"$or": [match, {"operationType": {"$in": list(_STREAM_ENDS)}}]}}],
                full_document="updateLookup",
            )
            async with stream:
                async for view in self._views.find(current).sort("check_in", ASCENDING):
                    if reader.may_see(view) and last_version.get(view["_id"], 0) < view["version"]:
                        last_version[view["_id"]] = view["version"]
                        yield view
                while stream.alive:
                    change = await stream.try_next()
                    if change is None:
                        await asyncio.sleep(IDLE_POLL_SECONDS)
                        continue
                    if change.get("operationType") in _STREAM_ENDS:
                        break
                    changed: View | None = change.get("fullDocument")
                    if changed is None or not reader.may_see(changed):
                        continue
                    if last_version.get(changed["_id"], 0) >= changed["version"]:
                        continue
                    last_version[changed["_id"]] = changed["version"]
                    yield changed


_STREAM_ENDS = frozenset({"invalidate", "drop", "rename", "dropDatabase"})
