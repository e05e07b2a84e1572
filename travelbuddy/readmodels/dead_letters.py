"""`projection_dlq`: events a projection could not apply, parked with the error."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from travelbuddy.eventstore.mongo import event_document, stored_event
from travelbuddy.eventstore.port import NewEvent, StoredEvent

PROJECTION_DLQ = "projection_dlq"


class ParkedEvents:
    """The dead-letter collection of the projector runner."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._collection = database[PROJECTION_DLQ]

    async def park(self, projection: str, event: StoredEvent, error: BaseException) -> None:
        """Keep the event, the projection's name and the error; parking twice is one entry."""
        document = event_document(
            event.stream_id,
            event.version,
            NewEvent(event.type, event.schema_version, event.data, event.metadata),
        )
        await self._collection.update_one(
            {"_id": f"{projection}|{event.metadata.event_id}"},
            {
                "$set": {
                    "projection": projection,
                    "event": document,
                    "error": f"{type(error).__name__}: {error}",
                    "parked_at": dt.datetime.now(dt.UTC),
                },
                "$inc": {"attempts": 1},
            },
            upsert=True,
        )

    async def park_malformed(self, document: dict[str, Any], error: BaseException) -> None:
        """Keep a document of `events` that is not an event at all (no projection saw it)."""
        await self._collection.update_one(
            {"_id": f"malformed|{document.get('_id')}"},
            {"$set": {"projection": None, "document": document, "error": str(error),
                      "parked_at": dt.datetime.now(dt.UTC)},
             "$inc": {"attempts": 1}},
            upsert=True,
        )

    async def list(self, projection: str | None = None) -> list[dict[str, Any]]:
        """Parked events, oldest first (malformed documents are not listed: no projection can
        apply them)."""
        query: dict[str, Any] = {"event": {"$exists": True}}
        if projection is not None:
            query["projection"] = projection
        return await self._collection.find(query).sort("parked_at", 1).to_list()

    async def remove(self, entry_id: str) -> None:
        """Forget an entry (after a successful retry)."""
        await self._collection.delete_one({"_id": entry_id})

    @staticmethod
    def event_of(entry: dict[str, Any]) -> StoredEvent:
        """The stored event a parked entry holds."""
        return stored_event(entry["event"])
