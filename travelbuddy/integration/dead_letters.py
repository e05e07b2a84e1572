"""The dead-letter queue of the partners' replies: what it holds, reading it, replaying it.

A message the inbound consumer cannot handle is parked on `partners.reservations.dlq`
with its original key, value and headers, plus `dlq.*` headers saying why and where it
came from. The stream moves on; an operator lists the parked messages and, once the
cause is fixed, replays them to the topic they came from.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from travelbuddy.integration.bus import Bus, Message
from travelbuddy.integration.topics import FLIGHT_REPLIES, HOTEL_REPLIES, RESERVATIONS_DLQ

log = logging.getLogger(__name__)

HEADER_PREFIX = "dlq."
ERROR = "dlq.error"
ERROR_TYPE = "dlq.error.type"
SOURCE_TOPIC = "dlq.source.topic"
SOURCE_PARTITION = "dlq.source.partition"
SOURCE_OFFSET = "dlq.source.offset"
DEAD_LETTERED_AT = "dlq.dead_lettered_at"

REPLAYABLE_TOPICS = frozenset({HOTEL_REPLIES, FLIGHT_REPLIES})
MAX_ERROR_CHARS = 1000

Progress = Callable[[int, int], None]
"""Told (dead letters done, dead letters in this run) after each one."""

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class DeadLetter:
    """A parked message: its original key and value, its headers, and where it sits in the DLQ."""

    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    topic: str
    partition: int
    offset: int

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
    """The headers of a parked message: its own (minus stale `dlq.*` ones) and why it is here."""
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
    kept = [(n, bytes(v or b"")) for n, v in original if not n.startswith(HEADER_PREFIX)]
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


async def replay_dead_letters(
    bus: Bus, group_id: str = "dlq-replay", progress: Progress | None = None
) -> int:
    """Send each dead letter not replayed yet back to its source topic; return how many.

    The replay group's offset is committed after each one is sent, so a second replay
    sends nothing again; a replay cut short resends at most the one in flight. Dead
    letters whose source is not a partner reply topic are skipped (and logged).
    """
    replayed = done = 0
    async with bus.read_to_end(RESERVATIONS_DLQ, group_id) as backlog:
        async for message in backlog:
            replayed += await _replay(bus, DeadLetter.of(message))
            await backlog.commit(message)
            done += 1
            if progress:
                progress(done, backlog.total)
    return replayed


async def _replay(bus: Bus, letter: DeadLetter) -> int:
    topic = letter.source_topic
    if topic not in REPLAYABLE_TOPICS:
        log.warning("event=dead_letter_not_replayed dlq_offset=%d source_topic=%s",
                    letter.offset, topic)
        return 0
    await bus.publish(topic, letter.key, letter.value, letter.original_headers)
    log.info("event=dead_letter_replayed dlq_offset=%d topic=%s source_offset=%s",
             letter.offset, topic, letter.source_offset)
    return 1
