"""The EventStore port: append-only streams of events with optimistic concurrency."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class ConcurrencyError(Exception):
    """The stream moved on since the expected version was read; nothing was written."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(f"stream {stream_id} is no longer at version {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version


class StoreUnavailable(Exception):
    """The store could not be reached in time (a database away); nothing is known to be
    written, and the same request may be retried (a command with its command id)."""


class DuplicateCommand(Exception):
    """An event of this command id is stored already; nothing was written."""

    def __init__(self, command_id: str) -> None:
        super().__init__(f"command {command_id} was handled before")
        self.command_id = command_id


def command_key(command_id: str, issued_by: str | None) -> str:
    """The key a store keeps unique for a command: its sender and its id. The sender is
    length-prefixed, so no other pair has the same key (joined with a separator, `carol` +
    `x<sep>y` and `carol<sep>x` + `y` would collide). Both adapters store this key."""
    sender = issued_by or ""
    return f"{len(sender)}:{sender}{command_id}"


class MalformedEvent(ValueError):
    """A stored document that is not an event (a field missing or of the wrong kind);
    followers park it and move on."""

    def __init__(self, document: dict[str, Any], error: Exception) -> None:
        super().__init__(f"malformed event document {document.get('_id')!r}: {error!r}")
        self.document = document


@dataclass(frozen=True)
class EventMetadata:
    """Who caused an event and why: stored beside its data."""

    event_id: str
    customer_id: str
    recorded_at: dt.datetime
    command_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    issued_by: str | None = None
    """Who sent the command; a command id is unique per sender, not across senders."""
    command_digest: str | None = None
    """A digest of the command, so a command id sent again with another command is told
    apart from a retry."""
    traceparent: str | None = None
    """The W3C trace context of the append that stored the event (observability/tracing.py):
    what the relay's publish continues. Absent on events stored before tracing or with it off."""
    tracestate: str | None = None

    def as_document(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "command_id": self.command_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "customer_id": self.customer_id,
            "recorded_at": self.recorded_at,
            "issued_by": self.issued_by,
            "command_digest": self.command_digest,
            "traceparent": self.traceparent,
            "tracestate": self.tracestate,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> EventMetadata:
        return cls(
            event_id=document["event_id"],
            customer_id=document["customer_id"],
            recorded_at=document["recorded_at"],
            command_id=document.get("command_id"),
            correlation_id=document.get("correlation_id"),
            causation_id=document.get("causation_id"),
            issued_by=document.get("issued_by"),
            command_digest=document.get("command_digest"),
            traceparent=document.get("traceparent"),
            tracestate=document.get("tracestate"),
        )


@dataclass(frozen=True)
class NewEvent:
    """An event to append: its type, schema version, JSON-compatible data and metadata."""

    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: EventMetadata


@dataclass(frozen=True)
class StoredEvent:
    """An event as the store holds it: a stream, a version in that stream, and the rest."""

    stream_id: str
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: EventMetadata
    position: Any = field(default=None, compare=False)
    """Where the event stands in the store's global order (adapter-specific)."""


class EventStore(Protocol):
    """Streams of events; an append is all or nothing and checks the expected version.

    Every event of a stream carries the stream's owner in `metadata.customer_id` (the
    command handler writes the booking's customer there, whoever sent the command); the
    stores keep it beside the event as `owner`, which `read(stream_id, owner)` filters on.
    """

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> int:
        """Append events after `expected_version` (0 for a new stream); return the new version.

        Raises ConcurrencyError when the stream is not at `expected_version`, and
        DuplicateCommand when an event with the same command id from the same sender
        (`metadata.issued_by`) is stored already;
        in both cases nothing is written.
        """
        ...

    async def read(self, stream_id: str, owner: str | None = None) -> list[StoredEvent]:
        """All events of a stream, in version order (empty for an unknown stream).

        With `owner`, only a stream of that owner (the customer of its first event,
        stored on every event as the stream's owner): another's stream is answered empty
        by the store itself, with the same work as a stream that does not exist, so a
        caller cannot tell the two apart, not even by the time the answer takes.
        """
        ...

    def read_all(self) -> AsyncIterator[StoredEvent]:
        """Every event of every stream, stream after stream, each in version order.

        What a catch-up or a rebuild replays. Never the order of positions: those are
        made by each writing process and need not follow a stream's versions.
        """
        ...

    async def find_by_command(self, command_id: str, issued_by: str | None) -> StoredEvent | None:
        """The event a command of this sender and id produced, if it was handled."""
        ...

    async def count(self, after_position: Any = None) -> int:
        """How many events the store holds after a position (all, without one)."""
        ...

    async def oldest_recorded_at(self, after_position: Any = None) -> dt.datetime | None:
        """When the first event after a position (the first of all, without one) was
        recorded; None when there is none. How far behind a follower is, in time."""
        ...
