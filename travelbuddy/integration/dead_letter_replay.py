"""Replaying dead letters: the ones chosen, each at most once, permanent faults only when forced.

A replay sends a dead letter back to the topic it came from, with its original key, value
and headers and a `dlq.replay.of` header naming it. What was sent is recorded on
`partners.reservations.dlq.replays` (compacted, keyed by dead-letter id), on whichever bus
the service runs (Kafka or the SQLite file): a marker `replaying` before the send and
`replayed` once the bus has the message. A dead letter with a marker is not sent again
(unless asked `again`): one whose last marker is `replaying` was maybe sent, maybe not (a
replay stopped in between), and is shown as in doubt. A marker names the dead letter by
its DLQ position and a fingerprint of its content, so a DLQ made anew (positions starting
over) does not inherit the markers of the old one.

A dead letter sent back and parked again is a new dead letter (a new position) carrying
`dlq.replay.of`; it is sent again only when chosen again, and, its fault being permanent,
only with `force`.

Dead letters the replay of an earlier version sent (it kept one committed offset in the
consumer group `dlq-replay`, and no markers) count as replayed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from travelbuddy.integration.bus import Bus, TopicPartition
from travelbuddy.integration.dead_letters import (
    DEAD_LETTERED_AT,
    REPLAY_OF,
    REPLAYABLE_TOPICS,
    DeadLetter,
    Fault,
    Progress,
    read_dead_letters,
)
from travelbuddy.integration.topics import DLQ_REPLAYS, RESERVATIONS_DLQ
from travelbuddy.observability.logs import get_logger

log = get_logger(__name__)

EARLIER_REPLAY_GROUP = "dlq-replay"
"""The consumer group the replay of earlier versions committed its progress in."""


class ReplayState(StrEnum):
    WAITING = "waiting"
    """Never sent back."""
    REPLAYED = "replayed"
    IN_DOUBT = "in_doubt"
    """A replay began to send it and never recorded that the bus had it."""


class ReplayMarker(BaseModel):
    """One message of the replays topic: what a replay did with one dead letter."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    dead_letter: str
    fingerprint: str
    state: Literal["replaying", "replayed"]
    topic: str
    at: dt.datetime


@dataclass(frozen=True)
class TrackedLetter:
    """A dead letter and whether it was sent back."""

    letter: DeadLetter
    state: ReplayState


@dataclass(frozen=True)
class Selection:
    """Which dead letters to replay: those matching every criterion given (each criterion
    matches any of its values); everything when none is given."""

    ids: frozenset[str] = frozenset()
    reasons: frozenset[str] = frozenset()
    from_offset: int | None = None
    """The first DLQ offset chosen (in each partition), inclusive."""
    to_offset: int | None = None
    """The last DLQ offset chosen, inclusive."""

    def matches(self, letter: DeadLetter) -> bool:
        return ((not self.ids or letter.id in self.ids)
                and (not self.reasons or letter.reason in self.reasons)
                and (self.from_offset is None or letter.offset >= self.from_offset)
                and (self.to_offset is None or letter.offset <= self.to_offset))


@dataclass
class ReplayReport:
    """What one replay did with the dead letters it was asked for."""

    sent: list[str] = field(default_factory=list)
    """The ids of the dead letters sent back, in the order sent."""
    replayed_before: list[str] = field(default_factory=list)
    """Chosen, but sent by an earlier replay (or in doubt): not sent again."""
    refused: Counter[str] = field(default_factory=Counter)
    """Chosen, but of a permanent (or unknown) fault and not forced: count per reason."""
    not_replayable: list[str] = field(default_factory=list)
    """Chosen, but from a topic that is not a partner reply topic."""
    unknown_ids: list[str] = field(default_factory=list)
    """Ids asked for that name no dead letter."""


@dataclass(frozen=True)
class ReasonCount:
    """One line of the DLQ's summary: a reason, its fault and its dead letters by state."""

    reason: str
    fault: Fault
    states: Counter[ReplayState]

    @property
    def total(self) -> int:
        return sum(self.states.values())


