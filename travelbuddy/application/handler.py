"""Command handling: load the stream, fold, decide, append.

One function of the application does it for every command. It retries a bounded number
of times when another writer moved the stream on, answers a repeated command id with the
first outcome, and lets a customer act only on their own bookings, and never record a
partner's answer for them.

Neither refusal may tell a customer whether another customer's booking exists: a
partner's answer from a customer is refused before any booking is read, and a customer's
read of a stream is filtered by owner in the store, which answers another customer's
booking empty exactly as a booking id that does not exist, so the answer and the work
done (nothing loaded, nothing folded) are the same.

A command usually costs one write and no read: the state this process last saw of a
booking (`RecentStates`) stands in for its stream, and a new booking's stream is assumed
empty. The append's version check makes both safe; see `states.py`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from travelbuddy.application.catalog import Catalog
from travelbuddy.application.states import RecentStates
from travelbuddy.domain import (
    ApplyPerk,
    BookingState,
    CatalogView,
    Command,
    ConfirmFlightReservation,
    ConfirmHotelReservation,
    DecisionContext,
    Event,
    InMemoryCatalog,
    RejectFlightReservation,
    RejectHotelReservation,
    RequestBooking,
    decide,
    evolve,
    fold,
    initial_state,
    stream_id,
)
from travelbuddy.domain.errors import BookingNotFound, CommandIdReused, DomainError, NotAllowed
from travelbuddy.domain.serialization import event_from_record, event_to_record
from travelbuddy.eventstore.port import (
    ConcurrencyError,
    DuplicateCommand,
    EventMetadata,
    EventStore,
    NewEvent,
)
from travelbuddy.observability.logs import bound, get_logger
from travelbuddy.observability.metrics import measured_command
from travelbuddy.observability.tracing import traced_append, traced_command

log = get_logger(__name__)

MAX_ATTEMPTS = 5
_NO_CATALOG = InMemoryCatalog((), ())
PARTNER_REPLIES = (ConfirmHotelReservation, RejectHotelReservation,
                   ConfirmFlightReservation, RejectFlightReservation)
"""Commands that record a hotel's or airline's answer: theirs (through the inbound
consumer) or an agent's to send, never the customer's."""


@dataclass(frozen=True)
class Caller:
    """Who sends a command: a customer, support staff (agent), or a partner system."""

    customer_id: str
    may_act_on_any_booking: bool = False

    @classmethod
    def system(cls, name: str) -> Caller:
        """A trusted service, such as the inbound consumer of the partners' replies."""
        return cls(customer_id=f"system:{name}", may_act_on_any_booking=True)


@dataclass(frozen=True)
class CommandOutcome:
    """What a handled command did: the booking and its version after the event."""

    booking_id: str
    version: int
    replayed: bool = False
    """True when the command id was handled before and nothing was appended now."""


class ConcurrencyConflict(Exception):
    """The stream kept moving under us; the client may retry."""

    def __init__(self, booking_id: str, attempts: int) -> None:
        super().__init__(f"booking {booking_id} changed {attempts} times while deciding")
        self.booking_id = booking_id


@dataclass(frozen=True)
class CommandContext:
    """Tracing ids that travel with a command into its event's metadata."""

    command_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None


def _may_see(owner: str | None, caller: Caller) -> bool:
    """Whether the caller may act on a booking of `owner` (None: no booking yet)."""
    return caller.may_act_on_any_booking or owner is None or owner == caller.customer_id


