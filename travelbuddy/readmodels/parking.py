"""Parking that cannot fail a follower: when an event's parked record cannot be stored
(larger than the store takes, refused by it), a minimal record takes its place, so the
follower moves on. Only when even that cannot be stored does the follower fail (and, at
the same event again and again, readiness says so: `FollowerFailures`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.observability.logs import get_logger
from travelbuddy.readmodels.ports import LeaseLost, ProjectionBatch, ReadModelStore

log = get_logger(__name__)

MAX_TEXT = 500
"""The longest text of a minimal record: the error, the stream id, the type."""


def clipped(text: object, limit: int = MAX_TEXT) -> str:
    """`text` as a string of at most `limit` characters."""
    value = str(text)
    return value if len(value) <= limit else value[:limit - 1] + "…"


def minimal_record(position: Any, stream_id: object = None, version: object = None,
                   event_type: object = None, projection: str | None = None) -> dict[str, Any]:
    """Where the event that could not be parked is (position, stream id, version), and
    little else: nothing of its data, every text clipped."""
    return {"position": clipped(position), "stream_id": clipped(stream_id),
            "version": version if isinstance(version, int) else None,
            "type": clipped(event_type), "projection": projection, "minimal": True}


def minimal_error(error: object, parking_error: BaseException) -> str:
    half = MAX_TEXT // 2 - 50
    return clipped(f"{clipped(error, half)}; its parked record could not be stored: "
                   f"{type(parking_error).__name__}: {clipped(parking_error, half)}")


async def park_document(read_models: ReadModelStore, follower: str, key: str,
                        document: dict[str, Any], error: str) -> None:
    """Park a stored document that is not an event; a minimal record when it cannot be."""
    try:
        await read_models.parked.park_malformed(key, document, error)
    except LeaseLost:
        raise
    except Exception as refused:
        record = minimal_record(document.get("_id"), document.get("stream_id"),
                                document.get("version"), document.get("type"))
        await _park_minimal(read_models, follower, key, record, minimal_error(error, refused))


async def park_each(read_models: ReadModelStore, follower: str,
                    parked: Sequence[tuple[str, StoredEvent, str]]) -> None:
    """Park the entries one by one, each that cannot be stored as a minimal record (the
    batch that held them could not be committed)."""
    for entry in parked:
        projection, event, error = entry
        try:
            await read_models.commit(ProjectionBatch(parked=[entry]))
        except LeaseLost:
            raise
        except Exception as refused:
            record = minimal_record(event.position, event.stream_id, event.version,
                                    event.type, projection)
            await _park_minimal(read_models, follower, f"{projection}|{event.position}",
                                record, minimal_error(error, refused))


async def _park_minimal(read_models: ReadModelStore, follower: str, key: str,
                        record: dict[str, Any], error: str) -> None:
    log.error("parked_minimal_record", follower=follower, position=record["position"],
              stream_id=record["stream_id"], version=record["version"], error=error)
    await read_models.parked.park_malformed(f"minimal|{clipped(key)}", record, error)
