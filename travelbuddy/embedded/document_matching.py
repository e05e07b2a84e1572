"""Reading documents the way MongoDB does: what a stored copy is, how values of different
types order, which documents a filter selects, how a sort orders them, what a projection
keeps, and what the update operators change.

Values pass through a BSON round trip before they are stored or compared, as they do on
their way to a MongoDB server: datetimes come back in UTC to the millisecond, tuples as
lists, `_id` first, and a value MongoDB cannot store is refused here too.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Final

import bson
from bson.codec_options import CodecOptions
from bson.decimal128 import Decimal128
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from pymongo.errors import OperationFailure, WriteError

Document = dict[str, Any]

# What the service's MongoDB client decodes (`tz_aware=True`): aware datetimes in UTC.
CODEC: Final[CodecOptions[Document]] = CodecOptions(tz_aware=True, tzinfo=dt.UTC)


class _Missing:
    """A field that is not there: equal to null in filters and sorts, unlike any value."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
_EMPTY_ARRAY: Final = object()  # sorts before null, as an empty array does in MongoDB


def encode(document: Mapping[str, Any]) -> bytes:
    """The document as BSON (raises `bson.errors.InvalidDocument` like the driver)."""
    return bson.encode(document, codec_options=CODEC)


def decode(data: bytes) -> Document:
    """A fresh document from BSON."""
    return bson.decode(data, codec_options=CODEC)


def bson_copy(document: Mapping[str, Any]) -> Document:
    """A deep copy of the document as MongoDB would store it and hand it back."""
    return decode(encode(document))


# ---- MongoDB's order of values of any type ---------------------------------------------

_RANKS: Final[list[tuple[type | tuple[type, ...], int]]] = [
    (bool, 40), ((int, float, Decimal128), 10), (str, 15), (Mapping, 20), (list, 25),
    (bytes, 30), (ObjectId, 35), (dt.datetime, 45), (Timestamp, 47), (Regex, 50),
    (MinKey, 1), (MaxKey, 127),
]  # Binary is a bytes subclass; bool is tested before int, which it subclasses
_RANK_OF_TYPE: Final[dict[type, int]] = {
    type(None): 5, _Missing: 5, bool: 40, int: 10, float: 10, str: 15, dict: 20, list: 25,
    ObjectId: 35, dt.datetime: 45,
}


def type_rank(value: Any) -> int:
    """Where a value's type stands in MongoDB's cross-type order."""
    rank = _RANK_OF_TYPE.get(type(value))
    if rank is not None:
        return rank
    if value is _EMPTY_ARRAY:
        return 4
    return next((rank for kind, rank in _RANKS if isinstance(value, kind)), 100)


def _plain(value: Any, rank: int) -> Any:
    if rank == 10 and isinstance(value, Decimal128):
        return value.to_decimal()
    if rank == 30:
        return (len(value), getattr(value, "subtype", 0), bytes(value))
    if rank == 50:
        return (value.pattern, value.flags)
    return value


_SIMPLE_TYPES: Final = frozenset({str, int, float, dt.datetime, ObjectId})


def compare(left: Any, right: Any) -> int:
    """-1, 0 or 1 as MongoDB orders the two values (type first, then value)."""
    if type(left) is type(right) and type(left) in _SIMPLE_TYPES:
        return int(left > right) - int(left < right)
    left_rank, right_rank = type_rank(left), type_rank(right)
    if left_rank != right_rank:
        return -1 if left_rank < right_rank else 1
    if left_rank in (1, 4, 5, 127):
        return 0
    if left_rank == 20:
        for (left_key, left_value), (right_key, right_value) in zip(
            left.items(), right.items(), strict=False
        ):
            order = (
                compare(type_rank(left_value), type_rank(right_value))
                or compare(left_key, right_key)
                or compare(left_value, right_value)
            )
            if order:
                return order
        return compare(len(left), len(right))
    if left_rank == 25:
        for left_item, right_item in zip(left, right, strict=False):
            if order := compare(left_item, right_item):
                return order
        return compare(len(left), len(right))
    left, right = _plain(left, left_rank), _plain(right, right_rank)
    return int(left > right) - int(left < right)


def index_key(value: Any) -> Hashable:
    """A hashable key equal for values MongoDB holds equal (1 and 1.0, not 1 and True)."""
    rank = type_rank(value)
    if rank == 20:
        return (20, tuple((key, index_key(item)) for key, item in value.items()))
    if rank == 25:
        return (25, tuple(index_key(item) for item in value))
    if rank in (1, 4, 5, 127):
        return (rank,)
    return (rank, _plain(value, rank))


