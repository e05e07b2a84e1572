"""The dead-letter queue of the partners' replies: what it holds, reading it, replaying it.

A message the inbound consumer cannot handle is parked on `partners.reservations.dlq`
with its original key, value and headers, plus `dlq.*` headers saying why and where it
came from. The stream moves on; an operator lists the parked messages and, once the
cause is fixed, replays them to the topic they came from.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from travelbuddy.integration.kafka import new_consumer, new_producer
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
POLL_MS = 500

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
    def of(cls, record: Any) -> DeadLetter:
        """The dead letter a consumer record of the DLQ holds."""
        return cls(
            key=record.key,
            value=record.value,
            headers={name: bytes(value or b"") for name, value in record.headers},
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
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


async def read_dead_letters(
    bootstrap_servers: str, progress: Progress | None = None
) -> list[DeadLetter]:
    """Every dead letter from the start of the DLQ to its end at the time of the call.

    Reads with no consumer group: nothing is committed, nothing changes.
    """
    partitions = await topic_partitions(bootstrap_servers, RESERVATIONS_DLQ)
    if not partitions:
        return []
    consumer = new_consumer(bootstrap_servers, None)
    await consumer.start()
    try:
        start = await consumer.beginning_offsets(partitions)
        letters: list[DeadLetter] = []
        async for record, total in _records(consumer, start):
            letters.append(DeadLetter.of(record))
            if progress:
                progress(len(letters), total)
        return letters
    finally:
        await consumer.stop()


async def replay_dead_letters(
    bootstrap_servers: str, group_id: str = "dlq-replay", progress: Progress | None = None
) -> int:
    """Send each dead letter not replayed yet back to its source topic; return how many.

    The replay group's offset is committed after each one is sent, so a second replay
    sends nothing again; a replay cut short resends at most the one in flight. Dead
    letters whose source is not a partner reply topic are skipped (and logged).
    """
    partitions = await topic_partitions(bootstrap_servers, RESERVATIONS_DLQ)
    if not partitions:
        return 0
    consumer = new_consumer(bootstrap_servers, group_id)
    producer = new_producer(bootstrap_servers)
    await producer.start()
    try:
        await consumer.start()
        try:
            start = await _replay_positions(consumer, partitions)
            replayed = done = 0
            async for record, total in _records(consumer, start):
                replayed += await _replay(producer, DeadLetter.of(record))
                await consumer.commit({TopicPartition(record.topic, record.partition):
                                       record.offset + 1})
                done += 1
                if progress:
                    progress(done, total)
            return replayed
        finally:
            await consumer.stop()
    finally:
        await producer.stop()


async def _replay(producer: AIOKafkaProducer, letter: DeadLetter) -> int:
    topic = letter.source_topic
    if topic not in REPLAYABLE_TOPICS:
        log.warning("event=dead_letter_not_replayed dlq_offset=%d source_topic=%s",
                    letter.offset, topic)
        return 0
    await producer.send_and_wait(
        topic, key=letter.key, value=letter.value, headers=letter.original_headers
    )
    log.info("event=dead_letter_replayed dlq_offset=%d topic=%s source_offset=%s",
             letter.offset, topic, letter.source_offset)
    return 1


async def topic_partitions(bootstrap_servers: str, topic: str) -> list[TopicPartition]:
    """The partitions of a topic; none when it does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, p["partition"])
            for t in described if t["topic"] == topic and t["error_code"] == 0
            for p in sorted(t["partitions"], key=lambda p: int(p["partition"]))]


async def _replay_positions(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    beginning = await consumer.beginning_offsets(partitions)
    positions = {}
    for tp in partitions:
        committed = await consumer.committed(tp)
        positions[tp] = beginning[tp] if committed is None else max(committed, beginning[tp])
    return positions


async def _records(
    consumer: AIOKafkaConsumer, start: dict[TopicPartition, int]
) -> AsyncIterator[tuple[Any, int]]:
    """The records from `start` up to the end offsets as of now, with how many there are."""
    partitions = list(start)
    consumer.assign(partitions)
    end = await consumer.end_offsets(partitions)
    total = sum(max(0, end[tp] - start[tp]) for tp in partitions)
    for tp in partitions:
        consumer.seek(tp, start[tp])
    remaining = {tp for tp in partitions if start[tp] < end[tp]}
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=POLL_MS)
        for tp, records in batches.items():
            for record in records:
                if record.offset < end[tp]:
                    yield record, total
        for tp in list(remaining):
            if await consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
