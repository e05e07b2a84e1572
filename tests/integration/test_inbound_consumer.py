"""The inbound consumer against the test MongoDB and the test Kafka (and, for all but the
MongoDB outage, the SQLite bus too): replies become reservations, poison is parked
with its reason, and neither a killed consumer nor a MongoDB outage loses or duplicates
an effect.

On Kafka the reply topics and the DLQ are shared by every test of the session. Each
test's consumer group starts at the topics' end offsets as they were before the test
published anything, and each test finds its own messages by the unique run id in their
keys. (The SQLite bus is a new file for each test; the same steps do no harm there.)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.integration import background
from tests.integration.buses import BUS_KINDS, bus_of_kind, kafka_bus, read_until
from tests.services.testbed import MongoTestServer
from travelbuddy.application import Caller
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.domain import Cabin, FlightRequest, HotelStayRequest, RequestBooking, Traveler
from travelbuddy.integration.bus import Bus, TopicPartition
from travelbuddy.integration.dead_letters import DeadLetter, read_dead_letters
from travelbuddy.integration.inbound import InboundConsumer
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.topics import FLIGHT_REPLIES, HOTEL_REPLIES
from travelbuddy.observability.retries import Backoff

ALICE = Caller("alice")
HOTEL, ROOM, FLIGHT, OTHER_FLIGHT = "hotel-sapporo-1", "STD", "NH-061-HND-CTS", "JL-305-HND-FUK"
REPLY_TOPICS = (HOTEL_REPLIES, FLIGHT_REPLIES)
FAST = Backoff(initial=0.05, maximum=0.5, jitter=0.05)

Message = tuple[str, bytes | None, bytes]
"""Topic, key, value."""


@pytest.fixture(params=BUS_KINDS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    async with bus_of_kind(request.param, request) as opened:
        yield opened


@pytest.fixture
async def kafka(kafka_bootstrap_servers: str) -> AsyncIterator[KafkaBus]:
    async with kafka_bus(kafka_bootstrap_servers) as opened:
        yield opened


# --- bookings and replies ---------------------------------------------------------------


def day(days: int) -> dt.date:
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)


def trip(booking_id: str) -> RequestBooking:
    """Three nights in Sapporo, flying there from Haneda in economy."""
    return RequestBooking(
        booking_id=booking_id,
        customer_id="alice",
        hotel_stays=(HotelStayRequest(hotel_id=HOTEL, room_type=ROOM, check_in=day(30),
                                      check_out=day(33), guests=2),),
        flights=(FlightRequest(flight_id=FLIGHT, date=day(30), seats=2, cabin=Cabin.ECONOMY),),
        travelers=(Traveler(name="Hanako Yamada"), Traveler(name="Taro Yamada")),
    )  # fmt: skip


async def request_trips(services: Services, booking_ids: Sequence[str]) -> None:
    for booking_id in booking_ids:
        await services.commands.handle(trip(booking_id), ALICE)


def reply(kind: str, booking_id: str, reply_id: str, **fields: Any) -> Message:
    """A partner's reply as it travels: on its partner's topic, keyed by its booking id."""
    body: dict[str, Any] = {"type": kind, "reply_id": reply_id, "booking_id": booking_id}
    if kind.endswith(".reserved"):
        body["confirmation_code"] = f"CONF-{reply_id}"
    else:
        body["reason"] = "sold out"
    if kind.startswith("flight."):
        body["flight_id"] = FLIGHT
    body.update(fields)
    topic = HOTEL_REPLIES if kind.startswith("hotel.") else FLIGHT_REPLIES
    return topic, booking_id.encode(), json.dumps(body).encode()


async def publish(bus: Bus, messages: Sequence[Message]) -> None:
    """Send the messages, in the order given for each topic and key (which is all a topic
    keeps in order), the keys side by side."""
    by_key: dict[tuple[str, bytes | None], list[Message]] = defaultdict(list)
    for message in messages:
        by_key[message[:2]].append(message)

    async def send(in_order: list[Message]) -> None:
        for topic, key, value in in_order:
            await bus.publish(topic, key, value)

    await asyncio.gather(*(send(in_order) for in_order in by_key.values()))


async def landed(bus: Bus, run: str, count: int) -> dict[tuple[str, int, int], Message]:
    """Where this run's `count` messages landed: each by (topic, partition, offset)."""
    mine = await read_until(
        bus, list(REPLY_TOPICS), done=lambda kept: len(kept) == count,
        keep=lambda m: (m.key or b"").decode(errors="replace").startswith(run),
    )
    return {(m.topic, m.partition, m.offset): (m.topic, m.key, m.value or b"") for m in mine}


