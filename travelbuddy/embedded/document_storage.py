"""The embedded document database's storage: a collection's documents, its unique and
equality indexes, and its change log, behind one small class the collection drives."""


from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from bson.objectid import ObjectId
from bson.regex import Regex
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.operations import IndexModel

from travelbuddy.embedded.document_changes import (
    ChangeLog,
    Clock,
)
from travelbuddy.embedded.document_matching import (
    MISSING,
    Document,
    bson_copy,
    candidates,
    compare,
    decode,
    encode,
    index_key,
    is_operator_expression,
    matches,
    path_parts,
    resolve,
    write_error,
)


class UniqueIndex:
    """A unique constraint: which document holds each key (sparse and partial indexes
    leave out the documents they do not cover)."""

    def __init__(
        self, name: str, pattern: dict[str, Any], sparse: bool, partial: Mapping[str, Any] | None
    ) -> None:
        self.name, self.pattern, self.sparse, self.partial = name, pattern, sparse, partial
        self.holders: dict[tuple[Hashable, ...], Hashable] = {}

    def keys_of(self, document: Document | None) -> set[tuple[Hashable, ...]]:
        if document is None or (self.partial is not None and not matches(document, self.partial)):
            return set()
        columns: list[list[Hashable]] = []
        present = False
        for path in self.pattern:
            column: list[Hashable] = []
            for value in resolve(document, path_parts(path)) or [MISSING]:
                present = present or value is not MISSING
                values = value if isinstance(value, list) and value else [value]
                column.extend(index_key(None if item is MISSING else item) for item in values)
            columns.append(column)
        if self.sparse and not present:
            return set()
        return set(itertools.product(*columns))


ID_INDEX = UniqueIndex("_id_", {"_id": 1}, sparse=False, partial=None)


class EqualityIndex:
    """Which documents hold each value at a path (each element of an array), so that a
    find by equality on the first field of a declared index does not scan."""

    def __init__(self, path: str) -> None:
        self.parts = path_parts(path)
        self.holders: dict[Hashable, set[Hashable]] = {}
        self._held: dict[Hashable, set[Hashable]] = {}  # each document's values, as indexed

    def _values(self, document: Document) -> set[Hashable]:
        found = candidates(resolve(document, self.parts))
        return {index_key(value) for value in found if value is not MISSING}

    def put(self, key: Hashable, document: Document) -> None:
        """Index a document under its key, replacing what the key held: only the values
        that changed are touched (an array that grew by one moves one entry)."""
        before, after = self._held.get(key, set()), self._values(document)
        self._drop(key, before - after)
        for value in after - before:
            self.holders.setdefault(value, set()).add(key)
        self._held[key] = after

    def remove(self, key: Hashable) -> None:
        self._drop(key, self._held.pop(key, set()))

    def _drop(self, key: Hashable, values: set[Hashable]) -> None:
        for value in values:
            holders = self.holders.get(value, set())
            holders.discard(key)
            if not holders:
                self.holders.pop(value, None)


def indexable(value: Any) -> bool:
    return value is not None and not isinstance(value, Mapping | list | Regex)


