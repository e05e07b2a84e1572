"""The inbound consumer against the test Kafka and MongoDB: replies become reservations,
poison is parked with its reason, and neither a killed consumer nor a MongoDB outage
loses or duplicates an effect.

The reply topics and the DLQ are shared by every test of the session. Each test's
consumer group starts at the topics' end offsets as they were before the test published
anything, and each test finds its own messages by the unique run id in their keys.
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

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.services.testbed import MongoTestServer
from travelbuddy.application import Caller
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.domain import Cabin, FlightRequest, HotelStayRequest, RequestBooking, Traveler
from travelbuddy.integration.dead_letters import DeadLetter, read_dead_letters, topic_partitions
from travelbuddy.integration.inbound import Backoff, InboundConsumer
from travelbuddy.integration.kafka import ensure_topics
from travelbuddy.integration.topics import FLIGHT_REPLIES, HOTEL_REPLIES

ALICE = Caller("alice")
HOTEL, ROOM, FLIGHT, OTHER_FLIGHT = "hotel-sapporo-1", "STD", "NH-061-HND-CTS", "JL-305-HND-FUK"
REPLY_TOPICS = (HOTEL_REPLIES, FLIGHT_REPLIES)
FAST = Backoff(initial=0.05, maximum=0.5)

Message = tuple[str, bytes | None, bytes]
"""Topic, key, value."""


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


async def publish(
    bootstrap_servers: str, messages: Sequence[Message]
) -> dict[tuple[str, int, int], Message]:
    """Send the messages; return each by where it landed (topic, partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(topic, key=key, value=value)
                for topic, key, value in messages]
        landed = await asyncio.gather(*sent)
    finally:
        await producer.stop()
    pairs = zip(landed, messages, strict=True)
    return {(m.topic, m.partition, m.offset): message for m, message in pairs}


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


async def dead_letters_of(bootstrap_servers: str, run: str) -> list[DeadLetter]:
    return [letter for letter in await read_dead_letters(bootstrap_servers)
            if (letter.key or b"").decode(errors="replace").startswith(run)]


# --- Kafka offsets -----------------------------------------------------------------------


