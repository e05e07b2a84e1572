"""The inbound consumer: the partners' reservation replies, turned into Booking commands.

At-least-once: a message's offset is committed only once its handling is done (applied,
ignored, or parked in the dead-letter queue), and every effect is idempotent. A reply's
command id is `reply:<reply_id>`, so a redelivered reply finds the event it caused and
appends nothing; a reply for an item that no longer waits for one is ignored.

Failures come in two kinds. A message that can never be handled (a poison pill) is
parked on `partners.reservations.dlq` with the reason and the stream moves on at once.
A failure of what the consumer depends on (MongoDB, a write race, the bus while parking)
says nothing about the message: it is retried with a bounded exponential backoff, for as
long as it takes, and the offset stays uncommitted meanwhile.

It runs the same on Kafka and on the SQLite bus (the Bus port).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from pymongo.errors import PyMongoError

from travelbuddy.application.handler import (
    BookingCommands,
    Caller,
    CommandContext,
    ConcurrencyConflict,
)
from travelbuddy.domain.commands import (
    Command,
    ConfirmFlightReservation,
    ConfirmHotelReservation,
    RejectFlightReservation,
    RejectHotelReservation,
)
from travelbuddy.domain.errors import ITEM_NOT_PENDING, BookingNotFound, DomainError
from travelbuddy.eventstore.port import StoreUnavailable
from travelbuddy.health import WorkerHealth
from travelbuddy.integration.bus import (
    Bus,
    BusUnavailable,
    CommitRejected,
    Message,
    Subscription,
    TopicPartition,
)
from travelbuddy.integration.dead_letters import dead_letter_headers
from travelbuddy.integration.messages import (
    FlightRejected,
    FlightReserved,
    HotelRejected,
    HotelReserved,
    ReservationReply,
)
from travelbuddy.integration.topics import FLIGHT_REPLIES, HOTEL_REPLIES, RESERVATIONS_DLQ
from travelbuddy.observability.metrics import (
    FOLLOWER_HANDLED,
    FOLLOWER_PARKED,
    INBOUND,
    offsets_committed,
)

log = logging.getLogger(__name__)

DEFAULT_GROUP_ID = "booking-service-inbound"
PARTNERS = {HOTEL_REPLIES: "hotel-service", FLIGHT_REPLIES: "flight-service"}
MAX_BATCH = 100
POLL_SECONDS = 1.0

Reply = HotelReserved | HotelRejected | FlightReserved | FlightRejected
_replies: TypeAdapter[Reply] = TypeAdapter(ReservationReply)
T = TypeVar("T")


class Poison(Exception):
    """A message that can never be handled as it is; `error_type` names the kind."""

    def __init__(self, error_type: str, reason: str, reply: Reply | None = None) -> None:
        super().__init__(f"{error_type}: {reason}")
        self.error_type = error_type
        self.reason = reason
        self.reply = reply


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts after a transient failure: doubling, never above `maximum`."""

    initial: float = 0.1
    maximum: float = 5.0

    def delay(self, attempt: int) -> float:
        return float(min(self.maximum, self.initial * 2 ** min(attempt - 1, 30)))


def parse_reply(topic: str, key: bytes | None, value: bytes | None) -> Reply:
    """The reply a message carries, or Poison saying why it carries none.

    The key must be the reply's booking id (DESIGN.md, "Kafka topics"): a partner that
    keys otherwise breaks the per-booking order of the topic, so such a reply is parked
    for a person to look at rather than applied.
    """
    try:
        text = (value or b"").decode("utf-8")
    except UnicodeDecodeError as error:
        raise Poison("invalid_json", f"not UTF-8: {error}") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise Poison("invalid_json", f"not JSON: {error}") from None
    try:
        reply = _replies.validate_python(document)
    except ValidationError as error:
        problems = error.errors(include_url=False)
        if any(p["type"] == "union_tag_invalid" for p in problems):
            raise Poison("unknown_reply_type", _describe(problems)) from None
        raise Poison("invalid_reply", _describe(problems)) from None
    if _topic_of(reply) != topic:
        raise Poison("wrong_topic", f"a {reply.type} reply does not belong on {topic}", reply)
    if key is None or key.decode("utf-8", errors="replace") != reply.booking_id:
        raise Poison(
            "key_mismatch", f"key {key!r} is not the booking id {reply.booking_id!r}", reply
        )
    return reply