# ---- filters ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=1024)
def path_parts(path: str) -> tuple[str, ...]:
    """A dotted path's fields (split once per path)."""
    return tuple(path.split("."))


def resolve(value: Any, parts: Sequence[str]) -> list[Any]:
    """The values a dotted path reaches, through arrays of subdocuments; MISSING where the
    path stops short; nothing through an empty array (no element lacks the field)."""
    if not parts:
        return [value]
    head, rest = parts[0], parts[1:]
    if isinstance(value, Mapping):
        return resolve(value[head], rest) if head in value else [MISSING]
    if not isinstance(value, list):
        return [MISSING]
    if not value:
        return []
    found: list[Any] = []
    position = head.isdigit() and int(head) < len(value)
    if position:
        found += resolve(value[int(head)], rest)
    for item in value:
        if isinstance(item, Mapping):
            # With `a.0` naming an element, a subdocument without a field "0" adds nothing.
            found += [v for v in resolve(item, parts) if not position or v is not MISSING]
    return found or [MISSING]


def candidates(values: Iterable[Any]) -> Iterable[Any]:
    """Each value, and each element of an array value: a filter matches either."""
    for value in values:
        yield value
        if isinstance(value, list):
            yield from value


_NUMBERS: Final = frozenset({int, float})
_PLAIN_KINDS: Final[dict[type, frozenset[type]]] = {
    int: _NUMBERS, float: _NUMBERS, str: frozenset({str}),
    dt.datetime: frozenset({dt.datetime}), ObjectId: frozenset({ObjectId}),
}
_NEVER_PLAIN: Final = frozenset({type(None), _Missing, bool, dict, list})


def _equals_any(values: list[Any], wanted: Any) -> bool:
    kinds = _PLAIN_KINDS.get(type(wanted))
    if kinds is None:
        return any(compare(candidate, wanted) == 0 for candidate in candidates(values))
    # The common case, a string, number, date or id, without ranking every value.
    for candidate in candidates(values):
        kind = type(candidate)
        if kind in kinds:
            if candidate == wanted:
                return True
        elif kind not in _SIMPLE_TYPES and kind not in _NEVER_PLAIN:
            if compare(candidate, wanted) == 0:
                return True
    return False


def is_operator_expression(condition: Any) -> bool:
    """Whether a field's condition is `{$op: ...}` rather than a value to equal."""
    if not isinstance(condition, dict) or not condition:
        return False
    operators = [key.startswith("$") for key in condition]
    if any(operators) and not all(operators):
        raise OperationFailure(f"unknown operator in {dict(condition)!r}", code=2)
    return all(operators)


_ORDERINGS: Final[dict[str, Callable[[int], bool]]] = {
    "$gt": lambda order: order > 0,
    "$gte": lambda order: order >= 0,
    "$lt": lambda order: order < 0,
    "$lte": lambda order: order <= 0,
}


def _satisfies(values: list[Any], operator: str, argument: Any) -> bool:
    if operator == "$eq":
        return _equals_any(values, argument)
    if operator == "$ne":
        return not _equals_any(values, argument)
    if operator in ("$in", "$nin"):
        if not isinstance(argument, list):
            raise OperationFailure(f"{operator} needs an array", code=2)
        found = any(_equals_any(values, wanted) for wanted in argument)
        return found if operator == "$in" else not found
    if operator == "$exists":
        return any(value is not MISSING for value in values) == bool(argument)
    if operator in _ORDERINGS:
        if argument is None:  # only $gte / $lte null select anything: null and missing
            return operator in ("$gte", "$lte") and _equals_any(values, None)
        holds = _ORDERINGS[operator]
        rank = type_rank(argument)
        return any(
            type_rank(candidate) == rank and holds(compare(candidate, argument))
            for candidate in candidates(values)
        )
    raise OperationFailure(f"unknown operator: {operator}", code=2)


def condition_holds(values: list[Any], condition: Any) -> bool:
    """Whether the values at a path meet a field's condition (a value or `{$op: ...}`)."""
    if is_operator_expression(condition):
        return all(_satisfies(values, op, arg) for op, arg in condition.items())
    return _equals_any(values, condition)


