"""The inbound consumer: the partners' reservation replies, turned into Booking commands.

At-least-once: a message's offset is committed only once its handling is done (applied,
ignored, or parked in the dead-letter queue), and every effect is idempotent. A reply's
command id is `reply:<reply_id>`, so a redelivered reply finds the event it caused and
appends nothing; a reply for an item that no longer waits for one is ignored.

Failures come in two kinds. A message that can never be handled (a poison pill) is
parked on `partners.reservations.dlq` with the reason and the stream moves on at once.
A failure of what the consumer depends on (MongoDB, a write race, the bus while parking)
says nothing about the message: it is retried with a bounded exponential backoff with
jitter (observability/retries.py), for as long as it takes, and the offset stays
uncommitted meanwhile.

It runs the same on Kafka and on the SQLite bus (the Bus port).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
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
from travelbuddy.observability.logs import bound, get_logger
from travelbuddy.observability.metrics import (
    FOLLOWER_HANDLED,
    FOLLOWER_PARKED,
    INBOUND,
    offsets_committed,
)
from travelbuddy.observability.retries import RETRY, Backoff, retrying
from travelbuddy.observability.tracing import traced_message

log = get_logger(__name__)

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
        self._backoff = backoff or RETRY
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
            log.info("inbound_consumer_started", group_id=self.group_id)
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
            with bound(**_where(message)):
                await self._handle(message)
                FOLLOWER_HANDLED.labels(INBOUND).inc()
                committed = await self._commit(subscription, message)
            if not committed:
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
        log.info("batch_dropped_after_rebalance", group_id=self.group_id)

    @traced_message("inbound")
    async def _handle(self, message: Message) -> None:
        """Apply, ignore or park one message; return only when that is done."""
        try:
            reply = parse_reply(message.topic, message.key, message.value)
            with bound(booking_id=reply.booking_id, reply_id=reply.reply_id):
                await self._apply(reply)
        except Poison as poison:
            await self._park(message, poison)

    async def _apply(self, reply: Reply) -> None:
        caller = Caller.system(PARTNERS[_topic_of(reply)])
        context = CommandContext(
            command_id=f"reply:{reply.reply_id}", causation_id=reply.causation_id
        )
        try:
            outcome = await self._retrying(
                "inbound_reply", lambda: self._commands.handle(command_for(reply), caller, context),
                transient=(ConcurrencyConflict, StoreUnavailable, PyMongoError),
            )
        except BookingNotFound as error:
            raise Poison("unknown_booking", error.message, reply) from None
        except DomainError as error:
            if error.code == ITEM_NOT_PENDING:
                self.ignored += 1
                log.info("reply_ignored", reason="item_not_pending", detail=error.message)
                return
            raise Poison("rejected_by_domain", f"{error.code}: {error.message}", reply) from None
        except Exception as error:  # a bug must not block the stream: park, replay once fixed
            log.exception("reply_failed")
            raise Poison("handler_error", repr(error), reply) from None
        if outcome.replayed:
            self.ignored += 1
            log.info("reply_ignored", reason="already_applied", version=outcome.version)
        else:
            self.handled += 1
            log.info("reply_applied", version=outcome.version)

    async def _park(self, message: Message, poison: Poison) -> None:
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
        key = (message.key or b"").decode("utf-8", errors="replace")
        await self._retrying("inbound_dead_letter", send, transient=(BusUnavailable,))
        self.dead_lettered += 1
        FOLLOWER_PARKED.labels(INBOUND, poison.error_type).inc()
        log.warning("dead_lettered", error_type=poison.error_type,
                    booking_id=reply.booking_id if reply else None,
                    reply_id=reply.reply_id if reply else None, key=key, error=poison.reason)

    async def _commit(self, subscription: Subscription, message: Message) -> bool:
        """Commit; False when the partition was taken away in a rebalance meanwhile."""
        offset = message.offset + 1
        try:
            await self._retrying(
                "inbound_commit", lambda: subscription.commit(message),
                transient=(BusUnavailable,),
            )
        except CommitRejected as error:
            log.warning("commit_skipped", commit_offset=offset, error=repr(error))
            return False
        offsets_committed(INBOUND)
        return True

    async def _retrying(
        self,
        operation: str,
        attempt: Callable[[], Awaitable[T]],
        *,
        transient: tuple[type[Exception], ...],
    ) -> T:
        """Run `attempt` until it raises nothing transient, waiting more after each failure
        (anything else, CommitRejected say, goes to the caller at once)."""

        async def counted() -> T:
            try:
                return await attempt()
            except transient:
                self.retried += 1
                raise

        return await retrying(operation, counted, on=transient, backoff=self._backoff)


def _where(message: Message) -> dict[str, object]:
    return {"topic": message.topic, "partition": message.partition, "offset": message.offset}