def _utc_now() -> dt.datetime:
    # Milliseconds, as BSON keeps them: every store then reads back the time it was given.
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class BookingCommands:
    """The application's entry point for every Booking command."""

    def __init__(
        self,
        store: EventStore,
        catalog: Catalog,
        clock: Callable[[], dt.datetime] = _utc_now,
        max_attempts: int = MAX_ATTEMPTS,
        *,
        measured: bool = True,
    ) -> None:
        self.measured = measured
        """Whether commands are counted and timed (`travelbuddy_commands_total`, ...)."""
        self._store = store
        self._catalog = catalog
        self._clock = clock
        self._max_attempts = max_attempts
        self._states = RecentStates()

    @traced_command
    @measured_command(conflict=ConcurrencyConflict)
    async def handle(
        self, command: Command, caller: Caller, context: CommandContext | None = None
    ) -> CommandOutcome:
        """Decide the command against its booking's events and append the resulting event.

        Raises a DomainError for a broken rule (BookingNotFound also for a booking that
        is not the caller's) and ConcurrencyConflict when retries run out. A command id
        handled before answers its first outcome, whatever the booking says now.
        """
        context = context or CommandContext()
        with bound(booking_id=command.booking_id, command_id=context.command_id,
                   correlation_id=context.correlation_id or context.command_id):
            return await self._handle(command, caller, context)

    async def _handle(
        self, command: Command, caller: Caller, context: CommandContext
    ) -> CommandOutcome:
        stream = stream_id(command.booking_id)
        for attempt in range(self._max_attempts):
            now = self._clock()  # one reading: the day decided on and the event's time
            try:
                state, event = await self._decide(stream, command, caller, now, attempt > 0)
            except DomainError:
                if context.command_id and (
                    earlier := await self._earlier_outcome(context.command_id, caller, command)
                ):
                    return earlier
                raise
            type_name, schema_version, data = event_to_record(event)
            new_event = NewEvent(
                type=type_name,
                schema_version=schema_version,
                data=data,
                metadata=self._metadata(state, command, caller, context, now),
            )
            try:
                version = await traced_append(self._store, stream, state.version, [new_event])
            except ConcurrencyError:
                log.info("concurrency_retry")
                self._states.forget(stream)
                continue
            except DuplicateCommand:
                assert context.command_id is not None
                earlier = await self._earlier_outcome(context.command_id, caller, command)
                assert earlier is not None
                return earlier
            self._states.remember(stream, evolve(state, event))
            log.info(type_name, version=version)
            return CommandOutcome(booking_id=command.booking_id, version=version)
        raise ConcurrencyConflict(command.booking_id, self._max_attempts)

    async def _decide(
        self, stream: str, command: Command, caller: Caller, now: dt.datetime, fresh: bool
    ) -> tuple[BookingState, Event]:
        """The state decided on and the event decided. Without a read when the state is
        known (recent states) or can be assumed (a new booking's stream is empty): the
        append checks that assumption. A rule broken against such a state is decided
        again on the stream as stored, which alone may refuse the command."""
        if isinstance(command, PARTNER_REPLIES) and not caller.may_act_on_any_booking:
            raise NotAllowed(command.booking_id, "Only the hotel or airline (or an agent on "
                             "their behalf) records its answer to a reservation.")
        if not fresh:
            known = self._states.get(stream)
            if known is None and isinstance(command, RequestBooking):
                known = initial_state()
            if known is not None and _may_see(known.customer_id if known.exists else None,
                                              caller):
                try:
                    return known, await self._decide_on(known, command, caller, now)
                except DomainError:
                    pass
        # Another customer's booking reads as one that does not exist (see the module doc).
        owner = None if caller.may_act_on_any_booking else caller.customer_id
        events = await self._store.read(stream, owner)
        state = fold(event_from_record(e.type, e.schema_version, e.data) for e in events)
        return state, await self._decide_on(state, command, caller, now)

    async def _decide_on(
        self, state: BookingState, command: Command, caller: Caller, now: dt.datetime
    ) -> Event:
        self._authorize(command, state, caller)
        catalog = await self._catalog_for(command)
        return decide(command, state, DecisionContext(catalog=catalog, today=now.date()))

    async def _earlier_outcome(
        self, command_id: str, caller: Caller, command: Command
    ) -> CommandOutcome | None:
        earlier = await self._store.find_by_command(command_id, caller.customer_id)
        if earlier is None:
            return None
        digest = earlier.metadata.command_digest
        if digest is not None and digest != command_digest(command):
            raise CommandIdReused(command_id)
        booking_id = earlier.stream_id.removeprefix("booking-")
        return CommandOutcome(booking_id=booking_id, version=earlier.version, replayed=True)

    @staticmethod
    def _authorize(command: Command, state: BookingState, caller: Caller) -> None:
        # `_decide` never hands over another customer's booking; kept in case it does.
        if state.exists and not _may_see(state.customer_id, caller):
            raise BookingNotFound(command.booking_id)

    async def _catalog_for(self, command: Command) -> CatalogView:
        # Only a request (prices, perks on offer) and a perk (is the code known at all?)
        # consult the catalog; the other commands decide on the booking alone.
        if isinstance(command, RequestBooking):
            hotel_ids = {stay.hotel_id for stay in command.hotel_stays}
            flight_ids = {flight.flight_id for flight in command.flights}
            return await self._catalog.view(hotel_ids, flight_ids)
        if isinstance(command, ApplyPerk):
            return await self._catalog.view(set(), set())
        return _NO_CATALOG

    @staticmethod
    def _metadata(
        state: BookingState, command: Command, caller: Caller, context: CommandContext,
        now: dt.datetime,
    ) -> EventMetadata:
        owner = command.customer_id if isinstance(command, RequestBooking) else state.customer_id
        return EventMetadata(
            event_id=str(uuid.uuid4()),
            customer_id=owner or caller.customer_id,
            recorded_at=now,
            command_id=context.command_id,
            command_digest=command_digest(command) if context.command_id else None,
            correlation_id=context.correlation_id or context.command_id,
            causation_id=context.causation_id,
            issued_by=caller.customer_id,
        )


def command_digest(command: Command) -> str:
    """What makes a command the same command when it is sent again: its type and fields,
    except the id of a requested booking (the service makes one for every request)."""
    fields = command.model_dump(mode="json")
    if isinstance(command, RequestBooking):
        fields.pop("booking_id", None)
    text = json.dumps([type(command).__name__, fields], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
