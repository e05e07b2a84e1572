"""The embedded document database: the part of PyMongo's async API the service uses, in
memory, so the same projections and queries run with or without a MongoDB server.

Collections are handles by name, as in PyMongo: after a rename swaps a collection in, the
handle reads the new contents. Every document handed out is a fresh copy.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bson.objectid import ObjectId
from pymongo.common import validate_ok_for_replace, validate_ok_for_update
from pymongo.errors import BulkWriteError, DuplicateKeyError, InvalidOperation, OperationFailure
from pymongo.operations import IndexModel
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)

from travelbuddy.embedded.bulk import bulk_write
from travelbuddy.embedded.document_changes import (
    CHANGE_LOG_SIZE,
    Clock,
    InMemoryChangeStream,
)
from travelbuddy.embedded.document_matching import (
    MISSING,
    Document,
    apply_update,
    bson_copy,
    check_update,
    compare,
    equality_fields,
    matches,
    project,
    sort_documents,
    write_error,
)
from travelbuddy.embedded.document_storage import Contents


def _updated(matched: int, modified: int, upserted: Any = MISSING) -> UpdateResult:
    raw: Document = {"n": matched, "nModified": modified, "ok": 1.0}
    if upserted is not MISSING:
        raw.update(n=1, upserted=upserted)
    return UpdateResult(raw, acknowledged=True)


def _query(query: Mapping[str, Any] | None) -> Document:
    if query is None:
        return {}
    if not isinstance(query, Mapping):
        raise TypeError(f"filter must be a mapping, not {type(query).__name__}")
    return bson_copy(query)


def _sort_keys(key_or_list: Any, direction: int | None) -> list[tuple[str, int]]:
    if isinstance(key_or_list, str):
        pairs = [(key_or_list, 1 if direction is None else direction)]
    elif isinstance(key_or_list, Mapping):
        pairs = list(key_or_list.items())
    else:
        pairs = [(item, 1) if isinstance(item, str) else tuple(item) for item in key_or_list]
    for key, order in pairs:
        if order not in (1, -1):
            raise ValueError(f"sort direction for {key!r} must be 1 or -1, not {order!r}")
    return pairs


class InMemoryCursor:
    """What `find` returns: `sort`, `skip`, `limit`, `to_list` and `async for`, as PyMongo's
    `AsyncCursor`. The documents are read, and copied, when it is first iterated."""

    def __init__(
        self, read: Callable[[], list[Document]], projection: Mapping[str, Any] | None
    ) -> None:
        self._read = read
        self._projection = projection
        self._keys: list[tuple[str, int]] = []
        self._skip = self._limit = 0
        self._results: deque[Document] | None = None

    def sort(self, key_or_list: Any, direction: int | None = None) -> InMemoryCursor:
        """Order by one key (`sort("night", 1)`) or several (`sort([("a", 1), ("b", -1)])`)."""
        self._unstarted()
        self._keys = _sort_keys(key_or_list, direction)
        return self

    def skip(self, skip: int) -> InMemoryCursor:
        """Leave out the first `skip` documents."""
        self._unstarted()
        if skip < 0:
            raise ValueError("skip must be >= 0")
        self._skip = skip
        return self

    def limit(self, limit: int) -> InMemoryCursor:
        """At most `limit` documents (0: no limit)."""
        self._unstarted()
        self._limit = abs(limit)
        return self

    async def to_list(self, length: int | None = None) -> list[Document]:
        """The remaining documents, or at most `length` of them."""
        if length is not None and length < 1:
            raise ValueError("to_list() length must be greater than 0")
        results = self._started()
        count = len(results) if length is None else min(length, len(results))
        return [results.popleft() for _ in range(count)]

    def __aiter__(self) -> InMemoryCursor:
        return self

    async def next(self) -> Document:
        """The next document; StopAsyncIteration after the last."""
        results = self._started()
        if not results:
            raise StopAsyncIteration
        return results.popleft()

    __anext__ = next

    @property
    def alive(self) -> bool:
        return self._results is None or bool(self._results)

    async def close(self) -> None:
        self._results = deque()

    def _unstarted(self) -> None:
        if self._results is not None:
            raise InvalidOperation("cannot set options after executing query")

    def _started(self) -> deque[Document]:
        if self._results is None:
            documents = self._read()
            sort_documents(documents, self._keys)
            documents = documents[self._skip:][: self._limit or None]
            self._results = deque(bson_copy(project(d, self._projection)) for d in documents)
        return self._results


class InMemoryCollection:
    """A collection of an `InMemoryDatabase`: the methods of PyMongo's `AsyncCollection`
    that the service calls, with MongoDB's semantics."""

    def __init__(self, database: InMemoryDatabase, name: str) -> None:
        self.database = database
        self.name = name

    def __repr__(self) -> str:
        return f"InMemoryCollection({self.full_name!r})"

    @property
    def full_name(self) -> str:
        return f"{self.database.name}.{self.name}"

    def _contents(self) -> Contents:
        return self.database._contents(self.name)

    def find(
        self,
        filter: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | Sequence[str] | None = None,
        *,
        sort: Any = None,
        skip: int = 0,
        limit: int = 0,
    ) -> InMemoryCursor:
        """A cursor over the matching documents; it reads them when first iterated."""
        query = _query(filter)
        fields = (
            projection if projection is None or isinstance(projection, Mapping)
            else dict.fromkeys(projection, 1)
        )
        cursor = InMemoryCursor(lambda: [d for _, d in self._contents().select(query)], fields)
        cursor.skip(skip).limit(limit)
        return cursor if sort is None else cursor.sort(sort)

    async def find_one(
        self,
        filter: Any = None,
        projection: Mapping[str, Any] | Sequence[str] | None = None,
        *,
        sort: Any = None,
    ) -> Document | None:
        """The first matching document, or None (a non-mapping filter means an `_id`)."""
        if filter is not None and not isinstance(filter, Mapping):
            filter = {"_id": filter}
        found = await self.find(filter, projection, sort=sort, limit=1).to_list()
        return found[0] if found else None

    async def count_documents(
        self, filter: Mapping[str, Any], *, skip: int = 0, limit: int = 0
    ) -> int:
        """How many documents match (after `skip`, at most `limit` when given)."""
        counted = max(0, len(self._contents().select(_query(filter))) - skip)
        return min(counted, limit) if limit else counted

    async def insert_one(self, document: Document) -> InsertOneResult:
        """Insert; like PyMongo, gives the caller's document an ObjectId `_id` if it has none."""
        if "_id" not in document:
            document["_id"] = ObjectId()
        return InsertOneResult(self._contents().insert(document), acknowledged=True)

    async def insert_many(
        self, documents: Iterable[Document], ordered: bool = True
    ) -> InsertManyResult:
        """Insert in order; duplicates raise BulkWriteError as PyMongo's does."""
        documents = list(documents)
        if not documents:
            raise TypeError("documents must be a non-empty list")
        inserted, errors = [], []
        for position, document in enumerate(documents):
            document.setdefault("_id", ObjectId())
            try:
                inserted.append(self._contents().insert(document))
            except DuplicateKeyError as error:
                errors.append({**(error.details or {}), "index": position, "op": document})
                if ordered:
                    break
        if errors:
            raise BulkWriteError({"writeErrors": errors, "nInserted": len(inserted),
                                  "writeConcernErrors": [], "upserted": [], "nUpserted": 0,
                                  "nMatched": 0, "nModified": 0, "nRemoved": 0})
        return InsertManyResult(inserted, acknowledged=True)

    async def replace_one(
        self, filter: Mapping[str, Any], replacement: Mapping[str, Any], upsert: bool = False
    ) -> UpdateResult:
        """Replace the first match, keeping its `_id`; insert when none and `upsert`."""
        validate_ok_for_replace(replacement)
        query, contents, new = _query(filter), self._contents(), bson_copy(replacement)
        found = contents.select(query, limit=1)
        if found:
            key, current = found[0]
            new = {"_id": new.get("_id", current["_id"]),
                   **{field: value for field, value in new.items() if field != "_id"}}
            return _updated(1, int(contents.rewrite(key, new, "replace")))
        if not upsert:
            return _updated(0, 0)
        wanted_id = equality_fields(query).get("_id", MISSING)
        if wanted_id is not MISSING:
            if compare(new.get("_id", wanted_id), wanted_id) != 0:
                raise write_error("the (immutable) field '_id' was found to have been altered", 66)
            new = {"_id": wanted_id, **new}
        return _updated(0, 0, upserted=contents.insert(new))

    async def update_one(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False
    ) -> UpdateResult:
        """Apply update operators to the first match; insert when none and `upsert`."""
        return self._update(filter, update, upsert, many=False)

    async def update_many(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False
    ) -> UpdateResult:
        """Apply update operators to every match; insert when none and `upsert`."""
        return self._update(filter, update, upsert, many=True)

    def _update(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool, many: bool
    ) -> UpdateResult:
        validate_ok_for_update(update)
        query, changes, contents = _query(filter), bson_copy(update), self._contents()
        check_update(changes)
        matched = modified = 0
        for key, current in contents.select(query, limit=0 if many else 1):
            new = copy.deepcopy(current)
            apply_update(new, changes, inserting=False)
            matched += 1
            modified += contents.rewrite(key, new, "update")
        if matched or not upsert:
            return _updated(matched, modified)
        new = equality_fields(query)
        apply_update(new, changes, inserting=True)
        return _updated(0, 0, upserted=contents.insert(new))

    async def bulk_write(self, requests: Sequence[Any], ordered: bool = True) -> BulkWriteResult:
        """Several writes in one call; see `bulk.py`."""
        return await bulk_write(self, requests, ordered)

    async def delete_one(self, filter: Mapping[str, Any]) -> DeleteResult:
        """Delete the first match."""
        return self._delete(filter, limit=1)

    async def delete_many(self, filter: Mapping[str, Any]) -> DeleteResult:
        """Delete every match."""
        return self._delete(filter, limit=0)

    def _delete(self, filter: Mapping[str, Any], limit: int) -> DeleteResult:
        contents = self._contents()
        found = contents.select(_query(filter), limit=limit)
        for key, _ in found:
            contents.delete(key)
        return DeleteResult({"n": len(found), "ok": 1.0}, acknowledged=True)

    async def create_indexes(self, indexes: Sequence[IndexModel]) -> list[str]:
        """Keep the unique constraints (plain indexes change nothing in memory)."""
        contents = self._contents()
        return [contents.add_index(model) for model in indexes]

    async def create_index(self, keys: Any, **options: Any) -> str:
        """One index, as `create_indexes([IndexModel(keys, **options)])`."""
        return (await self.create_indexes([IndexModel(keys, **options)]))[0]

    async def watch(
        self,
        pipeline: Sequence[Mapping[str, Any]] | None = None,
        full_document: str | None = None,
        resume_after: Mapping[str, Any] | None = None,
        max_await_time_ms: int | None = None,
        start_after: Mapping[str, Any] | None = None,
    ) -> InMemoryChangeStream:
        """A change stream from now, or from just after a resume token (`$match` stages only)."""
        filters: list[Mapping[str, Any]] = []
        for stage in pipeline or []:
            if list(stage) != ["$match"]:
                raise OperationFailure(f"only $match stages are supported in memory: {stage}")
            filters.append(_query(stage["$match"]))
            matches({}, filters[-1])  # an unknown operator fails here, as on the server
        if full_document not in (None, "default", "updateLookup"):
            raise OperationFailure(f"fullDocument {full_document!r} is not supported in memory")
        log = self._contents().changes
        token = resume_after if resume_after is not None else start_after
        if token is None:
            start, sequence = log.end, log.clock.now
        else:
            start, sequence = log.position_after(token), int(token["_data"], 16)
        return InMemoryChangeStream(log, start, sequence, filters, full_document,
                                    max_await_time_ms)