class Contents:
    """One collection's documents (in insertion order), unique indexes and change log."""

    def __init__(self, database: str, name: str, clock: Clock, log_size: int) -> None:
        self.database = database
        self.name = name
        self.exists = False  # MongoDB lists a collection once written to or indexed
        self.documents: dict[Hashable, Document] = {}
        self.positions: dict[Hashable, int] = {}  # natural order, for finds by an index
        self.index_specs: dict[str, Document] = {}
        self.unique: list[UniqueIndex] = []
        self.equality: dict[str, EqualityIndex] = {}
        self._inserted = itertools.count()
        self.changes = ChangeLog(clock, log_size, self.lookup)

    @property
    def namespace(self) -> dict[str, str]:
        return {"db": self.database, "coll": self.name}

    def lookup(self, document_id: Any) -> Document | None:
        found = self.documents.get(index_key(document_id))
        return None if found is None else bson_copy(found)

    def select(
        self, query: Mapping[str, Any], limit: int = 0
    ) -> list[tuple[Hashable, Document]]:
        """The matching documents in natural order, as stored (callers copy)."""
        found = []
        for key, document in self._narrowed(query):
            if matches(document, query):
                found.append((key, document))
                if len(found) == limit:
                    break
        return found

    def _narrowed(self, query: Mapping[str, Any]) -> Iterable[tuple[Hashable, Document]]:
        for path, condition in query.items():
            keys = self._indexed(path, condition)
            if keys is not None:
                ordered = sorted(keys, key=self.positions.__getitem__)
                return [(key, self.documents[key]) for key in ordered]
        return self.documents.items()

    def _indexed(self, path: str, condition: Any) -> set[Hashable] | None:
        """The documents an equality (or `$in`) on an indexed path can match, if it is one."""
        if path != "_id" and path not in self.equality:
            return None
        values = [condition]
        if is_operator_expression(condition):
            if list(condition) not in (["$eq"], ["$in"]):
                return None
            values = condition["$in"] if "$in" in condition else [condition["$eq"]]
        if not isinstance(values, list) or not all(indexable(value) for value in values):
            return None
        wanted = {index_key(value) for value in values}
        if path == "_id":
            return {key for key in wanted if key in self.documents}
        holders = self.equality[path].holders
        return set().union(*(holders.get(value, set()) for value in wanted))

    def insert(self, document: Document) -> Any:
        """Store a new document (an `_id` is made when it has none); returns its `_id`."""
        if "_id" not in document:
            document = {"_id": ObjectId(), **document}
        encoded = encode(document)
        stored = decode(encoded)
        if isinstance(stored["_id"], list):
            raise write_error("can't use an array for _id", 2)
        key = index_key(stored["_id"])
        if key in self.documents:
            raise self._duplicate(ID_INDEX, stored)
        self._store(key, stored, replacing=None)
        self.exists = True
        self.changes.record("insert", self.namespace, encode({"_id": stored["_id"]}), encoded)
        return stored["_id"]

    def rewrite(self, key: Hashable, document: Document, operation: str) -> bool:
        """Store a new version of a document (`update` or `replace`); False when nothing
        changed, which MongoDB neither counts as modified nor reports to streams."""
        current = self.documents[key]
        if compare(document.get("_id", MISSING), current["_id"]) != 0:
            raise write_error("the (immutable) field '_id' was found to have been altered", 66)
        encoded = encode(document)
        if encoded == encode(current):
            return False
        self._store(key, decode(encoded), replacing=key)
        self.changes.record(
            operation, self.namespace, encode({"_id": current["_id"]}),
            encoded if operation == "replace" else None,
        )
        return True

    def delete(self, key: Hashable) -> None:
        document = self.documents.pop(key)
        del self.positions[key]
        for index in self.unique:
            for held in index.keys_of(document):
                index.holders.pop(held, None)
        for equality in self.equality.values():
            equality.remove(key)
        self.changes.record("delete", self.namespace, encode({"_id": document["_id"]}))

    def add_index(self, model: IndexModel) -> str:
        spec = dict(model.document)
        spec["key"] = dict(spec["key"])
        name: str = spec["name"]
        known = self.index_specs.get(name)
        if known is not None and known != spec:
            raise OperationFailure(f"an index named {name} exists with other options", code=86)
        first_field = next(iter(spec["key"]))
        if first_field != "_id" and first_field not in self.equality:
            equality = self.equality[first_field] = EqualityIndex(first_field)
            for key, document in self.documents.items():
                equality.put(key, document)
        if known is None and spec.get("unique"):
            index = UniqueIndex(name, spec["key"], bool(spec.get("sparse")),
                                 spec.get("partialFilterExpression"))
            for key, document in self.documents.items():
                for held in index.keys_of(document):
                    if index.holders.setdefault(held, key) != key:
                        raise self._duplicate(index, document)
            self.unique.append(index)
        self.index_specs[name] = spec
        self.exists = True
        return name

    def _store(self, key: Hashable, document: Document, replacing: Hashable | None) -> None:
        moves = []
        for index in self.unique:
            wanted = index.keys_of(document)
            if any(index.holders.get(held, replacing) != replacing for held in wanted):
                raise self._duplicate(index, document)
            moves.append((index, index.keys_of(self.documents.get(replacing)), wanted))
        for index, before, after in moves:
            for held in before - after:
                del index.holders[held]
            for held in after:
                index.holders[held] = key
        for equality in self.equality.values():
            equality.put(key, document)
        self.positions.setdefault(key, next(self._inserted))
        self.documents[key] = document

    def _duplicate(self, index: UniqueIndex, document: Document) -> DuplicateKeyError:
        values = {path: next((v for v in resolve(document, path_parts(path)) if v is not MISSING),
                             None) for path in index.pattern}
        shown = ", ".join(f"{path}: {value!r}" for path, value in values.items())
        message = (f"E11000 duplicate key error collection: {self.database}.{self.name} "
                   f"index: {index.name} dup key: {{ {shown} }}")
        return DuplicateKeyError(message, 11000, {
            "index": 0, "code": 11000, "errmsg": message,
            "keyPattern": dict(index.pattern), "keyValue": values,
        })
