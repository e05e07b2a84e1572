"""The read-only query API the query schema calls. It reads query collections only."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from dataclasses import dataclass

from travelbuddy.domain.text import text_fault
from travelbuddy.readmodels.ports import PageKey, ReadModelStore, View

MAX_PAGE_SIZE = 100
READ_YOUR_WRITES_POLL_SECONDS = 0.02


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
    except (ValueError, TypeError, RecursionError) as error:  # RecursionError: JSON nested
        raise InvalidCursor("invalid cursor") from error      # deeper than json.loads goes
    # Only the [check_in, id] pair encode_cursor writes: unpacking alone would also take a
    # two-key object or a two-character string apart.
    if not isinstance(decoded, list) or len(decoded) != 2:
        raise InvalidCursor("invalid cursor")
    check_in, booking_id = decoded
    if not isinstance(booking_id, str) or not isinstance(check_in, str | None):
        raise InvalidCursor("invalid cursor")
    # JSON escapes can carry a lone surrogate, which no store can look up.
    if text_fault(booking_id) is not None or (check_in is not None and text_fault(check_in)):
        raise InvalidCursor("invalid cursor")
    return check_in, booking_id


class BookingQueries:
    """Reads of the booking views and the occupancy, on the read-model port."""

    def __init__(self, read_models: ReadModelStore, wait_timeout: float = 2.0) -> None:
        self._views = read_models.views
        self._occupancy = read_models.occupancy
        self._wait_timeout = wait_timeout

    async def booking(self, reader: Reader, booking_id: str) -> View | None:
        """The booking's view, or None when it does not exist or is not the reader's."""
        view = await self._views.get(booking_id)
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
            await asyncio.sleep(READ_YOUR_WRITES_POLL_SECONDS)

    async def my_bookings(
        self, reader: Reader, status: str | None, first: int, after: str | None
    ) -> BookingPage:
        """The reader's bookings ordered by check-in (then id), a page at a time."""
        key = None
        if after is not None:
            check_in, booking_id = decode_cursor(after)
            key = PageKey(check_in, booking_id)
        first = max(0, min(first, MAX_PAGE_SIZE))
        views = await self._views.customer_page(reader.customer_id, status, first + 1, key)
        page = views[:first]
        return BookingPage(page, [encode_cursor(v) for v in page], len(views) > first)

    async def hotel_occupancy(
        self, hotel_id: str, start: dt.date, end: dt.date
    ) -> list[tuple[str, int]]:
        """Rooms booked per night from `start` to `end` (inclusive), nights with none left out."""
        return await self._occupancy.rooms_booked(hotel_id, start, end)
