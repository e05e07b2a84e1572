"""The ReadModelStore on MongoDB (PyMongo's async API): the query collections and the
runner's bookkeeping on one database.

There are no transactions (the test MongoDB has none), so `commit` writes a batch in
steps, each idempotent and guarded, and the checkpoint last: a crash anywhere repeats the
batch, and the repeat converges on the same documents. The client belongs to the caller.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from pymongo import InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from travelbuddy.eventstore.mongo import outages_as_unavailable
from travelbuddy.readmodels.mongo_bookkeeping import (
    CHECKPOINTS,
    PROJECTION_DLQ,
    MongoCheckpoints,
    MongoParkedEvents,
    park_updates,
)
from travelbuddy.readmodels.mongo_catalog import FLIGHTS, HOTELS, MongoCatalogStore
from travelbuddy.readmodels.mongo_leases import LEASES, MongoLeases
from travelbuddy.readmodels.mongo_occupancy import (
    MongoOccupancy,
    hold_changes,
    hold_writes,
    night_writes,
)
from travelbuddy.readmodels.mongo_views import MongoBookingViews
from travelbuddy.readmodels.ports import (
    BOOKING_VIEWS,
    HOTEL_OCCUPANCY,
    REBUILDABLE,
    HoldWrite,
    ProjectionBatch,
    ReadModelStore,
    ViewWrite,
)

OCCUPANCY_HOLDS = "occupancy_holds"
DUPLICATE_KEY = 11000

Document = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ProjectionCollections:
    """The names of the collections a rebuild replaces; the live ones by default."""

    views: str = BOOKING_VIEWS
    holds: str = OCCUPANCY_HOLDS
    nights: str = HOTEL_OCCUPANCY

    def of(self, projection: str) -> tuple[str, ...]:
        """The collections making up one of REBUILDABLE; ValueError for another name."""
        if projection == BOOKING_VIEWS:
            return (self.views,)
        if projection == HOTEL_OCCUPANCY:
            return (self.holds, self.nights)
        raise ValueError(
            f"unknown projection {projection!r}; choose one of {', '.join(REBUILDABLE)}")


@outages_as_unavailable
class MongoReadModels:
    """The ReadModelStore port on a MongoDB database.

    `booking_views`, `occupancy_holds` + `hotel_occupancy`, `checkpoints`,
    `projection_dlq`, `hotels` and `flights`; `collections` names the first three
    otherwise (a rebuild's fresh store).
    """

    def __init__(
        self,
        database: AsyncDatabase[Document],
        collections: ProjectionCollections | None = None,
    ) -> None:
        self._database = database
        self.collections = collections or ProjectionCollections()
        # The port's parts are read-only properties, so these may be the adapter's own
        # classes (the commit writes to their collections).
        self.views = MongoBookingViews(database[self.collections.views])
        self.occupancy = MongoOccupancy(
            database[self.collections.holds], database[self.collections.nights])
        self.checkpoints = MongoCheckpoints(database[CHECKPOINTS])
        self.parked = MongoParkedEvents(database[PROJECTION_DLQ])
        self.catalog = MongoCatalogStore(database[HOTELS], database[FLIGHTS])
        self.leases = MongoLeases(database[LEASES])

    async def setup(self) -> None:
        """Create every collection's indexes (idempotent: safe at every start-up)."""
        await self.views.setup()
        await self.occupancy.setup()
        await self.parked.setup()
        await self.catalog.setup()

    async def commit(self, batch: ProjectionBatch) -> None:
        """Write the batch in steps, skipping empty ones: the views; the holds' guards
        read, then the nights of the holds whose guard holds, then those holds; the parked
        events; the unparked ones; and last the checkpoint.

        Views and holds are guarded by the version they replace; a write whose guard does
        not hold (a delivery before this one got there first) is skipped, and a stale hold
        takes and gives back no night. The nights go before the holds: a hold is the
        record that its nights were written (a projection writes a hold only when it
        differs from the stored one), so a crash between the two repeats the same hold
        writes, and their nights with them, rather than finding the holds up to date and
        their nights never written.
        """
        if batch.views:
            await _guarded_bulk_write(self.views.collection, _view_writes(batch.views))
        if batch.holds:
            await self._commit_holds(batch.holds)
        if batch.parked:
            await self.parked.collection.bulk_write(
                park_updates(batch.parked, dt.datetime.now(dt.UTC)), ordered=False)
        if batch.unparked:
            await self.parked.collection.delete_many({"_id": {"$in": batch.unparked}})
        if batch.checkpoint is not None:
            await self.checkpoints.save(batch.checkpoint)

    async def _commit_holds(self, writes: Sequence[HoldWrite]) -> None:
        # The guards are checked on a read first, so that a stale write (a redelivery)
        # takes and gives back no night; the holds' own writes stay guarded.
        stored = await self.occupancy.holds({write.hold.booking_id for write in writes})
        changes = hold_changes(writes, stored)
        if not changes:
            return
        if nights := night_writes(changes):
            await self.occupancy.nights_collection.bulk_write(nights, ordered=False)
        await _guarded_bulk_write(self.occupancy.holds_collection, hold_writes(changes))

    async def fresh(self, projection: str) -> MongoReadModels:
        """A store on the same database whose `projection` collections are new, empty
        and indexed (names with a unique suffix); everything else is this store's.
        ValueError for a projection not in REBUILDABLE."""
        suffix = f"_rebuild_{uuid.uuid4().hex[:8]}"
        renamed = {name: name + suffix for name in self.collections.of(projection)}
        names = ProjectionCollections(**{
            field: renamed.get(name, name)
            for field, name in dataclasses.asdict(self.collections).items()
        })
        for name in renamed.values():
            # Created now, so that a rebuild with nothing to replay has one to swap in.
            await self._database.create_collection(name)
        store = MongoReadModels(self._database, names)
        await store.setup()
        return store

    async def swap_in(self, fresh: ReadModelStore, projection: str) -> None:
        """Rename `fresh`'s `projection` collections over the live ones (`dropTarget`), so
        readers go from the old to the new at once; then index the live names. A change
        stream on the old collection ends, and `views.changes()` yields RESYNC. `fresh`
        is not to be used afterwards; ValueError for a projection not in REBUILDABLE."""
        if not isinstance(fresh, MongoReadModels):
            raise TypeError("swap_in takes a store made by this store's fresh()")
        database = self._database.name
        for source, target in zip(fresh.collections.of(projection),
                                  self.collections.of(projection), strict=True):
            if source != target:
                await self._database.client.admin.command(
                    "renameCollection", f"{database}.{source}", to=f"{database}.{target}",
                    dropTarget=True)
        await self.setup()

    async def close(self) -> None:
        """Nothing to release: the client (and its connections) belongs to the caller."""
        return


def _view_writes(writes: Sequence[ViewWrite]) -> list[InsertOne[Document] | ReplaceOne[Document]]:
    return [
        InsertOne(write.view) if write.replaces is None
        else ReplaceOne({"_id": write.view["_id"], "version": write.replaces}, write.view)
        for write in writes
    ]


async def _guarded_bulk_write(
    collection: AsyncCollection[Document],
    operations: list[InsertOne[Document] | ReplaceOne[Document]],
) -> None:
    """Inserts of new documents and replacements filtered on the version they replace.
    A replacement that matches nothing is skipped by itself; an insert that finds its
    document there already (duplicate key) is skipped here. Anything else raises."""
    try:
        await collection.bulk_write(operations, ordered=False)
    except BulkWriteError as error:
        details = error.details
        if details.get("writeConcernErrors") or any(
            e["code"] != DUPLICATE_KEY for e in details.get("writeErrors", [])
        ):
            raise
