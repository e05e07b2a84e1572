"""BookingCommands on the MongoDB event store: races, retries, idempotency, who may act.

Races are made deterministic with thin EventStore wrappers around the real store: one
lets a competing writer append right before an append, one holds readers until all
of them have read the same version.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from test_command_graphql import send

from travelbuddy.app import create_app
from travelbuddy.application import (
    BookingCommands,
    Caller,
    CommandContext,
    CommandOutcome,
    ConcurrencyConflict,
    StaticCatalog,
)
from travelbuddy.bootstrap import Services
from travelbuddy.domain import (
    ApplyPerk,
    BookingAlreadyExists,
    Cabin,
    CancelBooking,
    ChangeStayDates,
    Command,
    ConfirmFlightReservation,
    ConfirmHotelReservation,
    FlightRequest,
    HotelStayRequest,
    NotAllowed,
    RequestBooking,
    Traveler,
)
from travelbuddy.eventstore.port import ConcurrencyError, EventStore, NewEvent, StoredEvent

Events = Sequence[NewEvent]

ALICE = Caller(customer_id="alice")
HOTEL_SERVICE = Caller.system("hotel-service")
OUTBOUND, INBOUND = "JL-305-HND-FUK", "JL-306-FUK-HND"


def day(days: int) -> dt.date:
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)


def request(booking_id: str) -> RequestBooking:
    return RequestBooking(
        booking_id=booking_id,
        customer_id="alice",
        hotel_stays=(HotelStayRequest(hotel_id="hotel-tokyo-2", room_type="STD",
                                      check_in=day(20), check_out=day(22), guests=2),),
        flights=tuple(FlightRequest(flight_id=f, date=day(d), seats=2, cabin=Cabin.ECONOMY)
                      for f, d in ((OUTBOUND, 20), (INBOUND, 22))),
        travelers=(Traveler(name="Hanako Yamada"),),
    )  # fmt: skip


async def booked(services: Services) -> str:
    booking_id = str(uuid.uuid4())
    await services.commands.handle(request(booking_id), ALICE)
    return booking_id


async def stream(services: Services, booking_id: str) -> list[StoredEvent]:
    return await services.store.read(f"booking-{booking_id}")


class DelegatingStore:
    """The real store, passed through; subclasses step in around reads or appends."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.appends = 0
        self.conflicts = 0

    async def append(self, stream_id: str, expected_version: int, events: Events) -> int:
        self.appends += 1
        try:
            return await self.store.append(stream_id, expected_version, events)
        except ConcurrencyError:
            self.conflicts += 1
            raise

    async def read(self, stream_id: str, owner: str | None = None) -> list[StoredEvent]:
        return await self.store.read(stream_id, owner)

    def read_all(self) -> AsyncIterator[StoredEvent]:
        return self.store.read_all()

    async def oldest_recorded_at(self, after_position: Any = None) -> dt.datetime | None:
        return await self.store.oldest_recorded_at(after_position)

    async def find_by_command(self, command_id: str, issued_by: str | None) -> StoredEvent | None:
        return await self.store.find_by_command(command_id, issued_by)

    async def count(self, after_position: Any = None) -> int:
        return await self.store.count(after_position)


class CompetingWriterStore(DelegatingStore):
    """Before each append, while it has any left, another handler carries out the next
    competing command first: the stream moves between our read and our append."""

    def __init__(
        self, services: Services, *competing: Command, command_id: str = "",
        sender: Caller = HOTEL_SERVICE,
    ) -> None:
        super().__init__(services.store)
        self._competitor = services.commands
        self._sender = sender
        self._competing = list(competing)
        self._context = CommandContext(command_id=command_id or None)

    async def append(self, stream_id: str, expected_version: int, events: Events) -> int:
        if self._competing:
            command = self._competing.pop(0)
            await self._competitor.handle(command, self._sender, self._context)
        return await super().append(stream_id, expected_version, events)


class CountingStore(DelegatingStore):
    """Counts the stream reads."""

    reads = 0

    async def read(self, stream_id: str, owner: str | None = None) -> list[StoredEvent]:
        self.reads += 1
        return await super().read(stream_id, owner)


class ReadersMeetStore(DelegatingStore):
    """The first `readers` reads wait for one another, so all decide on the same version."""

    def __init__(self, store: EventStore, readers: int) -> None:
        super().__init__(store)
        self._meeting = asyncio.Barrier(readers)
        self._to_meet = readers

    async def read(self, stream_id: str, owner: str | None = None) -> list[StoredEvent]:
        events = await super().read(stream_id, owner)
        if self._to_meet > 0:
            self._to_meet -= 1
            await self._meeting.wait()
        return events


def confirm_hotel(booking_id: str) -> ConfirmHotelReservation:
    return ConfirmHotelReservation(booking_id=booking_id, confirmation_code="TYO2-1")


