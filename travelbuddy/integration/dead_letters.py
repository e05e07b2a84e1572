"""The dead-letter queue of the partners' replies: what it holds, and reading it.

A message the inbound consumer cannot handle is parked on `partners.reservations.dlq`
with its original key, value and headers, plus `dlq.*` headers saying why and where it
came from. The stream moves on; an operator lists the parked messages and, once the
cause is fixed, replays them to the topic they came from (dead_letter_replay.py).

Each reason (`dlq.error.type`) is a fault of one kind: permanent when the message itself
can never be handled (sending the same bytes again parks them again), retryable when the
fault was ours (a bug, a dependency failing in a way the consumer did not expect).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from travelbuddy.integration.bus import Bus, Message
from travelbuddy.integration.topics import FLIGHT_REPLIES, HOTEL_REPLIES, RESERVATIONS_DLQ

HEADER_PREFIX = "dlq."
ERROR = "dlq.error"
ERROR_TYPE = "dlq.error.type"
SOURCE_TOPIC = "dlq.source.topic"
SOURCE_PARTITION = "dlq.source.partition"
SOURCE_OFFSET = "dlq.source.offset"
DEAD_LETTERED_AT = "dlq.dead_lettered_at"
REPLAY_OF = "dlq.replay.of"
"""On a message a replay sent: the id of the dead letter it was. Kept when the message is
parked again, so a dead letter that came back says which one it came back from."""

REPLAYABLE_TOPICS = frozenset({HOTEL_REPLIES, FLIGHT_REPLIES})
MAX_ERROR_CHARS = 1000

Progress = Callable[[int, int], None]
"""Told (dead letters done, dead letters in this run) after each one."""

Headers = list[tuple[str, bytes]]


class Fault(StrEnum):
    """Whether sending a dead letter again can help."""

    PERMANENT = "permanent"
    RETRYABLE = "retryable"
    UNKNOWN = "unknown"
    """A reason this version does not know (or none): treated as permanent."""


FAULTS: dict[str, Fault] = {
    # The message is not a reply, or not one for this topic and key: the same bytes
    # fail the same way.
    "invalid_json": Fault.PERMANENT,
    "unknown_reply_type": Fault.PERMANENT,
    "invalid_reply": Fault.PERMANENT,
    "wrong_topic": Fault.PERMANENT,
    "key_mismatch": Fault.PERMANENT,
    # The booking is not there, or its rules refuse the reply: the partner answered
    # something this service never asked, or no longer can take.
    "unknown_booking": Fault.PERMANENT,
    "rejected_by_domain": Fault.PERMANENT,
    # Our fault: an exception the consumer did not expect; once fixed, the reply applies.
    "handler_error": Fault.RETRYABLE,
}
"""Each reason the inbound consumer writes (its `Poison` error types), by fault."""


@dataclass(frozen=True)
class DeadLetter:
    """A parked message: its original key and value, its headers, and where it sits in the DLQ."""

    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    topic: str
    partition: int
    offset: int

    @property
    def id(self) -> str:
        """Where it sits in the DLQ, `partition:offset`: what an operator names it by."""
        return f"{self.partition}:{self.offset}"

    @classmethod
    def of(cls, message: Message) -> DeadLetter:
        """The dead letter a message of the DLQ holds."""
        return cls(
            key=message.key,
            value=message.value,
            headers=dict(message.headers),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )

    def header(self, name: str) -> str | None:
        """A header as text (undecodable bytes replaced), None when absent."""
        value = self.headers.get(name)
        return None if value is None else value.decode("utf-8", errors="replace")

    @property
    def error(self) -> str | None:
        return self.header(ERROR)

    @property
    def error_type(self) -> str | None:
        return self.header(ERROR_TYPE)

    @property
    def reason(self) -> str:
        """The error type, or "unknown" for a message parked without one."""
        return self.error_type or "unknown"

    @property
    def fault(self) -> Fault:
        return FAULTS.get(self.reason, Fault.UNKNOWN)

    @property
    def replay_of(self) -> str | None:
        """The dead letter whose replay this one is, when it came back from a replay."""
        return self.header(REPLAY_OF)

    @property
    def source_topic(self) -> str | None:
        return self.header(SOURCE_TOPIC)

    @property
    def source_partition(self) -> int | None:
        return _int_or_none(self.header(SOURCE_PARTITION))

    @property
    def source_offset(self) -> int | None:
        return _int_or_none(self.header(SOURCE_OFFSET))

    @property
    def original_headers(self) -> Headers:
        """The headers the message carried before it was parked."""
        return [(n, v) for n, v in self.headers.items() if not n.startswith(HEADER_PREFIX)]


def _int_or_none(text: str | None) -> int | None:
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


def dead_letter_headers(
    original: Sequence[tuple[str, bytes]],
    *,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    error_type: str,
    error: str,
    now: dt.datetime | None = None,
) -> Headers:
    """The headers of a parked message: its own (minus stale `dlq.*` ones, but keeping which
    dead letter it is the replay of) and why it is here."""
    parked_at = (now or dt.datetime.now(dt.UTC)).isoformat()
    reason = {
        ERROR: error[:MAX_ERROR_CHARS],
        ERROR_TYPE: error_type,
        SOURCE_TOPIC: source_topic,
        SOURCE_PARTITION: str(source_partition),
        SOURCE_OFFSET: str(source_offset),
        DEAD_LETTERED_AT: parked_at,
    }
    # A replayed message that fails again keeps only the newest reason.
    kept = [(n, bytes(v or b"")) for n, v in original
            if not n.startswith(HEADER_PREFIX) or n == REPLAY_OF]
    return kept + [(name, text.encode()) for name, text in reason.items()]


async def read_dead_letters(bus: Bus, progress: Progress | None = None) -> list[DeadLetter]:
    """Every dead letter from the start of the DLQ to its end at the time of the call.

    Reads with no consumer group: nothing is committed, nothing changes.
    """
    letters: list[DeadLetter] = []
    async with bus.read_to_end(RESERVATIONS_DLQ) as backlog:
        async for message in backlog:
            letters.append(DeadLetter.of(message))
            if progress:
                progress(len(letters), backlog.total)
    return letters