def matches(document: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Whether the document is selected by the filter."""
    for key, condition in query.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(condition, list) or not condition:
                raise OperationFailure(f"{key} must be a nonempty array", code=2)
            results = (matches(document, clause) for clause in condition)
            held = all(results) if key == "$and" else any(results)
            if held == (key == "$nor"):
                return False
        elif key.startswith("$"):
            raise OperationFailure(f"unknown top level operator: {key}", code=2)
        elif not condition_holds(resolve(document, path_parts(key)), condition):
            return False
    return True


def equality_fields(query: Mapping[str, Any]) -> Document:
    """What an upsert's new document takes from the filter: its equality conditions."""
    seed: Document = {}
    for key, condition in query.items():
        if key == "$and" or (key == "$or" and len(condition) == 1):
            for clause in condition:
                for path, value in equality_fields(clause).items():
                    set_path(seed, path, value)
        elif key.startswith("$"):
            continue
        elif not is_operator_expression(condition):
            set_path(seed, key, copy.deepcopy(condition))
        elif "$eq" in condition:
            set_path(seed, key, copy.deepcopy(condition["$eq"]))
    return seed


# ---- sort and projection ---------------------------------------------------------------

def _sort_value(document: Document, path: str, ascending: bool) -> Any:
    values: list[Any] = []
    for value in resolve(document, path_parts(path)) or [[]]:
        if isinstance(value, list):
            values.extend(value if value else [_EMPTY_ARRAY])
        else:
            values.append(None if value is MISSING else value)
    pick = min if ascending else max
    return pick(values, key=functools.cmp_to_key(compare))


def _sort_key(path: str, ascending: bool) -> Callable[[Document], Any]:
    order = functools.cmp_to_key(compare)
    return lambda document: order(_sort_value(document, path, ascending))


def sort_documents(documents: list[Document], keys: list[tuple[str, int]]) -> None:
    """Sort in place by the keys, in MongoDB's order (an array by its least element going
    up, by its greatest going down; missing as null); ties keep their order."""
    for path, direction in reversed(keys):
        documents.sort(key=_sort_key(path, direction == 1), reverse=direction != 1)


def _tree(paths: Iterable[str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        *parents, leaf = path.split(".")
        node = tree
        for part in parents:
            child = node.setdefault(part, {})
            if child is True:
                break
            node = child
        else:
            node[leaf] = True
    return tree


def _include(value: Any, tree: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_include(item, tree) for item in value if isinstance(item, Mapping | list)]
    kept: Document = {}
    for key, item in value.items():
        branch = tree.get(key)
        if branch is True:
            kept[key] = item
        elif branch and isinstance(item, Mapping | list):
            kept[key] = _include(item, branch)
    return kept


def _exclude(value: Any, tree: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_exclude(item, tree) if isinstance(item, Mapping | list) else item
                for item in value]
    kept: Document = {}
    for key, item in value.items():
        branch = tree.get(key)
        if branch is True:
            continue
        kept[key] = _exclude(item, branch) if branch and isinstance(item, Mapping | list) else item
    return kept


def project(document: Document, projection: Mapping[str, Any] | None) -> Document:
    """The fields a find projection keeps (inclusion or exclusion, dotted paths)."""
    if not projection:
        return document
    fields = dict(projection)
    with_id = fields.pop("_id", None)
    if any(isinstance(flag, Mapping) for flag in fields.values()):
        raise OperationFailure("projection operators are not supported in memory", code=2)
    included = {path for path, flag in fields.items() if flag}
    if included and len(included) != len(fields):
        raise OperationFailure("cannot mix inclusion and exclusion in a projection", code=2)
    if included or (with_id is not None and with_id and not fields):
        kept = _include(document, _tree(included))
        if with_id is None or with_id:
            kept = {"_id": document["_id"], **kept} if "_id" in document else kept
        return dict(kept)
    excluded = set(fields) | ({"_id"} if with_id is not None and not with_id else set())
    return dict(_exclude(document, _tree(excluded)))


# ---- updates ---------------------------------------------------------------------------

def write_error(message: str, code: int) -> WriteError:
    """The error MongoDB answers a write with."""
    return WriteError(message, code, {"index": 0, "code": code, "errmsg": message})


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part, MISSING)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return MISSING


def _put(node: Any, part: str, value: Any) -> None:
    if isinstance(node, dict):
        node[part] = value
        return
    index = int(part)
    node.extend([None] * (index + 1 - len(node)))  # MongoDB pads an array with nulls
    node[index] = value


def _accepts(node: Any, part: str) -> bool:
    return isinstance(node, dict) or (isinstance(node, list) and part.isdigit())


def _locate(document: Document, path: str, create: bool) -> tuple[Any, str] | None:
    """The container holding the path's last field (None when the path cannot be there),
    with the subdocuments on the way made when `create`."""
    parts = path.split(".")
    node: Any = document
    for depth, part in enumerate(parts, start=1):
        if not _accepts(node, part):
            if create:
                raise write_error(f"Cannot create field '{part}' in element at '{path}'", 28)
            return None
        if depth == len(parts):
            break
        child = _child(node, part)
        if child is MISSING:
            if not create:
                return None
            child = {}
            _put(node, part, child)
        node = child
    return node, parts[-1]


def get_path(document: Document, path: str) -> Any:
    """The value at a dotted path (no array traversal), or MISSING."""
    located = _locate(document, path, create=False)
    return MISSING if located is None else _child(*located)


def set_path(document: Document, path: str, value: Any) -> None:
    """Set the value at a dotted path, making the subdocuments on the way."""
    node, last = _locate(document, path, create=True) or (None, "")
    _put(node, last, value)


def _unset(document: Document, path: str, _: Any) -> None:
    located = _locate(document, path, create=False)
    if located is None:
        return
    node, last = located
    if isinstance(node, dict):
        node.pop(last, None)
    elif _child(node, last) is not MISSING:
        node[int(last)] = None  # MongoDB nulls an array element rather than shift the rest


def _inc(document: Document, path: str, amount: Any) -> None:
    if type_rank(amount) != 10:
        raise write_error(f"Cannot increment with non-numeric argument: {{{path}: {amount!r}}}", 14)
    current = get_path(document, path)
    if current is MISSING:
        set_path(document, path, amount)
    elif type_rank(current) != 10:
        raise write_error(f"Cannot apply $inc to a value of non-numeric type at '{path}'", 14)
    elif isinstance(current, Decimal128) or isinstance(amount, Decimal128):
        set_path(document, path, Decimal128(_plain(current, 10) + _plain(amount, 10)))
    else:
        set_path(document, path, current + amount)


def _array_at(document: Document, path: str, operator: str, create: bool) -> list[Any] | None:
    current = get_path(document, path)
    if current is MISSING:
        if not create:
            return None
        current = []
        set_path(document, path, current)
    if not isinstance(current, list):
        raise write_error(f"Cannot apply {operator} to non-array field '{path}'", 2)
    return current


def _add_to_set(document: Document, path: str, value: Any) -> None:
    each = isinstance(value, Mapping) and list(value) == ["$each"]
    current = _array_at(document, path, "$addToSet", create=True)
    assert current is not None
    for item in value["$each"] if each else [value]:
        if not any(compare(present, item) == 0 for present in current):
            current.append(item)


def _pulled(item: Any, condition: Any) -> bool:
    if isinstance(condition, Mapping) and not is_operator_expression(condition):
        return isinstance(item, Mapping) and matches(item, condition)
    if is_operator_expression(condition):
        return condition_holds([item], condition)
    return compare(item, condition) == 0


def _pull(document: Document, path: str, condition: Any) -> None:
    current = _array_at(document, path, "$pull", create=False)
    if current is not None:
        current[:] = [item for item in current if not _pulled(item, condition)]


_OPERATORS: Final[dict[str, Callable[[Document, str, Any], None]]] = {
    "$set": set_path,
    "$setOnInsert": set_path,
    "$unset": _unset,
    "$inc": _inc,
    "$addToSet": _add_to_set,
    "$pull": _pull,
}


def check_update(update: Mapping[str, Any]) -> None:
    """Refuse, before any document changes, what MongoDB refuses: an unknown operator, or
    two operators on one path (or on a path and a field inside it)."""
    paths: list[str] = []
    for operator, fields in update.items():
        if operator not in _OPERATORS or not isinstance(fields, Mapping):
            raise write_error(f"Unknown modifier: {operator}", 9)
        paths.extend(fields)
    for index, path in enumerate(paths):
        for other in paths[index + 1:]:
            if path == other or other.startswith(path + ".") or path.startswith(other + "."):
                raise write_error(
                    f"Updating the path '{other}' would create a conflict at '{path}'", 40
                )


def apply_update(document: Document, update: Mapping[str, Any], inserting: bool) -> None:
    """Apply the update operators to the document in place (`$setOnInsert` only when the
    upsert inserts)."""
    for operator, fields in update.items():
        if operator == "$setOnInsert" and not inserting:
            continue
        for path, argument in fields.items():
            _OPERATORS[operator](document, path, copy.deepcopy(argument))
