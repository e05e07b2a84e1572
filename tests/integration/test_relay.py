"""The relay: every stored booking event reaches `travelbuddy.bookings.v1`, in order per
booking, at least once, also when the relay is stopped abruptly and restarted; on the
embedded default's SQLite bus, which keeps what was published, a restarted relay publishes
only what is new."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.buses import kafka_bus
from tests.integration.kafka_reading import Record, read_until
from travelbuddy.application import Caller
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.domain import (
    Cabin,
    ConfirmHotelReservation,
    FlightRequest,
    HotelStayRequest,
    RequestBooking,
    Traveler,
)
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.relay import EMBEDDED_RELAY, FORGETFUL_BUS_RELAY, Relay
from travelbuddy.integration.sqlite_bus import SqliteBus
from travelbuddy.integration.topics import BOOKINGS
from travelbuddy.readmodels.maintenance import projector_status

ALICE = Caller("alice")
HOTEL = Caller.system("hotel-service")


@pytest.fixture
async def bus(kafka_bootstrap_servers: str) -> AsyncIterator[KafkaBus]:
    async with kafka_bus(kafka_bootstrap_servers) as opened:
        yield opened


async def book(services: Services) -> str:
    booking_id = str(uuid.uuid4())
    day = dt.date.today() + dt.timedelta(days=20)
    await services.commands.handle(RequestBooking(
        booking_id=booking_id, customer_id="alice",
        hotel_stays=(HotelStayRequest(hotel_id="hotel-sapporo-1", room_type="STD",
                                      check_in=day, check_out=day + dt.timedelta(days=2),
                                      guests=1),),
        flights=(FlightRequest(flight_id="NH-061-HND-CTS", date=day, seats=1,
                               cabin=Cabin.ECONOMY),),
        travelers=(Traveler(name="Aiko Tanaka"),),
    ), ALICE)
    await services.commands.handle(
        ConfirmHotelReservation(booking_id=booking_id, confirmation_code="H-1"), HOTEL
    )
    return booking_id


async def stored_event_ids(services: Services) -> set[str]:
    return {e.metadata.event_id async for e in services.store.read_all()}


def envelope(record: Record) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(record.value)
    return value


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def relayed(
    services: Services, bus: KafkaBus, bootstrap_servers: str, bookings: set[str]
) -> list[Record]:
    """Run a fresh relay until every stored event of `bookings` is on the topic; the
    records of those bookings read back from the start of the topic."""
    relay = asyncio.create_task(
        Relay(services.read_models, services.store, services.feed, bus).run())
    expected = await stored_event_ids(services)
    try:
        return await read_until(
            bootstrap_servers, BOOKINGS,
            done=lambda kept: {envelope(r)["id"] for r in kept} >= expected,
            keep=lambda r: r.key is not None and r.key.decode() in bookings,
        )
    finally:
        await stop(relay)


async def test_every_event_is_published_keyed_by_booking_in_stream_order(
    services: Services, kafka_bootstrap_servers: str, bus: KafkaBus
) -> None:
    bookings = {await book(services) for _ in range(5)}

    records = await relayed(services, bus, kafka_bootstrap_servers, bookings)

    first = envelope(records[0])
    assert set(first) >= {"id", "type", "source", "subject", "time", "datacontenttype",
                          "dataschemaversion", "data"}
    assert first["type"] == "BookingRequested"
    for booking_id in bookings:
        mine = [r for r in records if r.key == booking_id.encode()]
        assert len({r.partition for r in mine}) == 1
        sequences = [envelope(r)["sequence"] for r in mine]
        assert sequences == sorted(sequences) == [1, 2]
        assert all(envelope(r)["subject"] == booking_id for r in mine)


async def test_relay_stopped_abruptly_and_restarted_loses_no_event(
    services: Services, kafka_bootstrap_servers: str, bus: KafkaBus
) -> None:
    bookings = {await book(services) for _ in range(10)}
    ready, first = asyncio.Event(), Relay(services.read_models, services.store, services.feed, bus)
    relay = asyncio.create_task(first.run(ready))
    await ready.wait()
    writing = asyncio.gather(*(book(services) for _ in range(30)))
    # Mid-stream: the catch-up (20 events) is published, most of the 60 new ones are not.
    while first.published < 30:  # noqa: ASYNC110 - a counter, not an event to wait on
        await asyncio.sleep(0.005)
    await stop(relay)
    bookings |= set(await writing)

    records = await relayed(services, bus, kafka_bootstrap_servers, bookings)

    published = [envelope(r)["id"] for r in records]
    expected = await stored_event_ids(services)
    assert set(published) == expected
    assert len(expected) == 80
    assert first.published < 80


@contextlib.asynccontextmanager
async def embedded_process(data_dir: Path) -> AsyncIterator[Services]:
    """The embedded default's stores and bus on `data_dir`, as a process opens them."""
    services = await build_services(
        Settings(mongodb_url=None, kafka_bootstrap_servers=None, data_dir=data_dir))
    try:
        yield services
    finally:
        await services.close()


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():  # noqa: ASYNC110 - a checkpoint document, no event
            await asyncio.sleep(0.02)