def _describe(problems: list[Any]) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in p['loc']) or '(message)'}: {p['msg']}"
        for p in problems
    )


def _topic_of(reply: Reply) -> str:
    return HOTEL_REPLIES if isinstance(reply, HotelReserved | HotelRejected) else FLIGHT_REPLIES


def command_for(reply: Reply) -> Command:
    """The Booking command a partner's reply asks for."""
    match reply:
        case HotelReserved():
            return ConfirmHotelReservation(
                booking_id=reply.booking_id, confirmation_code=reply.confirmation_code
            )
        case HotelRejected():
            return RejectHotelReservation(booking_id=reply.booking_id, reason=reply.reason)
        case FlightReserved():
            return ConfirmFlightReservation(
                booking_id=reply.booking_id,
                flight_id=reply.flight_id,
                confirmation_code=reply.confirmation_code,
            )
        case FlightRejected():
            return RejectFlightReservation(
                booking_id=reply.booking_id, flight_id=reply.flight_id, reason=reply.reason
            )


class InboundConsumer:
    """Applies the hotel and flight services' replies to bookings; parks what it cannot."""

    def __init__(
        self,
        bus: Bus,
        commands: BookingCommands,
        group_id: str = DEFAULT_GROUP_ID,
        backoff: Backoff | None = None,
        health: WorkerHealth | None = None,
    ) -> None:
        self.bus = bus
        self._health = health or WorkerHealth()
        self.group_id = group_id
        self._commands = commands
        self._backoff = backoff or Backoff()
        self.handled = 0
        """Replies that appended an event."""
        self.ignored = 0
        """Replies that changed nothing: delivered before, or for an item no longer pending."""
        self.dead_lettered = 0
        """Messages parked in the dead-letter queue."""
        self.retried = 0
        """Attempts that failed transiently and were retried."""

    async def run(self) -> None:
        """Consume the partners' reply topics until cancelled."""
        await self.bus.ensure_topics()
        subscription = self.bus.subscribe([HOTEL_REPLIES, FLIGHT_REPLIES], self.group_id)
        await subscription.start()
        try:
            log.info("event=inbound_consumer_started group_id=%s", self.group_id)
            while True:
                await self._consume_batch(subscription)
        finally:
            self._health.inbound_partitions = None
            await subscription.stop()

    async def _consume_batch(self, subscription: Subscription) -> None:
        batch = await subscription.poll(POLL_SECONDS, MAX_BATCH)
        self._health.inbound_partitions = subscription.assigned_partitions
        for index, message in enumerate(batch):
            if subscription.partitions_revoked:
                return self._rewind(subscription, batch[index:])
            await self._handle(message)
            FOLLOWER_HANDLED.labels(INBOUND).inc()
            if not await self._commit(subscription, message):
                return self._rewind(subscription, batch[index + 1:])
        return None

    def _rewind(self, subscription: Subscription, unhandled: list[Message]) -> None:
        """Drop the rest of a batch fetched before a rebalance, losing none of it.

        Partitions taken away resume from their committed offsets with their new owner;
        those kept are fetched again from their first message not handled yet.
        """
        first: dict[TopicPartition, Message] = {}
        for message in unhandled:
            first.setdefault(message.topic_partition, message)
        for message in first.values():
            subscription.rewind(message)
        log.info("event=batch_dropped_after_rebalance group_id=%s", self.group_id)

    async def _handle(self, message: Message) -> None:
        """Apply, ignore or park one message; return only when that is done."""
        where = _where(message)
        try:
            reply = parse_reply(message.topic, message.key, message.value)
            await self._apply(reply, where)
        except Poison as poison:
            await self._park(message, poison, where)

    async def _apply(self, reply: Reply, where: str) -> None:
        caller = Caller.system(PARTNERS[_topic_of(reply)])
        context = CommandContext(
            command_id=f"reply:{reply.reply_id}", causation_id=reply.causation_id
        )
        ids = f"booking_id={reply.booking_id} reply_id={reply.reply_id}"
        try:
            outcome = await self._retrying(
                lambda: self._commands.handle(command_for(reply), caller, context),
                ids, where, transient=(ConcurrencyConflict, StoreUnavailable, PyMongoError),
            )
        except BookingNotFound as error:
            raise Poison("unknown_booking", error.message, reply) from None
        except DomainError as error:
            if error.code == ITEM_NOT_PENDING:
                self.ignored += 1
                log.info("event=reply_ignored reason=item_not_pending %s %s detail=%r",
                         ids, where, error.message)
                return
            raise Poison("rejected_by_domain", f"{error.code}: {error.message}", reply) from None
        except Exception as error:  # a bug must not block the stream: park, replay once fixed
            log.exception("event=reply_failed %s %s", ids, where)
            raise Poison("handler_error", repr(error), reply) from None
        if outcome.replayed:
            self.ignored += 1
            log.info("event=reply_ignored reason=already_applied %s %s version=%d",
                     ids, where, outcome.version)
        else:
            self.handled += 1
            log.info("event=reply_applied %s %s version=%d", ids, where, outcome.version)

    async def _park(self, message: Message, poison: Poison, where: str) -> None:
        headers = dead_letter_headers(
            message.headers,
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            error_type=poison.error_type,
            error=poison.reason,
        )

        async def send() -> None:
            await self.bus.publish(RESERVATIONS_DLQ, message.key, message.value, headers)

        reply = poison.reply
        ids = (f"booking_id={reply.booking_id} reply_id={reply.reply_id}" if reply
               else "booking_id=- reply_id=-")
        key = (message.key or b"").decode("utf-8", errors="replace")
        await self._retrying(send, ids, where, transient=(BusUnavailable,))
        self.dead_lettered += 1
        FOLLOWER_PARKED.labels(INBOUND, poison.error_type).inc()
        log.warning("event=dead_lettered error_type=%s %s key=%r %s error=%r",
                    poison.error_type, ids, key, where, poison.reason)

    async def _commit(self, subscription: Subscription, message: Message) -> bool:
        """Commit; False when the partition was taken away in a rebalance meanwhile."""
        offset = message.offset + 1
        try:
            await self._retrying(
                lambda: subscription.commit(message), f"commit={offset}",
                f"topic={message.topic}", transient=(BusUnavailable,), permanent=(CommitRejected,),
            )
        except CommitRejected as error:
            log.warning("event=commit_skipped topic=%s partition=%d offset=%d error=%r",
                        message.topic, message.partition, offset, error)
            return False
        offsets_committed(INBOUND)
        return True

    async def _retrying(
        self,
        attempt: Callable[[], Awaitable[T]],
        ids: str,
        where: str,
        *,
        transient: tuple[type[Exception], ...],
        permanent: tuple[type[Exception], ...] = (),
    ) -> T:
        """Run `attempt` until it raises nothing transient, waiting more after each failure."""
        failures = 0
        while True:
            try:
                return await attempt()
            except permanent:
                raise
            except transient as error:
                failures += 1
                self.retried += 1
                delay = self._backoff.delay(failures)
                log.warning("event=transient_failure %s %s attempt=%d retry_in=%.2fs error=%r",
                            ids, where, failures, delay, error)
                await asyncio.sleep(delay)


def _where(message: Message) -> str:
    return f"topic={message.topic} partition={message.partition} offset={message.offset}"
