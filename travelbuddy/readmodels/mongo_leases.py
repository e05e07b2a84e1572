"""Leases of single-active workers on MongoDB (`leases`: one document per name).

Every change is one conditional single-document write on `_id`, so two processes cannot
both take a lease: the one whose filter still matches wins. A follower's checkpoint is
written only with a fencing number at least the stored checkpoint's
(`MongoCheckpoints.save`), so a worker that lost its lease cannot move it backwards.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from travelbuddy.eventstore.mongo import outages_as_unavailable
from travelbuddy.readmodels.ports import Lease

LEASES = "leases"
_EXPIRED = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _lease(document: dict[str, Any]) -> Lease:
    expires_at: dt.datetime = document["expires_at"]
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    return Lease(document["_id"], document["owner"], document["fencing"], expires_at)


@outages_as_unavailable
class MongoLeases:
    """The LeaseStore port on the `leases` collection."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def acquire(self, name: str, owner: str, ttl: float) -> Lease | None:
        """Take the lease if free, expired or `owner`'s; see the port."""
        now = dt.datetime.now(dt.UTC)
        expires_at = now + dt.timedelta(seconds=ttl)
        stored = await self.collection.find_one({"_id": name})
        if stored is None:
            try:
                await self.collection.insert_one(
                    {"_id": name, "owner": owner, "fencing": 1, "expires_at": expires_at})
            except DuplicateKeyError:
                return None  # another owner took it first
            return Lease(name, owner, 1, expires_at)
        held = _lease(stored)
        if held.owner == owner:
            return await self.renew(held, ttl)
        if held.expires_at > now:
            return None
        taken = await self.collection.update_one(
            {"_id": name, "owner": held.owner, "fencing": held.fencing},
            {"$set": {"owner": owner, "fencing": held.fencing + 1, "expires_at": expires_at}})
        return Lease(name, owner, held.fencing + 1, expires_at) if taken.modified_count else None

    async def renew(self, lease: Lease, ttl: float) -> Lease | None:
        """Extend the lease if it is still held as `lease` says."""
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl)
        renewed = await self.collection.update_one(
            {"_id": lease.name, "owner": lease.owner, "fencing": lease.fencing},
            {"$set": {"expires_at": expires_at}})
        if not renewed.matched_count:
            return None
        return Lease(lease.name, lease.owner, lease.fencing, expires_at)

    async def release(self, lease: Lease) -> None:
        """Let the lease expire now, if it is still ours."""
        await self.collection.update_one(
            {"_id": lease.name, "owner": lease.owner, "fencing": lease.fencing},
            {"$set": {"expires_at": _EXPIRED}})

    async def holder(self, name: str) -> Lease | None:
        """The lease as stored, expired or not."""
        stored = await self.collection.find_one({"_id": name})
        return _lease(stored) if stored else None