def confirm_flight(booking_id: str, flight_id: str) -> ConfirmFlightReservation:
    return ConfirmFlightReservation(booking_id=booking_id, flight_id=flight_id,
                                    confirmation_code="JL-1")  # fmt: skip


def apply_discount(booking_id: str) -> ApplyPerk:
    return ApplyPerk(booking_id=booking_id, perk_code="HTL-TYO-02-DISCOUNT")


# --- concurrency ---


async def test_concurrent_commands_on_one_booking_all_succeed_with_gapless_versions(
    services: Services,
) -> None:
    booking_id = await booked(services)
    store = ReadersMeetStore(services.store, readers=3)
    commands = BookingCommands(store, StaticCatalog())

    async with asyncio.timeout(10):
        outcomes = await asyncio.gather(
            commands.handle(confirm_hotel(booking_id), HOTEL_SERVICE),
            commands.handle(confirm_flight(booking_id, OUTBOUND), HOTEL_SERVICE),
            commands.handle(apply_discount(booking_id), ALICE),
        )

    assert store.conflicts >= 2  # all three decided on version 1; two had to retry
    assert sorted(outcome.version for outcome in outcomes) == [2, 3, 4]
    events = await stream(services, booking_id)
    assert [e.version for e in events] == [1, 2, 3, 4]
    assert sorted(e.type for e in events[1:]) == ["FlightReserved", "HotelReserved",
                                                  "PerkApplied"]


async def test_command_is_decided_again_when_the_stream_moves_before_its_append(
    services: Services,
) -> None:
    booking_id = await booked(services)
    store = CompetingWriterStore(services, confirm_hotel(booking_id))

    outcome = await BookingCommands(store, StaticCatalog()).handle(
        apply_discount(booking_id), ALICE
    )

    assert outcome == CommandOutcome(booking_id=booking_id, version=3)
    assert (store.appends, store.conflicts) == (2, 1)
    events = await stream(services, booking_id)
    assert [e.type for e in events] == ["BookingRequested", "HotelReserved", "PerkApplied"]


async def test_single_attempt_handler_answers_conflict_when_the_stream_moves(
    services: Services,
) -> None:
    booking_id = await booked(services)
    store = CompetingWriterStore(services, confirm_hotel(booking_id))
    commands = BookingCommands(store, StaticCatalog(), max_attempts=1)

    with pytest.raises(ConcurrencyConflict) as conflict:
        await commands.handle(apply_discount(booking_id), ALICE)

    assert conflict.value.booking_id == booking_id
    events = await stream(services, booking_id)
    assert [e.type for e in events] == ["BookingRequested", "HotelReserved"]


async def test_handler_gives_up_after_max_attempts_when_the_stream_keeps_moving(
    services: Services,
) -> None:
    booking_id = await booked(services)
    store = CompetingWriterStore(
        services,
        confirm_hotel(booking_id),
        confirm_flight(booking_id, OUTBOUND),
        confirm_flight(booking_id, INBOUND),
    )
    commands = BookingCommands(store, StaticCatalog(), max_attempts=3)

    with pytest.raises(ConcurrencyConflict):
        await commands.handle(apply_discount(booking_id), ALICE)

    assert (store.appends, store.conflicts) == (3, 3)
    assert "PerkApplied" not in [e.type for e in await stream(services, booking_id)]


async def test_conflict_is_answered_over_graphql_as_concurrency_conflict_error(
    services: Services,
) -> None:
    booking_id = await booked(services)
    store = CompetingWriterStore(services, confirm_hotel(booking_id))
    racing = dataclasses.replace(
        services, commands=BookingCommands(store, StaticCatalog(), max_attempts=1)
    )
    transport = httpx.ASGITransport(app=create_app(services.settings, services=racing))

    async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as http:
        result = await send(http, "ApplyPerk",
                            {"bookingId": booking_id, "perkCode": "HTL-TYO-02-DISCOUNT"})

    assert result["__typename"] == "ConcurrencyConflictError", result
    assert (result["code"], result["bookingId"]) == ("CONCURRENCY_CONFLICT", booking_id)


# --- recent states: a command usually appends without reading its stream ---


async def test_a_booking_life_handled_in_one_process_reads_no_stream(services: Services) -> None:
    store = CountingStore(services.store)
    commands, booking_id = BookingCommands(store, StaticCatalog()), str(uuid.uuid4())

    outcomes = [await commands.handle(command, caller) for command, caller in (
        (request(booking_id), ALICE),
        (confirm_hotel(booking_id), HOTEL_SERVICE),
        (confirm_flight(booking_id, OUTBOUND), HOTEL_SERVICE),
        (confirm_flight(booking_id, INBOUND), HOTEL_SERVICE),
    )]

    assert [outcome.version for outcome in outcomes] == [1, 2, 3, 4]
    assert (store.reads, store.conflicts) == (0, 0)
    assert [e.version for e in await stream(services, booking_id)] == [1, 2, 3, 4]