class _Admin:
    """`client.admin`: runs `renameCollection`, the one admin command the service sends."""

    def __init__(self, database: InMemoryDatabase) -> None:
        self._database = database

    async def command(
        self, command: str | Mapping[str, Any], value: Any = 1, **options: Any
    ) -> Document:
        """`command("renameCollection", "db.source", to="db.target", dropTarget=True)`."""
        spec = {command: value, **options} if isinstance(command, str) else {**command, **options}
        if next(iter(spec)) != "renameCollection":
            raise OperationFailure(f"no such command: '{next(iter(spec))}'", code=59)
        (source_db, source), (target_db, target) = (
            str(spec[field]).split(".", 1) for field in ("renameCollection", "to")
        )
        if {source_db, target_db} != {self._database.name}:
            raise OperationFailure("renameCollection stays within this database in memory")
        self._database._rename(source, target, bool(spec.get("dropTarget", False)))
        return {"ok": 1.0}


class _Client:
    """`database.client`, as far as the rebuild swap reaches: its `admin` database."""

    def __init__(self, database: InMemoryDatabase) -> None:
        self.admin = _Admin(database)


class InMemoryDatabase:
    """A database whose collections live in this process (nothing is written to disk)."""

    def __init__(self, name: str = "travelbuddy", change_log_size: int = CHANGE_LOG_SIZE) -> None:
        self.name = name
        self.client = _Client(self)
        self._clock = Clock()
        self._change_log_size = change_log_size
        self._collections: dict[str, Contents] = {}
        self._handles: dict[str, InMemoryCollection] = {}

    def __repr__(self) -> str:
        return f"InMemoryDatabase({self.name!r})"

    def __getitem__(self, name: str) -> InMemoryCollection:
        return self.get_collection(name)

    def __getattr__(self, name: str) -> InMemoryCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get_collection(name)

    def get_collection(self, name: str) -> InMemoryCollection:
        """The collection by name: the same object each time; it exists once written to."""
        if not name or "$" in name:
            raise OperationFailure(f"invalid collection name {name!r}", code=73)
        return self._handles.setdefault(name, InMemoryCollection(self, name))

    async def list_collection_names(self) -> list[str]:
        """The collections written to or indexed (and not renamed away)."""
        return [name for name, contents in self._collections.items() if contents.exists]

    def _contents(self, name: str) -> Contents:
        contents = self._collections.get(name)
        if contents is None:
            contents = Contents(self.name, name, self._clock, self._change_log_size)
            self._collections[name] = contents
        return contents

    def _rename(self, source: str, target: str, drop_target: bool) -> None:
        moving = self._collections.get(source)
        if moving is None or not moving.exists:
            raise OperationFailure(f"source namespace {self.name}.{source} does not exist", 26)
        if source == target:
            raise OperationFailure("can't rename a collection to itself", code=20)
        replaced = self._collections.get(target)
        if replaced is not None and replaced.exists and not drop_target:
            raise OperationFailure(f"target namespace {self.name}.{target} exists", code=48)
        for contents in (moving, replaced):
            if contents is not None:
                contents.changes.end_streams(moving.namespace, {"db": self.name, "coll": target})
        del self._collections[source]
        moving.name = target
        self._collections[target] = moving