async def end_offsets(bootstrap_servers: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    partitions = [tp for topic in topics for tp in await topic_partitions(bootstrap_servers, topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def commit_offsets(
    bootstrap_servers: str, group_id: str, offsets: dict[TopicPartition, int]
) -> None:
    """Set where a consumer group starts, as if it had consumed everything before."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def groups_starting_now(bootstrap_servers: str, *group_ids: str) -> None:
    """Start fresh consumer groups at the reply topics' current end."""
    await ensure_topics(bootstrap_servers)
    ends = await end_offsets(bootstrap_servers, REPLY_TOPICS)
    for group_id in group_ids:
        await commit_offsets(bootstrap_servers, group_id, ends)


class Lag:
    """How far a consumer group is behind on the reply topics, seen from outside it."""

    def __init__(self, bootstrap_servers: str, group_id: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)

    async def per_partition(self) -> dict[TopicPartition, int]:
        ends = await end_offsets(self.bootstrap_servers, REPLY_TOPICS)
        committed = await self.admin.list_consumer_group_offsets(self.group_id)
        return {tp: end - (committed[tp].offset if tp in committed else 0)
                for tp, end in ends.items()}

    async def is_zero(self) -> bool:
        return all(lag == 0 for lag in (await self.per_partition()).values())


@contextlib.asynccontextmanager
async def lag_of(bootstrap_servers: str, group_id: str) -> AsyncIterator[Lag]:
    lag = Lag(bootstrap_servers, group_id)
    await lag.admin.start()
    try:
        yield lag
    finally:
        await lag.admin.close()


# --- running the consumer ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(consumer: InboundConsumer) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(consumer.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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


async def consume_until_caught_up(
    bootstrap_servers: str, consumer: InboundConsumer
) -> None:
    async with lag_of(bootstrap_servers, consumer.group_id) as lag, running(consumer) as task:
        await until(lag.is_zero, task)


def new_run() -> tuple[str, str]:
    """A run id to mark this test's messages, and a consumer group of its own."""
    run = uuid.uuid4().hex[:10]
    return run, f"inbound-test-{run}"


# --- tests -------------------------------------------------------------------------------


async def test_reservation_replies_become_reserved_items_of_the_booking(
    kafka_bootstrap_servers: str, services: Services
) -> None:
    run, group = new_run()
    booking_id = f"{run}-trip"
    await request_trips(services, [booking_id])
    await groups_starting_now(kafka_bootstrap_servers, group)
    await publish(kafka_bootstrap_servers, [
        reply("hotel.reserved", booking_id, f"{run}-h", causation_id="event-1"),
        reply("flight.reserved", booking_id, f"{run}-f"),
    ])
    consumer = InboundConsumer(kafka_bootstrap_servers, services.commands, group_id=group)

    await consume_until_caught_up(kafka_bootstrap_servers, consumer)

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
    kafka_bootstrap_servers: str, services: Services
) -> None:
    run, group = new_run()
    booking_id = f"{run}-trip"
    await request_trips(services, [booking_id])
    await groups_starting_now(kafka_bootstrap_servers, group)
    twice = reply("hotel.reserved", booking_id, f"{run}-h")
    await publish(kafka_bootstrap_servers, [twice, twice])
    consumer = InboundConsumer(kafka_bootstrap_servers, services.commands, group_id=group)

    await consume_until_caught_up(kafka_bootstrap_servers, consumer)

    assert await event_types(services, booking_id) == ["BookingRequested", "HotelReserved"]
    assert (consumer.handled, consumer.ignored, consumer.dead_lettered) == (1, 1, 0)


async def test_a_reply_for_an_item_no_longer_pending_is_ignored_not_dead_lettered(
    kafka_bootstrap_servers: str, services: Services
) -> None:
    run, group = new_run()
    booking_id = f"{run}-trip"
    await request_trips(services, [booking_id])
    await groups_starting_now(kafka_bootstrap_servers, group)
    await publish(kafka_bootstrap_servers, [
        reply("hotel.reserved", booking_id, f"{run}-h1"),
        reply("hotel.rejected", booking_id, f"{run}-h2"),  # a late change of mind
    ])
    consumer = InboundConsumer(kafka_bootstrap_servers, services.commands, group_id=group)

    await consume_until_caught_up(kafka_bootstrap_servers, consumer)

    assert await event_types(services, booking_id) == ["BookingRequested", "HotelReserved"]
    assert (consumer.handled, consumer.ignored, consumer.dead_lettered) == (1, 1, 0)
    assert await dead_letters_of(kafka_bootstrap_servers, run) == []


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
    kafka_bootstrap_servers: str, services: Services, mongodb_url: str
) -> None:
    run, group = new_run()
    clean_group = f"{group}-clean"
    bookings = [f"{run}-b{n:03d}" for n in range(100)]
    clean = await build_services(
        Settings(mongodb_url=mongodb_url, mongodb_database=f"test_{uuid.uuid4().hex[:12]}")
    )
    try:
        await asyncio.gather(request_trips(services, bookings), request_trips(clean, bookings))
        await groups_starting_now(kafka_bootstrap_servers, group, clean_group)
        messages, expected = mixed_traffic(run, bookings)
        published = await publish(kafka_bootstrap_servers, messages)

        # Killed when half the messages are done; a new consumer of the group finishes.
        first = InboundConsumer(kafka_bootstrap_servers, services.commands, group, FAST)
        async with running(first) as task:
            await until(lambda: first.handled + first.ignored + first.dead_lettered >= 200, task)
        assert first.handled + first.dead_lettered < 400
        second = InboundConsumer(kafka_bootstrap_servers, services.commands, group, FAST)
        await consume_until_caught_up(kafka_bootstrap_servers, second)

        async with lag_of(kafka_bootstrap_servers, group) as lag:
            assert set((await lag.per_partition()).values()) == {0}
        letters = await dead_letters_of(kafka_bootstrap_servers, run)
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
        uninterrupted = InboundConsumer(kafka_bootstrap_servers, clean.commands, clean_group, FAST)
        await consume_until_caught_up(kafka_bootstrap_servers, uninterrupted)

        assert (uninterrupted.handled, uninterrupted.ignored) == (200, 0)
        assert uninterrupted.dead_lettered == 200
        assert await events_by_booking(clean, bookings) == effects
    finally:
        await clean.close()


async def test_replies_wait_out_a_mongodb_outage_and_none_is_dead_lettered(
    kafka_bootstrap_servers: str, tmp_path: Path
) -> None:
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
        await groups_starting_now(kafka_bootstrap_servers, group)
        replies = [reply("hotel.reserved", b, f"{run}-h-{n}") for n, b in enumerate(bookings)]
        consumer = InboundConsumer(kafka_bootstrap_servers, services.commands, group, FAST)
        async with lag_of(kafka_bootstrap_servers, group) as lag, running(consumer) as task:
            await publish(kafka_bootstrap_servers, replies[:10])
            await until(lambda: consumer.handled == 10, task)

            await asyncio.to_thread(server.stop)
            await publish(kafka_bootstrap_servers, replies[10:])
            await until(lambda: consumer.retried >= 3, task)
            assert consumer.dead_lettered == 0
            await asyncio.to_thread(server.start)

            await until(lag.is_zero, task)
        assert consumer.handled + consumer.ignored == 20
        assert consumer.dead_lettered == 0
        for booking_id in bookings:
            assert await event_types(services, booking_id) == ["BookingRequested", "HotelReserved"]
        assert await dead_letters_of(kafka_bootstrap_servers, run) == []
    finally:
        await services.close()
        await asyncio.to_thread(server.stop)