async def relay_caught_up(services: Services, name: str = EMBEDDED_RELAY) -> bool:
    """Whether the relay's checkpoint covers every stored event (so all are published)."""
    status = await projector_status(services.read_models, services.store, name)
    return status.caught_up and status.lag == 0


@contextlib.asynccontextmanager
async def relaying(services: Services, relay: Relay) -> AsyncIterator[Relay]:
    """The relay running, caught up with the store when this enters."""
    ready = asyncio.Event()
    task = asyncio.create_task(relay.run(ready))
    try:
        async with asyncio.timeout(20):
            await ready.wait()
        yield relay
    finally:
        await stop(task)


async def on_the_bus(services: Services) -> list[str]:
    """The event ids the embedded bus holds on the bookings topic, in its file's order."""
    async with services.bus.read_to_end(BOOKINGS) as backlog:
        return [json.loads(message.value or b"")["id"] async for message in backlog]


async def test_a_relay_restarted_on_the_same_data_folder_publishes_nothing_again(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    async with embedded_process(data_dir) as services:
        await book(services)
        relay = Relay(services.read_models, services.store, services.feed, services.bus)
        async with relaying(services, relay):
            await book(services)  # followed on the change feed
            await until(lambda: relay_caught_up(services))
        assert relay.published == 4

    # While no relay runs, another process appends a booking's events.
    async with embedded_process(data_dir) as services:
        await book(services)

    async with embedded_process(data_dir) as services:
        restarted = Relay(services.read_models, services.store, services.feed, services.bus)
        async with relaying(services, restarted):
            await until(lambda: relay_caught_up(services))
        published = await on_the_bus(services)
        stored = await stored_event_ids(services)

    assert restarted.published == 2  # only the events appended while it was down
    assert sorted(published) == sorted(stored)  # every event on the bus, each once
    assert len(stored) == 6


async def test_on_a_data_folder_of_the_in_process_bus_the_relay_publishes_every_event_once(
    tmp_path: Path,
) -> None:
    """The in-process bus before the SQLite bus left a checkpoint at the store's end while
    its messages were gone: the relay to the SQLite bus starts on its own, from the start."""
    async with embedded_process(tmp_path / "data") as services:
        for _ in range(2):
            await book(services)
        forgotten_bus = SqliteBus(tmp_path / "gone-with-the-process.sqlite3")
        old = Relay(services.read_models, services.store, services.feed, forgotten_bus,
                    name=FORGETFUL_BUS_RELAY)
        async with relaying(services, old):
            await until(lambda: relay_caught_up(services, FORGETFUL_BUS_RELAY))
        await forgotten_bus.close()

        relay = Relay(services.read_models, services.store, services.feed, services.bus)
        async with relaying(services, relay):
            await until(lambda: relay_caught_up(services))
        published = await on_the_bus(services)
        stored = await stored_event_ids(services)
        followers = await services.read_models.checkpoints.names()

    assert sorted(published) == sorted(stored) and len(stored) == 4
    assert FORGETFUL_BUS_RELAY not in followers  # no stale follower in `projections status`
