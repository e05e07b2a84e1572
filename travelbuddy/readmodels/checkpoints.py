"""Where each projector stands in the event stream: one small document per projector."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

CHECKPOINTS = "checkpoints"


@dataclass(frozen=True)
class Checkpoint:
    """A projector's resume token and the last event it applied."""

    projector: str
    resume_token: Any
    position: Any
    recorded_at: dt.datetime | None
    saved_at: dt.datetime


class CheckpointStore:
    """Checkpoints in MongoDB, keyed by projector name."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._collection = database[CHECKPOINTS]

    async def load(self, projector: str) -> Checkpoint | None:
        """The projector's checkpoint, or None before its first save."""
        document = await self._collection.find_one({"_id": projector})
        if document is None:
            return None
        return Checkpoint(
            projector=projector,
            resume_token=document["resume_token"],
            position=document.get("position"),
            recorded_at=document.get("recorded_at"),
            saved_at=document["saved_at"],
        )

    async def save(
        self, projector: str, resume_token: Any, position: Any, recorded_at: dt.datetime | None
    ) -> None:
        """Record where the projector stands, after the effects of everything before it."""
        await self._collection.replace_one(
            {"_id": projector},
            {
                "resume_token": resume_token,
                "position": position,
                "recorded_at": recorded_at,
                "saved_at": dt.datetime.now(dt.UTC),
            },
            upsert=True,
        )

    async def names(self) -> list[str]:
        """The projectors that have saved a checkpoint."""
        return [document["_id"] async for document in self._collection.find({}, {"_id": 1})]

    async def delete(self, projector: str) -> None:
        """Forget the checkpoint: the projector catches up from the start next time."""
        await self._collection.delete_one({"_id": projector})