async def event_types(services: Services, booking_id: str) -> list[str]:
    return [event.type for event in await services.store.read(f"booking-{booking_id}")]


async def events_by_booking(
    services: Services, booking_ids: Sequence[str]
) -> dict[str, list[tuple[str, str]]]:
    """Each booking's events as (type, data), in no particular order: a booking's hotel and
    flight replies travel on different topics, so either may be applied first."""
    return {
        booking_id: sorted(
            (e.type, json.dumps(e.data, sort_keys=True, default=str))
            for e in await services.store.read(f"booking-{booking_id}")
        )
        for booking_id in booking_ids
    }


async def dead_letters_of(bus: Bus, run: str) -> list[DeadLetter]:
    return [letter for letter in await read_dead_letters(bus)
            if (letter.key or b"").decode(errors="replace").startswith(run)]


# --- offsets -----------------------------------------------------------------------------


async def end_offsets(bus: Bus, topics: Sequence[str]) -> dict[TopicPartition, int]:
    return await bus.end_offsets(topics)


async def commit_offsets(bus: Bus, group_id: str, offsets: dict[TopicPartition, int]) -> None:
    """Set where a consumer group starts, as if it had consumed everything before."""
    await bus.reset_offsets(group_id, offsets)


async def groups_starting_now(bus: Bus, *group_ids: str) -> None:
    """Start fresh consumer groups at the reply topics' current end."""
    await bus.ensure_topics()
    ends = await end_offsets(bus, REPLY_TOPICS)
    for group_id in group_ids:
        await commit_offsets(bus, group_id, ends)


class Lag:
    """How far a consumer group is behind on the reply topics, seen from outside it."""

    def __init__(self, bus: Bus, group_id: str) -> None:
        self.bus = bus
        self.group_id = group_id

    async def per_partition(self) -> dict[TopicPartition, int]:
        ends = await end_offsets(self.bus, REPLY_TOPICS)
        committed = await self.bus.committed_offsets(self.group_id, REPLY_TOPICS)
        return {tp: end - committed.get(tp, 0) for tp, end in ends.items()}

    async def is_zero(self) -> bool:
        return all(lag == 0 for lag in (await self.per_partition()).values())


@contextlib.asynccontextmanager
async def lag_of(bus: Bus, group_id: str) -> AsyncIterator[Lag]:
    yield Lag(bus, group_id)


# --- running the consumer ----------------------------------------------------------------


def running(consumer: InboundConsumer
            ) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    return background.running(consumer.run())


async def until(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    task: asyncio.Task[None] | None = None,
    seconds: float = 30.0,
) -> None:
    """Wait for the condition, failing at the deadline or when the consumer died."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        outcome = condition()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        if task is not None and task.done():
            task.result()
            raise AssertionError("the consumer stopped")
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def consume_until_caught_up(bus: Bus, consumer: InboundConsumer) -> None:
    async with lag_of(bus, consumer.group_id) as lag, running(consumer) as task:
        await until(lag.is_zero, task)


def counted_retries() -> float:
    """The process's count of replies tried again (`travelbuddy_retries_total`)."""
    return REGISTRY.get_sample_value("travelbuddy_retries_total",
                                     {"operation": "inbound_reply"}) or 0.0


def new_run() -> tuple[str, str]:
    """A run id to mark this test's messages, and a consumer group of its own."""
    run = uuid.uuid4().hex[:10]
    return run, f"inbound-test-{run}"


# --- tests -------------------------------------------------------------------------------