def fingerprint(letter: DeadLetter) -> str:
    """What a marker checks besides the position: the letter's key, value and parking time."""
    digest = hashlib.sha256()
    for part in (letter.key, letter.value, letter.headers.get(DEAD_LETTERED_AT)):
        digest.update(b"\x00" if part is None else b"\x01" + len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()[:16]


async def tracked_dead_letters(bus: Bus, progress: Progress | None = None) -> list[TrackedLetter]:
    """Every dead letter in the DLQ now, each with its replay state. Changes nothing."""
    letters = await read_dead_letters(bus, progress)
    markers = await _read_markers(bus)
    earlier = await bus.committed_offsets(EARLIER_REPLAY_GROUP, [RESERVATIONS_DLQ])
    return [TrackedLetter(letter, _state(letter, markers, earlier)) for letter in letters]


def reason_counts(tracked: Iterable[TrackedLetter]) -> list[ReasonCount]:
    """Per reason (in name order): its fault and how many of its dead letters are in
    each replay state."""
    counts: dict[str, ReasonCount] = {}
    for item in tracked:
        letter = item.letter
        line = counts.setdefault(letter.reason, ReasonCount(letter.reason, letter.fault, Counter()))
        line.states[item.state] += 1
    return [counts[reason] for reason in sorted(counts)]


async def replay_dead_letters(
    bus: Bus,
    selection: Selection | None = None,
    *,
    force: bool = False,
    again: bool = False,
    progress: Progress | None = None,
) -> ReplayReport:
    """Send the chosen dead letters back to their source topics, recording each.

    Skipped: those replayed before (unless `again`), those of a fault not known to be
    retryable (unless `force`), and those whose source is not a partner reply topic.
    """
    selection = selection or Selection()
    await bus.ensure_topics()  # the replays topic is younger than the DLQ
    tracked = await tracked_dead_letters(bus)
    report = ReplayReport(unknown_ids=sorted(selection.ids - {t.letter.id for t in tracked}))
    chosen = [item for item in tracked if selection.matches(item.letter)]
    for done, item in enumerate(chosen, start=1):
        letter = item.letter
        if item.state is not ReplayState.WAITING and not again:
            report.replayed_before.append(letter.id)
        elif letter.source_topic not in REPLAYABLE_TOPICS:
            report.not_replayable.append(letter.id)
            log.warning("dead_letter_not_replayed", dead_letter=letter.id,
                        source_topic=letter.source_topic)
        elif letter.fault is not Fault.RETRYABLE and not force:
            report.refused[letter.reason] += 1
        else:
            await _send_back(bus, letter)
            report.sent.append(letter.id)
        if progress:
            progress(done, len(chosen))
    return report


async def _send_back(bus: Bus, letter: DeadLetter) -> None:
    topic = letter.source_topic
    assert topic is not None
    await _mark(bus, letter, "replaying", topic)
    headers = [*letter.original_headers, (REPLAY_OF, letter.id.encode())]
    await bus.publish(topic, letter.key, letter.value, headers)
    await _mark(bus, letter, "replayed", topic)
    log.info("dead_letter_replayed", dead_letter=letter.id, reason=letter.reason, topic=topic,
             source_offset=letter.source_offset)


async def _mark(
    bus: Bus, letter: DeadLetter, state: Literal["replaying", "replayed"], topic: str
) -> None:
    marker = ReplayMarker(dead_letter=letter.id, fingerprint=fingerprint(letter), state=state,
                          topic=topic, at=dt.datetime.now(dt.UTC))
    await bus.publish(DLQ_REPLAYS, letter.id.encode(), marker.model_dump_json().encode())


async def _read_markers(bus: Bus) -> dict[str, ReplayMarker]:
    """The last marker of each dead letter, by dead-letter id."""
    markers: dict[str, ReplayMarker] = {}
    async with bus.read_to_end(DLQ_REPLAYS) as backlog:
        async for message in backlog:
            try:
                marker = ReplayMarker.model_validate_json(message.value or b"")
            except ValidationError:
                log.warning("replay_marker_unreadable", offset=message.offset)
                continue
            markers[marker.dead_letter] = marker
    return markers


def _state(
    letter: DeadLetter, markers: dict[str, ReplayMarker], earlier: dict[TopicPartition, int]
) -> ReplayState:
    marker = markers.get(letter.id)
    if marker is not None and marker.fingerprint == fingerprint(letter):
        return ReplayState.REPLAYED if marker.state == "replayed" else ReplayState.IN_DOUBT
    if letter.offset < earlier.get(TopicPartition(letter.topic, letter.partition), 0):
        return ReplayState.REPLAYED
    return ReplayState.WAITING
