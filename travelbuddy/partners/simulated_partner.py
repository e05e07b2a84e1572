"""What the simulated hotel and flight services share: read booking events, answer them.

A partner consumes `travelbuddy.bookings.v1` (on Kafka or on the SQLite bus), works
out its replies to the booking events it cares about, waits its latency, sends the
replies keyed by booking id, and only then commits the offsets (at-least-once). Reply ids
are derived from the booking event's id, so a redelivered event gets the same reply id
and the booking service drops the second command; within a run the partner also skips
event ids it answered.
Malformed messages are logged and skipped: a simulation never stops the stream.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Sequence
from typing import Any, ClassVar, TypeAlias

from travelbuddy.domain import Event, event_from_record
from travelbuddy.integration.bus import Bus, CommitRejected, Message, Subscription, by_partition
from travelbuddy.integration.messages import (
    BookingEventEnvelope,
    FlightRejected,
    FlightReserved,
    HotelRejected,
    HotelReserved,
)
from travelbuddy.integration.topics import BOOKINGS
from travelbuddy.observability.logs import bound, get_logger
from travelbuddy.observability.metrics import PARTNER_REPLIES
from travelbuddy.observability.tracing import consuming, outgoing_headers

log = get_logger(__name__)

Reply: TypeAlias = HotelReserved | HotelRejected | FlightReserved | FlightRejected

_CODE_ALPHABET = string.ascii_uppercase + string.digits
_STOP_GRACE_SECONDS = 10.0
_POLL_SECONDS = 1.0
_REPLY_HEADER_FIELDS = {"type", "reply_id", "booking_id", "causation_id"}


class SimulatedPartner(ABC):
    """A partner service answering booking events on its own reply topic."""

    name: ClassVar[str]
    """Short name for logs, e.g. "hotel"."""
    default_group_id: ClassVar[str]
    reply_topic: ClassVar[str]
    answers_to: ClassVar[frozenset[str]]
    """The booking event types this partner may reply to; all others are ignored."""

    def __init__(
        self,
        bus: Bus,
        group_id: str | None = None,
        *,
        latency: float = 0.05,
        rejection_rate: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        """`latency` is the seconds taken to reply; `rejection_rate` (0..1) the share of
        reservations rejected; pass a seeded `rng` for repeatable codes and rejections."""
        if latency < 0:
            raise ValueError("latency must not be negative")
        if not 0.0 <= rejection_rate <= 1.0:
            raise ValueError("rejection_rate must be between 0 and 1")
        self.bus = bus
        self.group_id = group_id or self.default_group_id
        self.latency = latency
        self.rejection_rate = rejection_rate
        self._rng = rng or random.Random()
        self._answered: set[str] = set()
        self.replies_sent = 0

    @abstractmethod
    def replies_to(self, envelope: BookingEventEnvelope, event: Event) -> Sequence[Reply]:
        """The replies to one booking event of a type in `answers_to` (may be none)."""

    def rejects(self) -> bool:
        """Whether the reservation at hand is rejected, drawn with `rejection_rate`."""
        return self._rng.random() < self.rejection_rate

    def confirmation_code(self, prefix: str) -> str:
        """A code like "HTL-4K7Q2Z"."""
        return f"{prefix}-{''.join(self._rng.choices(_CODE_ALPHABET, k=6))}"

    async def run(self) -> None:
        """Answer booking events until cancelled."""
        subscription = self.bus.subscribe([BOOKINGS], self.group_id)
        await subscription.start()
        try:
            log.info("partner_started", partner=self.name, group_id=self.group_id,
                     latency=self.latency, rejection_rate=self.rejection_rate)
            while True:
                batch = await subscription.poll(_POLL_SECONDS)
                if batch:
                    await _finished_even_if_cancelled(self._answer_and_commit(subscription, batch))
        finally:
            await subscription.stop()
            log.info("partner_stopped", partner=self.name, group_id=self.group_id)

    async def _answer_and_commit(self, subscription: Subscription, batch: list[Message]) -> None:
        for messages in by_partition(batch).values():
            await self._answer(messages)
            await self._commit(subscription, messages[-1])

    async def _answer(self, messages: Sequence[Message]) -> None:
        answering: dict[str, tuple[BookingEventEnvelope, Sequence[Reply]]] = {}
        received = time.time_ns()
        sources: dict[str, Message] = {}  # what each reply's span continues
        for message in messages:
            with bound(partner=self.name, partition=message.partition, offset=message.offset):
                envelope = self._envelope(message)
                if envelope is None or envelope.type not in self.answers_to:
                    continue
                if envelope.id in self._answered or envelope.id in answering:
                    log.info("booking_event_duplicate", booking_id=envelope.subject,
                             event_id=envelope.id, correlation_id=envelope.correlationid)
                    continue
                replies = self._replies(message, envelope)
                if replies is not None:
                    answering[envelope.id] = (envelope, replies)
                    sources[envelope.id] = message
        if not any(replies for _, replies in answering.values()):
            self._answered.update(answering)
            return
        # One wait per batch: the partner "works" on all of them at once, and the
        # replies still leave in the order the booking events came in.
        await asyncio.sleep(self.latency)
        for event_id, (_, replies) in answering.items():
            with consuming(sources[event_id], f"{self.name} partner", received):
                for reply in replies:
                    await self.bus.publish(self.reply_topic, reply.booking_id.encode(),
                                           reply.model_dump_json().encode(), outgoing_headers())
                    self.replies_sent += 1
                    PARTNER_REPLIES.labels(self.name, reply.type.rpartition(".")[2]).inc()
        for envelope, replies in answering.values():
            for reply in replies:
                _log_reply(reply, envelope)
        self._answered.update(answering)

    def _envelope(self, message: Message) -> BookingEventEnvelope | None:
        try:
            if message.value is None:
                raise ValueError("the message has no value")
            return BookingEventEnvelope.model_validate_json(message.value)
        except ValueError as error:  # pydantic's ValidationError is a ValueError
            self._log_skipped(message, error)
            return None

    def _replies(
        self, message: Message, envelope: BookingEventEnvelope
    ) -> Sequence[Reply] | None:
        try:
            event = event_from_record(envelope.type, envelope.dataschemaversion, envelope.data)
        except ValueError as error:  # unknown type or schema version, or data not fitting
            self._log_skipped(message, error)
            return None
        return self.replies_to(envelope, event)

    def _log_skipped(self, message: Message, error: Exception) -> None:
        key = message.key.decode(errors="replace") if message.key is not None else None
        log.warning("booking_event_skipped", booking_id=key, error=_first_line(error))

    async def _commit(self, subscription: Subscription, last: Message) -> None:
        try:
            await subscription.commit(last)
        except CommitRejected as error:
            # The partition moved to another member; it resumes from the last commit
            # and the redelivered events get the same reply ids.
            log.warning("partner_commit_failed", partner=self.name, partition=last.partition,
                        commit_offset=last.offset + 1, error=_first_line(error))


async def _finished_even_if_cancelled(work: Coroutine[Any, Any, None]) -> None:
    """Run `work`; when cancelled meanwhile, let it finish first (for a while).

    A partner stopped between sending replies and committing them would send them again
    after a restart: harmless (same reply ids) but noisy, so a stop waits for the batch.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await asyncio.wait_for(task, _STOP_GRACE_SECONDS)
        except Exception:
            log.exception("partner_batch_unfinished")
        raise


def _log_reply(reply: Reply, envelope: BookingEventEnvelope) -> None:
    details = reply.model_dump(mode="json", exclude=_REPLY_HEADER_FIELDS)
    log.info(reply.type.replace(".", "_"), booking_id=reply.booking_id, reply_id=reply.reply_id,
             causation_id=reply.causation_id, correlation_id=envelope.correlationid, **details)


def _first_line(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