async def test_reservation_replies_become_reserved_items_of_the_booking(
    bus: Bus, services: Services
) -> None:
    run, group = new_run()
    booking_id = f"{run}-trip"
    await request_trips(services, [booking_id])
    await groups_starting_now(bus, group)
    await publish(bus, [
        reply("hotel.reserved", booking_id, f"{run}-h", causation_id="event-1"),
        reply("flight.reserved", booking_id, f"{run}-f"),
    ])
    consumer = InboundConsumer(bus, services.commands, group_id=group)

    await consume_until_caught_up(bus, consumer)

    events = {e.type: e for e in await services.store.read(f"booking-{booking_id}")}
    assert set(events) == {"BookingRequested", "HotelReserved", "FlightReserved"}
    hotel, flight = events["HotelReserved"], events["FlightReserved"]
    assert hotel.data["confirmation_code"] == f"CONF-{run}-h"
    assert hotel.metadata.command_id == f"reply:{run}-h"
    assert hotel.metadata.causation_id == "event-1"
    assert hotel.metadata.issued_by == "system:hotel-service"
    assert flight.data["flight_id"] == FLIGHT
    assert flight.metadata.issued_by == "system:flight-service"
    assert (consumer.handled, consumer.ignored, consumer.dead_lettered) == (2, 0, 0)


async def test_a_reply_delivered_twice_is_recorded_once(
    bus: Bus, services: Services
) -> None:
    run, group = new_run()
    booking_id = f"{run}-trip"
    await request_trips(services, [booking_id])
    await groups_starting_now(bus, group)
    twice = reply("hotel.reserved", booking_id, f"{run}-h")
    await publish(bus, [twice, twice])
    consumer = InboundConsumer(bus, services.commands, group_id=group)

    await consume_until_caught_up(bus, consumer)

    assert await event_types(services, booking_id) == ["BookingRequested", "HotelReserved"]
    assert (consumer.handled, consumer.ignored, consumer.dead_lettered) == (1, 1, 0)


async def test_a_reply_for_an_item_no_longer_pending_is_ignored_not_dead_lettered(
    bus: Bus, services: Services
) -> None:
    run, group = new_run()
    booking_id = f"{run}-trip"
    await request_trips(services, [booking_id])
    await groups_starting_now(bus, group)
    await publish(bus, [
        reply("hotel.reserved", booking_id, f"{run}-h1"),
        reply("hotel.rejected", booking_id, f"{run}-h2"),  # a late change of mind
    ])
    consumer = InboundConsumer(bus, services.commands, group_id=group)

    await consume_until_caught_up(bus, consumer)

    assert await event_types(services, booking_id) == ["BookingRequested", "HotelReserved"]
    assert (consumer.handled, consumer.ignored, consumer.dead_lettered) == (1, 1, 0)
    assert await dead_letters_of(bus, run) == []


def mixed_traffic(run: str, bookings: Sequence[str]) -> tuple[list[Message], dict[str, str]]:
    """A valid hotel and flight reply for every booking, and 200 poison messages among
    them; returns the shuffled messages and the expected error type by poison key."""
    valid = [reply("hotel.reserved", b, f"{run}-h-{n}") for n, b in enumerate(bookings)]
    valid += [reply("flight.reserved", b, f"{run}-f-{n}") for n, b in enumerate(bookings)]
    poison: list[tuple[Message, str]] = []
    for n in range(40):
        topic = REPLY_TOPICS[n % 2]
        junk = b"\xff\xfe\x00 not UTF-8" if n % 2 else b'{"type": "hotel.reserved", '
        poison.append(((topic, f"{run}-junk-{n}".encode(), junk), "invalid_json"))
        key = f"{run}-shape-{n}"
        shape = ([key], {"booking_id": key}, {"type": "hotel.reserved", "booking_id": key,
                                              "reply_id": key})[n % 3]
        poison.append(((topic, key.encode(), json.dumps(shape).encode()), "invalid_reply"))
        key = f"{run}-type-{n}"
        unknown = {"type": "hotel.upgraded", "reply_id": key, "booking_id": key}
        poison.append(((topic, key.encode(), json.dumps(unknown).encode()), "unknown_reply_type"))
        kind = ("hotel.reserved", "flight.rejected")[n % 2]
        poison.append((reply(kind, f"{run}-ghost-{n}", f"{run}-g-{n}"), "unknown_booking"))
    for n in range(20):
        not_booked = reply("flight.reserved", bookings[n], f"{run}-x-{n}", flight_id=OTHER_FLIGHT)
        poison.append((not_booked, "rejected_by_domain"))
        topic, _, value = reply("flight.rejected", bookings[20 + n], f"{run}-m-{n}")
        poison.append(((topic, f"{run}-mismatch-{n}".encode(), value), "key_mismatch"))
    assert len(valid) == len(poison) == 200
    expected = {(message[1] or b"").decode(errors="replace"): error_type
                for message, error_type in poison}
    assert len(expected) == 200
    messages = valid + [message for message, _ in poison]
    random.Random(61).shuffle(messages)
    return messages, expected


