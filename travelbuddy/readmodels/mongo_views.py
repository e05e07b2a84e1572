"""`booking_views` on MongoDB: the views' reads, and their change stream for subscriptions.

The change stream is opened fresh every time it has to be reopened, never resumed: a rebuild
swaps the collection in by rename, and a stream resumed across that would be invalidated
at once (or, on the test MongoDB, whenever the collection was ever dropped). `RESYNC` tells
the reader that the changes between the two streams are to be read from the current state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from travelbuddy.eventstore.feeds import IDLE_POLL_SECONDS
from travelbuddy.eventstore.mongo import outages_as_unavailable
from travelbuddy.observability.logs import get_logger
from travelbuddy.readmodels.ports import RESYNC, PageKey, Resync, View

log = get_logger(__name__)

VIEW_INDEXES = [
    IndexModel([("customer_id", ASCENDING), ("status", ASCENDING),
                ("check_in", ASCENDING), ("_id", ASCENDING)], name="customer_status"),
    IndexModel([("customer_id", ASCENDING), ("check_in", ASCENDING),
                ("_id", ASCENDING)], name="customer_check_in"),
    IndexModel([("check_in", ASCENDING)], name="check_in"),
]
PAGE_ORDER = [("check_in", ASCENDING), ("_id", ASCENDING)]

# The test MongoDB answers an empty getMore at once, so an idle stream is polled; a real
# server waits up to MAX_AWAIT_MS, kept short because the getMore that follows a change
# (to see whether more are ready) waits that long too before the batch is handed on.
MAX_AWAIT_MS = 20
CHANGES_BATCH_LIMIT = 500
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
_WRITTEN = frozenset({"insert", "replace", "update"})
# After these the stream watches nothing (a rebuild renamed another collection over it).
_STREAM_ENDS = frozenset({"invalidate", "drop", "rename", "dropDatabase"})


@outages_as_unavailable
class MongoBookingViews:
    """The BookingViewStore port on one collection (`booking_views`, or a rebuild's)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def setup(self) -> None:
        """Indexes for "my bookings" (customer, status, check-in) and for check-in."""
        await self.collection.create_indexes(VIEW_INDEXES)

    async def get(self, booking_id: str) -> View | None:
        """The booking's view, or None."""
        return await self.collection.find_one({"_id": booking_id})

    async def get_many(self, booking_ids: Collection[str]) -> dict[str, View]:
        """The views of these bookings that exist, by booking id (one query)."""
        if not booking_ids:
            return {}
        return {
            view["_id"]: view
            async for view in self.collection.find({"_id": {"$in": list(booking_ids)}})
        }

    async def customer_page(
        self, customer_id: str, status: str | None, first: int, after: PageKey | None
    ) -> list[View]:
        """Up to `first` of the customer's views (of one status, if given) in (check-in,
        booking id) order, after `after`; a view without check-in sorts first (null does)."""
        if first <= 0:  # limit(0) would mean no limit at all
            return []
        query: dict[str, Any] = {"customer_id": customer_id}
        if status is not None:
            query["status"] = status
        if after is not None:
            query["$or"] = _after(after)
        return await self.collection.find(query).sort(PAGE_ORDER).limit(first).to_list()

    async def of_customer(self, customer_id: str) -> list[View]:
        """Every view of the customer, in check-in order (then booking id)."""
        return await self.collection.find({"customer_id": customer_id}).sort(
            PAGE_ORDER).to_list()

    async def count(self) -> int:
        """How many views there are."""
        return await self.collection.count_documents({})

    async def changes(self) -> AsyncIterator[list[View] | Resync]:
        """The views written, a batch (up to CHANGES_BATCH_LIMIT) of what the stream has
        ready at a time, in write order; `RESYNC` whenever a stream was (re)opened.

        The first item is always `RESYNC`, returned once the change stream is open: every
        view written after the first `__anext__` returns is delivered, so a reader that
        reads the current state on each `RESYNC` misses nothing. After a rename or drop
        of the collection (a rebuild's swap) or an error, a fresh stream is opened (after
        a backoff, on errors) and `RESYNC` comes again. One stream per call.
        """
        delay = FIRST_BACKOFF_SECONDS
        while True:
            try:
                stream = await self.collection.watch(
                    full_document="updateLookup", max_await_time_ms=MAX_AWAIT_MS)
            except PyMongoError as error:
                log.warning("view_changes_open_failed", collection=self.collection.name,
                            error=repr(error), delay=round(delay, 1))
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                continue
            try:
                yield RESYNC
                while True:
                    views, ended = await _ready_views(stream)
                    delay = FIRST_BACKOFF_SECONDS  # the stream answers again
                    if views:
                        yield views
                    if ended:
                        log.info("view_changes_reopened", collection=self.collection.name,
                                 reason="ended")
                        break
                    if not views:
                        await asyncio.sleep(IDLE_POLL_SECONDS)
            except PyMongoError as error:
                log.warning("view_changes_failed", collection=self.collection.name,
                            error=repr(error), delay=round(delay, 1))
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            finally:
                with contextlib.suppress(PyMongoError):
                    await stream.close()


async def _ready_views(stream: AsyncChangeStream[dict[str, Any]]) -> tuple[list[View], bool]:
    """The views the stream has ready (at most CHANGES_BATCH_LIMIT), and whether it ended."""
    views: list[View] = []
    while len(views) < CHANGES_BATCH_LIMIT:
        change = await stream.try_next()
        if change is None:
            return views, not stream.alive
        operation = change.get("operationType")
        if operation in _STREAM_ENDS:
            return views, True
        # An update's looked-up document is None when the view is gone by the lookup.
        if operation in _WRITTEN and change.get("fullDocument") is not None:
            views.append(change["fullDocument"])
    return views, False


def _after(key: PageKey) -> list[dict[str, Any]]:
    if key.check_in is None:
        # Comparisons with null match nothing: what follows a view without check-in is
        # every view with one, and those without one with a greater id.
        return [{"check_in": {"$ne": None}}, {"check_in": None, "_id": {"$gt": key.booking_id}}]
    return [{"check_in": {"$gt": key.check_in}},
            {"check_in": key.check_in, "_id": {"$gt": key.booking_id}}]
