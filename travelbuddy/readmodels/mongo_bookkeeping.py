"""The runner's bookkeeping on MongoDB: `checkpoints` (one small document per follower)
and `projection_dlq` (the events a projection could not apply)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from travelbuddy.eventstore.mongo import event_document, outages_as_unavailable, stored_event
from travelbuddy.eventstore.port import NewEvent, StoredEvent
from travelbuddy.readmodels.ports import Checkpoint, LeaseLost, ParkedEvent

CHECKPOINTS = "checkpoints"
PROJECTION_DLQ = "projection_dlq"
MALFORMED = "malformed"
# The order a retry applies parked events in.
PARKED_ORDER = [("event.stream_id", ASCENDING), ("event.version", ASCENDING),
                ("_id", ASCENDING)]
PARKED_INDEXES = [IndexModel(PARKED_ORDER[:2], name="stream_version")]


@outages_as_unavailable
class MongoCheckpoints:
    """The CheckpointStore port on `checkpoints`, keyed by follower name."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def load(self, follower: str) -> Checkpoint | None:
        """The follower's checkpoint, or None before its first save."""
        document = await self.collection.find_one({"_id": follower})
        if document is None:
            return None
        return Checkpoint(
            follower=follower,
            resume_token=document.get("resume_token"),
            position=document.get("position"),
            recorded_at=document.get("recorded_at"),
            saved_at=document["saved_at"],
            # Saved before catch-up was tracked: the follower was past it.
            caught_up=document.get("caught_up", True),
            applied=document.get("applied", 0),
            fencing=document.get("fencing"),
        )

    async def save(self, checkpoint: Checkpoint) -> None:
        """Record where the follower stands (after the effects of everything before it).

        A checkpoint with a fencing number replaces only one written with no greater
        number: a worker that lost its lease to a newer one gets LeaseLost and the stored
        checkpoint never moves backwards.
        """
        if checkpoint.fencing is None:
            await self.collection.replace_one(
                {"_id": checkpoint.follower}, checkpoint_document(checkpoint), upsert=True)
            return
        not_newer = {"$or": [{"fencing": {"$lte": checkpoint.fencing}},
                             {"fencing": None}]}
        try:
            await self.collection.replace_one(
                {"_id": checkpoint.follower, **not_newer}, checkpoint_document(checkpoint),
                upsert=True)
        except DuplicateKeyError as error:  # a newer holder's checkpoint is there
            raise LeaseLost(checkpoint.follower, checkpoint.fencing) from error

    async def names(self) -> list[str]:
        """The followers that have a checkpoint."""
        return [document["_id"] async for document in self.collection.find({}, {"_id": 1})]

    async def delete(self, follower: str) -> None:
        """Forget the checkpoint: the follower catches up from the start next time."""
        await self.collection.delete_one({"_id": follower})


def checkpoint_document(checkpoint: Checkpoint) -> dict[str, Any]:
    """The stored shape of a checkpoint (its `_id`, the follower, is the filter's)."""
    return {
        "resume_token": checkpoint.resume_token,
        "position": checkpoint.position,
        "recorded_at": checkpoint.recorded_at,
        "saved_at": checkpoint.saved_at,
        "caught_up": checkpoint.caught_up,
        "applied": checkpoint.applied,
        "fencing": checkpoint.fencing,
    }


@outages_as_unavailable
class MongoParkedEvents:
    """The ParkedEvents port on `projection_dlq`: one entry per projection and event
    (`_id` "projection|event id"), or per malformed document ("malformed|key")."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def setup(self) -> None:
        """An index for listing entries in stream and version order."""
        await self.collection.create_indexes(PARKED_INDEXES)

    async def list(self, projection: str | None = None) -> list[ParkedEvent]:
        """Parked events, by stream and version (malformed documents are not listed)."""
        query: dict[str, Any] = {"event": {"$exists": True}}
        if projection is not None:
            query["projection"] = projection
        cursor = self.collection.find(query).sort(PARKED_ORDER)
        return [_parked_event(entry) async for entry in cursor]

    async def park_malformed(self, key: str, document: dict[str, Any], error: str) -> None:
        """Keep a stored document that is not an event; parking it again counts an attempt."""
        await self.collection.update_one(
            {"_id": f"{MALFORMED}|{key}"},
            {"$set": {"projection": None, "document": document, "error": error,
                      "parked_at": dt.datetime.now(dt.UTC)},
             "$inc": {"attempts": 1}},
            upsert=True,
        )

    async def count(self) -> int:
        """How many entries there are, malformed documents included."""
        return await self.collection.count_documents({})


def park_updates(
    parked: Iterable[tuple[str, StoredEvent, str]], now: dt.datetime
) -> list[UpdateOne]:
    """Upserts of (projection, event, error) entries; an entry parked again is the same
    entry with one more attempt."""
    return [
        UpdateOne(
            {"_id": f"{projection}|{event.metadata.event_id}"},
            {"$set": {"projection": projection, "event": _event_document(event),
                      "error": error, "parked_at": now},
             "$inc": {"attempts": 1}},
            upsert=True,
        )
        for projection, event, error in parked
    ]


def _event_document(event: StoredEvent) -> dict[str, Any]:
    document = event_document(
        event.stream_id, event.version,
        NewEvent(event.type, event.schema_version, event.data, event.metadata),
    )
    if event.position is not None:  # `stored_event` reads it back from `_id`
        document["_id"] = event.position
    return document


def _parked_event(entry: dict[str, Any]) -> ParkedEvent:
    return ParkedEvent(
        entry_id=entry["_id"],
        projection=entry["projection"],
        event=stored_event(entry["event"]),
        error=entry["error"],
        attempts=entry.get("attempts", 1),
        parked_at=entry["parked_at"],
    )
