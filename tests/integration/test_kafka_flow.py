"""The whole loop through Kafka: mutation -> event -> relay -> simulated partners ->
replies -> inbound commands -> booking_views, on a broker of this module's own
(`private_kafka`, so it can be stopped and started again without disturbing other
tests); and the same loop on the SQLite bus, as `travelbuddy serve` runs it with no Kafka at all."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.background import working
from tests.integration.graphql_calls import graphql, request_booking
from tests.integration.kafka_reading import read_until
from tests.logged import json_lines, printed
from tests.services.testbed import KafkaTestServer
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.domain.sample_catalog import SAMPLE_FLIGHTS, SAMPLE_HOTELS
from travelbuddy.integration.relay import Relay
from travelbuddy.integration.sqlite_bus import SqliteBus
from travelbuddy.integration.topics import BOOKINGS
from travelbuddy.partners import FlightService, HotelService
from travelbuddy.partners.simulated_partner import SimulatedPartner

STATUS = """query ($id: ID!) { booking(id: $id) {
  status version hotelStay { status rejectionReason } flights { status rejectionReason } } }"""


@contextlib.asynccontextmanager
async def running_service(
    mongodb_url: str, database_name: str, kafka: KafkaTestServer, rejection_rate: float
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    """The service with every worker running, as `travelbuddy serve` runs it."""
    async with serving(Settings(
        mongodb_url=mongodb_url, mongodb_database=database_name,
        kafka_bootstrap_servers=kafka.bootstrap_servers,
        partner_latency=0.01, partner_rejection_rate=rejection_rate,
    )) as running:
        yield running


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    services = await build_services(settings)
    transport = httpx.ASGITransport(app=create_app(services.settings, services=services))
    try:
        async with working(services):
            await until(lambda: catalog_projected(services))
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://travelbuddy") as http:
                yield services, http
    finally:
        await services.close()


async def catalog_projected(services: Services) -> bool:
    return await services.read_models.catalog.count() == (len(SAMPLE_HOTELS), len(SAMPLE_FLIGHTS))


async def until(condition: Any, seconds: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def status_of(http: httpx.AsyncClient, booking_id: str) -> dict[str, Any] | None:
    booking: dict[str, Any] | None = (
        await graphql(http, "/graphql", STATUS, {"id": booking_id}))["booking"]
    return booking


async def settled(http: httpx.AsyncClient, booking_ids: list[str], status: str) -> bool:
    for booking_id in booking_ids:
        booking = await status_of(http, booking_id)
        if booking is None or booking["status"] != status:
            return False
    return True


async def test_partners_confirm_a_requested_booking_through_kafka(
    mongodb_url: str, database_name: str, private_kafka: KafkaTestServer
) -> None:
    async with running_service(mongodb_url, database_name, private_kafka, 0.0) as (_, http):
        booking_id = await request_booking(http)
        await until(lambda: settled(http, [booking_id], "CONFIRMED"))
        booking = await status_of(http, booking_id)

    assert booking is not None
    assert booking["version"] == 3  # requested, hotel reserved, flight reserved: once each
    assert booking["hotelStay"]["status"] == "RESERVED"
    assert [f["status"] for f in booking["flights"]] == ["RESERVED"]


@pytest.mark.parametrize("store", ["mongodb", "embedded"])
async def test_partners_confirm_a_requested_booking_on_the_sqlite_bus(
    store: str, database_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """No Kafka: relay, partners and inbound consumer in this process, on the SQLite bus
    in the data folder; on the embedded default with nothing but Python, or with MongoDB."""
    settings = Settings(
        mongodb_url=request.getfixturevalue("mongodb_url") if store == "mongodb" else None,
        mongodb_database=database_name, data_dir=tmp_path / "data",
        kafka_bootstrap_servers=None, partner_latency=0.01,
    )
    async with serving(settings) as (services, http):
        assert isinstance(services.bus, SqliteBus)
        booking_id = await request_booking(http)
        await until(lambda: settled(http, [booking_id], "CONFIRMED"))
        booking = await status_of(http, booking_id)

    assert booking is not None
    assert booking["version"] == 3
    assert booking["hotelStay"]["status"] == "RESERVED"
    assert [f["status"] for f in booking["flights"]] == ["RESERVED"]


async def test_partners_that_reject_everything_leave_the_booking_rejected_with_the_reason(
    mongodb_url: str, database_name: str, private_kafka: KafkaTestServer
) -> None:
    async with running_service(mongodb_url, database_name, private_kafka, 1.0) as (_, http):
        booking_id = await request_booking(http)
        await until(lambda: settled(http, [booking_id], "REJECTED"))
        booking = await status_of(http, booking_id)

    assert booking is not None
    items = [booking["hotelStay"], *booking["flights"]]
    rejected = [item for item in items if item["status"] == "REJECTED"]
    # The first rejection rejects the booking; a reply after it finds no pending item.
    assert rejected and all(item["rejectionReason"] for item in rejected)
    assert not any(item["status"] == "RESERVED" for item in items)


async def test_a_broker_outage_loses_no_event_and_everything_resumes_on_its_own(
    mongodb_url: str, database_name: str, private_kafka: KafkaTestServer
) -> None:
    async with running_service(mongodb_url, database_name, private_kafka, 0.0) as (
        services, http,
    ):
        before = [await request_booking(http) for _ in range(3)]
        await until(lambda: settled(http, before, "CONFIRMED"))

        await asyncio.to_thread(private_kafka.stop)
        during = [await request_booking(http) for _ in range(3)]
        await asyncio.to_thread(private_kafka.start)
        await until(lambda: settled(http, before + during, "CONFIRMED"), seconds=120)

        stored = {e.metadata.event_id async for e in services.store.read_all()}
        ours = {b.encode() for b in before + during}
        records = await read_until(
            private_kafka.bootstrap_servers, BOOKINGS,
            done=lambda kept: {json.loads(r.value)["id"] for r in kept} >= stored,
            keep=lambda r: r.key in ours,
        )

    assert {json.loads(r.value)["id"] for r in records} == stored
    assert len(stored) == 3 * 6


async def test_duplicates_on_the_wire_leave_the_views_unaffected(
    mongodb_url: str, database_name: str, private_kafka: KafkaTestServer
) -> None:
    """A relay that crashed before saving its checkpoint publishes everything again, and
    partners that lost their memory answer again: the bookings must not change."""
    async with running_service(mongodb_url, database_name, private_kafka, 0.0) as (
        services, http,
    ):
        bookings = [await request_booking(http) for _ in range(4)]
        await until(lambda: settled(http, bookings, "CONFIRMED"))
        before = {b: await status_of(http, b) for b in bookings}
        events_before = await services.store.count()

        # A second relay from the start of the store (no checkpoint of its own) and a
        # second pair of partners (a new group, empty dedupe memory) answering again.
        await services.read_models.checkpoints.delete("replayed-relay")
        replayed = Relay(services.read_models, services.store, services.feed, services.bus,
                         name="replayed-relay")
        forgetful: list[SimulatedPartner] = [
            HotelService(services.bus, group_id=f"hotel-again-{database_name}"),
            FlightService(services.bus, group_id=f"flight-again-{database_name}"),
        ]
        extra = [asyncio.create_task(replayed.run()),
                 *(asyncio.create_task(partner.run()) for partner in forgetful)]
        try:
            await until(lambda: answered_again(forgetful, len(bookings)))
            records = await read_until(
                private_kafka.bootstrap_servers, BOOKINGS,
                done=lambda kept: len(kept) >= 2 * events_before,
                keep=lambda r: r.key in {b.encode() for b in bookings},
            )
            after = {b: await status_of(http, b) for b in bookings}
        finally:
            for task in extra:
                task.cancel()
            await asyncio.gather(*extra, return_exceptions=True)

        assert len(records) >= 2 * events_before  # every event went out at least twice
        assert after == before
        assert await services.store.count() == events_before


async def answered_again(partners: list[SimulatedPartner], bookings: int) -> bool:
    # Each booking: one hotel reply and one flight reply, sent a second time.
    return sum(p.replies_sent for p in partners) >= 2 * bookings


async def test_three_graceful_broker_restarts_while_commands_flow_lose_nothing(
    mongodb_url: str, database_name: str, private_kafka: KafkaTestServer,
) -> None:
    with printed() as log:
        await restarts_survived(mongodb_url, database_name, private_kafka)
    unable = [line for line in json_lines(log.getvalue()) if "Unable connect" in line["event"]]
    assert len(unable) <= 12 * 3, f"{len(unable)} connection-error lines for three outages"


async def restarts_survived(
    mongodb_url: str, database_name: str, private_kafka: KafkaTestServer
) -> None:
    async with running_service(mongodb_url, database_name, private_kafka, 0.0) as (
        services, http,
    ):
        booked: list[str] = [await request_booking(http)]

        async def all_confirmed() -> bool:
            return await settled(http, booked, "CONFIRMED")

        for _ in range(3):
            await until(all_confirmed, seconds=120)
            await asyncio.to_thread(private_kafka.stop)  # SIGTERM: a graceful stop
            booked.extend([await request_booking(http) for _ in range(2)])
            await asyncio.to_thread(private_kafka.start)  # same port, same log folder
            booked.append(await request_booking(http))
        # Every restart is survived by the processes themselves: nothing is restarted here.
        await until(all_confirmed, seconds=120)

        stored = {e.metadata.event_id async for e in services.store.read_all()}
        ours = {b.encode() for b in booked}
        records = await read_until(
            private_kafka.bootstrap_servers, BOOKINGS,
            done=lambda kept: {json.loads(r.value)["id"] for r in kept} >= stored,
            keep=lambda r: r.key in ours)

    assert {json.loads(r.value)["id"] for r in records} == stored
    assert len(stored) == 3 * len(booked)