async def test_a_state_gone_stale_costs_a_conflict_and_a_read_never_a_wrong_event(
    services: Services,
) -> None:
    store = CountingStore(services.store)
    ours, booking_id = BookingCommands(store, StaticCatalog()), str(uuid.uuid4())
    await ours.handle(request(booking_id), ALICE)
    await services.commands.handle(confirm_hotel(booking_id), HOTEL_SERVICE)  # another process

    outcome = await ours.handle(apply_discount(booking_id), ALICE)

    assert outcome.version == 3
    assert (store.appends, store.conflicts, store.reads) == (3, 1, 1)
    events = await stream(services, booking_id)
    assert [e.type for e in events] == ["BookingRequested", "HotelReserved", "PerkApplied"]


async def test_a_rule_broken_against_a_stale_state_is_checked_again_on_the_stream(
    services: Services,
) -> None:
    ours, booking_id = BookingCommands(services.store, StaticCatalog()), str(uuid.uuid4())
    await ours.handle(request(booking_id), ALICE)
    await ours.handle(confirm_hotel(booking_id), HOTEL_SERVICE)  # ours: the stay is RESERVED
    # Another process moves the stay: the hotel has to confirm it again.
    await services.commands.handle(
        ChangeStayDates(booking_id=booking_id, check_in=day(21), check_out=day(23)), ALICE
    )

    outcome = await ours.handle(confirm_hotel(booking_id), HOTEL_SERVICE)

    assert outcome.version == 4
    assert [e.type for e in await stream(services, booking_id)][-2:] == [
        "StayDatesChanged", "HotelReserved"]


async def test_a_request_assumed_new_is_refused_once_its_stream_proves_otherwise(
    services: Services,
) -> None:
    booking_id = await booked(services)
    store = CountingStore(services.store)

    with pytest.raises(BookingAlreadyExists):
        await BookingCommands(store, StaticCatalog()).handle(request(booking_id), ALICE)

    assert (store.appends, store.conflicts, store.reads) == (1, 1, 1)
    assert len(await stream(services, booking_id)) == 1


# --- idempotency under a race ---


async def test_command_id_handled_between_our_check_and_append_answers_the_first_outcome(
    services: Services,
) -> None:
    booking_id = await booked(services)
    command, context = confirm_hotel(booking_id), CommandContext(command_id="hotel-reply-7")
    store = CompetingWriterStore(services, command, command_id="hotel-reply-7")

    outcome = await BookingCommands(store, StaticCatalog()).handle(command, HOTEL_SERVICE, context)

    assert outcome == CommandOutcome(booking_id=booking_id, version=2, replayed=True)
    assert [e.type for e in await stream(services, booking_id)] == ["BookingRequested",
                                                                    "HotelReserved"]


async def test_booking_request_repeated_during_its_first_handling_books_once(
    services: Services,
) -> None:
    booking_id = str(uuid.uuid4())
    command, context = request(booking_id), CommandContext(command_id="book-once")
    store = CompetingWriterStore(services, command, command_id="book-once", sender=ALICE)

    outcome = await BookingCommands(store, StaticCatalog()).handle(command, ALICE, context)

    assert outcome == CommandOutcome(booking_id=booking_id, version=1, replayed=True)
    assert len(await stream(services, booking_id)) == 1


# --- who may act on a booking (a customer acting on another's: test_command_graphql) ---


async def test_the_customer_may_not_record_the_hotels_answer_a_partner_may(
    services: Services,
) -> None:
    booking_id = await booked(services)

    with pytest.raises(NotAllowed):
        await services.commands.handle(confirm_hotel(booking_id), ALICE)
    outcome = await services.commands.handle(confirm_hotel(booking_id), HOTEL_SERVICE)

    assert outcome.version == 2
    assert [e.type for e in await stream(services, booking_id)] == ["BookingRequested",
                                                                    "HotelReserved"]


@pytest.mark.parametrize(
    "caller",
    [Caller(customer_id="x", may_act_on_any_booking=True), Caller.system("support-desk")],
    ids=["agent", "system"],
)
async def test_trusted_caller_may_act_on_any_customers_booking(
    services: Services, caller: Caller
) -> None:
    booking_id = await booked(services)

    outcome = await services.commands.handle(
        CancelBooking(booking_id=booking_id, reason="Customer called"), caller
    )

    assert outcome.version == 2
    cancelled = (await stream(services, booking_id))[-1]
    assert cancelled.type == "BookingCancelled"
    assert cancelled.metadata.customer_id == "alice"  # the event stays the owner's


async def test_tracing_ids_travel_into_the_event_metadata(services: Services) -> None:
    booking_id = await booked(services)
    context = CommandContext(command_id="c-1", correlation_id="trip-42", causation_id="msg-9")

    await services.commands.handle(confirm_hotel(booking_id), HOTEL_SERVICE, context)

    metadata = (await stream(services, booking_id))[-1].metadata
    assert (metadata.command_id, metadata.correlation_id, metadata.causation_id) == (
        "c-1", "trip-42", "msg-9")
