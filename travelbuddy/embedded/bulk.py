"""`bulk_write` for the in-memory collections: PyMongo's write operations, one at a time.

The operations are PyMongo's own classes, those the projections batch (`InsertOne`,
`ReplaceOne`, `UpdateOne`); their fields are read from the attributes PyMongo gives
them, and the document contract suite runs the same calls against the test MongoDB. Failures
are gathered into a BulkWriteError as PyMongo's are: ordered stops at the first, unordered
goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pymongo.errors import BulkWriteError, WriteError
from pymongo.operations import InsertOne, ReplaceOne, UpdateOne
from pymongo.results import BulkWriteResult, UpdateResult

if TYPE_CHECKING:
    from travelbuddy.embedded.documents import InMemoryCollection


async def bulk_write(
    collection: InMemoryCollection, requests: Sequence[Any], ordered: bool = True
) -> BulkWriteResult:
    """Carry out the operations in order; see PyMongo's `bulk_write`."""
    if not requests:
        raise TypeError("requests must be a non-empty list")
    counts = {"nInserted": 0, "nMatched": 0, "nModified": 0, "nUpserted": 0, "nRemoved": 0}
    upserted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, request in enumerate(requests):
        try:
            match request:
                case InsertOne():
                    await collection.insert_one(request._doc)
                    counts["nInserted"] += 1
                case ReplaceOne():
                    _count(counts, upserted, index, await collection.replace_one(
                        request._filter, request._doc, upsert=bool(request._upsert)))
                case UpdateOne() if isinstance(request._doc, Mapping):
                    _count(counts, upserted, index, await collection.update_one(
                        request._filter, request._doc, upsert=bool(request._upsert)))
                case _:
                    raise TypeError(f"{request!r} is not supported by the embedded database")
        except WriteError as error:
            errors.append({**(error.details or {}), "index": index, "op": request})
            if ordered:
                break
    if errors:
        raise BulkWriteError({**counts, "upserted": upserted, "writeErrors": errors,
                              "writeConcernErrors": []})
    return BulkWriteResult({**counts, "upserted": upserted}, acknowledged=True)


def _count(counts: dict[str, int], upserted: list[dict[str, Any]], index: int,
           result: UpdateResult) -> None:
    if result.upserted_id is not None:
        counts["nUpserted"] += 1
        upserted.append({"index": index, "_id": result.upserted_id})
        return
    counts["nMatched"] += result.matched_count
    counts["nModified"] += result.modified_count