async def test_poison_is_parked_and_every_valid_reply_applied_even_across_a_killed_consumer(
    bus: Bus, services: Services, mongodb_url: str
) -> None:
    run, group = new_run()
    clean_group = f"{group}-clean"
    bookings = [f"{run}-b{n:03d}" for n in range(100)]
    clean = await build_services(
        Settings(mongodb_url=mongodb_url, mongodb_database=f"test_{uuid.uuid4().hex[:12]}")
    )
    try:
        await asyncio.gather(request_trips(services, bookings), request_trips(clean, bookings))
        await groups_starting_now(bus, group, clean_group)
        messages, expected = mixed_traffic(run, bookings)
        await publish(bus, messages)
        published = await landed(bus, run, len(messages))

        # Killed when half the messages are done; a new consumer of the group finishes.
        first = InboundConsumer(bus, services.commands, group, FAST)
        async with running(first) as task:
            await until(lambda: first.handled + first.ignored + first.dead_lettered >= 200, task)
        assert first.handled + first.dead_lettered < 400
        second = InboundConsumer(bus, services.commands, group, FAST)
        await consume_until_caught_up(bus, second)

        async with lag_of(bus, group) as lag:
            assert set((await lag.per_partition()).values()) == {0}
        letters = await dead_letters_of(bus, run)
        parked: dict[str, set[str | None]] = defaultdict(set)
        for letter in letters:
            parked[(letter.key or b"").decode(errors="replace")].add(letter.error_type)
        assert parked == {key: {error_type} for key, error_type in expected.items()}
        for letter in letters:
            topic, partition, offset = (
                letter.source_topic, letter.source_partition, letter.source_offset
            )
            assert topic is not None and partition is not None and offset is not None
            assert published[(topic, partition, offset)] == (topic, letter.key, letter.value)
            assert letter.error and letter.header("dlq.dead_lettered_at")
        effects = await events_by_booking(services, bookings)
        types = [event_type for events in effects.values() for event_type, _ in events]
        assert types.count("HotelReserved") == types.count("FlightReserved") == 100
        assert first.dead_lettered + second.dead_lettered >= 200

        # The same traffic consumed once, without interruption, into a store of its own.
        uninterrupted = InboundConsumer(bus, clean.commands, clean_group, FAST)
        await consume_until_caught_up(bus, uninterrupted)

        assert (uninterrupted.handled, uninterrupted.ignored) == (200, 0)
        assert uninterrupted.dead_lettered == 200
        assert await events_by_booking(clean, bookings) == effects
    finally:
        await clean.close()


async def test_replies_wait_out_a_mongodb_outage_and_none_is_dead_lettered(
    kafka: KafkaBus, tmp_path: Path
) -> None:
    bus = kafka  # a MongoDB outage, the same on either bus: Kafka is the one that matters
    run, group = new_run()
    server = MongoTestServer(tmp_path, data_file=tmp_path / "outage.h2")
    await asyncio.to_thread(server.start)
    services = await build_services(Settings(
        mongodb_url=f"{server.url}&serverSelectionTimeoutMS=500&connectTimeoutMS=500",
        mongodb_database="outage",
    ))
    try:
        bookings = [f"{run}-b{n:02d}" for n in range(20)]
        await request_trips(services, bookings)
        await groups_starting_now(bus, group)
        replies = [reply("hotel.reserved", b, f"{run}-h-{n}") for n, b in enumerate(bookings)]
        consumer = InboundConsumer(bus, services.commands, group, FAST)
        async with lag_of(bus, group) as lag, running(consumer) as task:
            await publish(bus, replies[:10])
            await until(lambda: consumer.handled == 10, task)

            retries = counted_retries()
            await asyncio.to_thread(server.stop)
            await publish(bus, replies[10:])
            await until(lambda: consumer.retried >= 3, task)
            assert consumer.dead_lettered == 0
            assert counted_retries() >= retries + 3
            await asyncio.to_thread(server.start)

            await until(lag.is_zero, task)
        assert consumer.handled + consumer.ignored == 20
        assert consumer.dead_lettered == 0
        for booking_id in bookings:
            assert await event_types(services, booking_id) == ["BookingRequested", "HotelReserved"]
        assert await dead_letters_of(bus, run) == []
    finally:
        await services.close()
        await asyncio.to_thread(server.stop)
