"""Change streams of the in-memory database.

Each collection keeps a bounded log of its changes; a stream reads that log from where it
was opened, or from just after a resume token, and waits on an event (never a busy loop)
when it has read everything. Change documents look like MongoDB's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bson.timestamp import Timestamp
from pymongo.errors import OperationFailure

from travelbuddy.embedded.document_matching import Document, decode, matches

CHANGE_LOG_SIZE = 10_000
ENDS_A_STREAM = "invalidate"


class Clock:
    """One database's sequence of changes: every change takes the next number."""

    def __init__(self) -> None:
        self.now = 0

    def tick(self) -> int:
        self.now += 1
        return self.now


def resume_token(sequence: int) -> dict[str, str]:
    return {"_data": f"{sequence:016x}"}


def _sequence_of(token: Any) -> int:
    try:
        return int(token["_data"], 16)
    except (TypeError, KeyError, ValueError) as error:
        raise OperationFailure(f"invalid resume token {token!r}", code=260) from error


def _history_lost() -> OperationFailure:
    return OperationFailure(
        "the resume point is no longer in the change log", code=286,
        details={"code": 286, "codeName": "ChangeStreamHistoryLost"},
    )


@dataclass(frozen=True)
class _Change:
    sequence: int
    cluster_time: Timestamp
    operation: str
    namespace: dict[str, str]
    key: bytes | None = None  # BSON of the documentKey
    document: bytes | None = None  # BSON of the document an insert or replace wrote
    target: dict[str, str] | None = None  # where a rename went


class ChangeLog:
    """The latest changes of one collection, oldest first, and the streams waiting for more."""

    def __init__(
        self, clock: Clock, capacity: int, lookup: Callable[[Any], Document | None]
    ) -> None:
        self.clock = clock
        self.lookup = lookup  # the current document by _id, for `updateLookup`
        self.waiters: set[asyncio.Event] = set()
        self.dropped = 0
        self._capacity = capacity
        self._changes: deque[_Change] = deque()
        self._last_dropped_sequence = 0

    @property
    def end(self) -> int:
        """The position after the newest change."""
        return self.dropped + len(self._changes)

    def record(
        self,
        operation: str,
        namespace: dict[str, str],
        key: bytes | None = None,
        document: bytes | None = None,
        target: dict[str, str] | None = None,
    ) -> None:
        """Append a change, forget the oldest past capacity, wake the waiting streams."""
        sequence = self.clock.tick()
        self._changes.append(_Change(
            sequence, Timestamp(int(time.time()), sequence & 0xFFFFFFFF), operation,
            namespace, key, document, target,
        ))
        if len(self._changes) > self._capacity:
            self._last_dropped_sequence = self._changes.popleft().sequence
            self.dropped += 1
        for waiter in self.waiters:
            waiter.set()

    def end_streams(self, namespace: dict[str, str], target: dict[str, str]) -> None:
        """A rename moved the collection (or replaced it): streams on it end."""
        self.record("rename", namespace, target=target)
        self.record(ENDS_A_STREAM, namespace)

    def position_after(self, token: Any) -> int:
        """The position of the first change after a resume token."""
        sequence = _sequence_of(token)
        if sequence < self._last_dropped_sequence:
            raise _history_lost()
        for offset, change in enumerate(self._changes):
            if change.sequence > sequence:
                return self.dropped + offset
        return self.end

    def at(self, position: int) -> _Change:
        if position < self.dropped:
            raise _history_lost()
        return self._changes[position - self.dropped]

    def render(self, change: _Change, full_document: str | None) -> Document:
        """The change document, as MongoDB writes it."""
        rendered: Document = {
            "_id": resume_token(change.sequence),
            "operationType": change.operation,
            "clusterTime": change.cluster_time,
        }
        if change.document is not None:
            rendered["fullDocument"] = decode(change.document)
        elif change.operation == "update" and full_document == "updateLookup":
            assert change.key is not None
            # Looked up when read, not when written: MongoDB's updateLookup does the same.
            rendered["fullDocument"] = self.lookup(decode(change.key)["_id"])
        if change.operation != ENDS_A_STREAM:
            rendered["ns"] = dict(change.namespace)
        if change.target is not None:
            rendered["to"] = dict(change.target)
        if change.key is not None:
            rendered["documentKey"] = decode(change.key)
        return rendered


class InMemoryChangeStream:
    """What `watch` returns: `try_next`, `next`, `async for`, `resume_token`, `alive`,
    `close` and `async with`, as PyMongo's `AsyncChangeStream`."""

    def __init__(
        self,
        log: ChangeLog,
        position: int,
        token_sequence: int,
        filters: list[Mapping[str, Any]],
        full_document: str | None,
        max_await_time_ms: int | None,
    ) -> None:
        self._log = log
        self._position = position
        self._token_sequence = token_sequence
        self._filters = filters
        self._full_document = full_document
        self._max_await = None if max_await_time_ms is None else max_await_time_ms / 1000
        self._closed = False
        self._wakeup = asyncio.Event()

    @property
    def alive(self) -> bool:
        """False once closed, or once the stream was invalidated."""
        return not self._closed

    @property
    def resume_token(self) -> dict[str, str]:
        """Where to resume after the most recently returned change (or after everything
        read so far when nothing new came)."""
        return resume_token(self._token_sequence)

    async def try_next(self) -> Document | None:
        """The next change, or None when there is none (after waiting up to
        `max_await_time_ms` when the stream was opened with one) or the stream is closed."""
        change = self._advance()
        if change is None and self._max_await is not None:
            await self._wait(self._max_await)
            change = self._advance()
        return change

    async def next(self) -> Document:
        """The next change, waiting for it; StopAsyncIteration once the stream is closed."""
        while not self._closed:
            change = self._advance()
            if change is not None:
                return change
            await self._wait(None)
        raise StopAsyncIteration

    __anext__ = next

    def __aiter__(self) -> InMemoryChangeStream:
        return self

    async def close(self) -> None:
        """Stop the stream; a waiting `next` returns."""
        self._closed = True
        self._wakeup.set()

    async def __aenter__(self) -> InMemoryChangeStream:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _advance(self) -> Document | None:
        while not self._closed and self._position < self._log.end:
            try:
                change = self._log.at(self._position)
            except OperationFailure:
                self._closed = True
                raise
            self._position += 1
            self._token_sequence = change.sequence
            rendered = self._log.render(change, self._full_document)
            if change.operation == ENDS_A_STREAM:
                self._closed = True  # delivered whatever the filter: the stream ends here
                return rendered
            if all(matches(rendered, query) for query in self._filters):
                return rendered
        if not self._closed:
            self._token_sequence = max(self._token_sequence, self._log.clock.now)
        return None

    async def _wait(self, patience: float | None) -> None:
        self._wakeup.clear()
        if self._closed or self._position < self._log.end:
            return
        self._log.waiters.add(self._wakeup)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(patience):
                    await self._wakeup.wait()
        finally:
            self._log.waiters.discard(self._wakeup)
