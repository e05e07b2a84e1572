"""The embedded default keeps its read models and its bus: a restarted process serves the
views it had before any projector runs, resumes from its checkpoint and replays nothing;
its relay, partners and inbound consumer go on from where they stopped, sending nothing
again and losing no request that was on the bus."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.background import projecting, working
from tests.integration.booking_traffic import Traffic, request_booking, settle
from tests.logged import events
from travelbuddy.app import create_app
from travelbuddy.application import Caller
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.domain import BookingStatus
from travelbuddy.integration.inbound import DEFAULT_GROUP_ID as INBOUND_GROUP
from travelbuddy.integration.relay import EMBEDDED_RELAY, Relay
from travelbuddy.integration.topics import BOOKINGS as BOOKINGS_TOPIC
from travelbuddy.integration.topics import FLIGHT_REPLIES, HOTEL_REPLIES
from travelbuddy.partners import FlightService, HotelService
from travelbuddy.readmodels.maintenance import projector_status
from travelbuddy.readmodels.queries import Reader
from travelbuddy.workers import BUS_LOOP, Worker, all_workers, worker_tasks

BOOKINGS = 40
ANSWERED = 5
REPLY_TOPICS = (HOTEL_REPLIES, FLIGHT_REPLIES)
PARTNER_GROUPS = (HotelService.default_group_id, FlightService.default_group_id)


async def my_bookings(services: Services, customer: str) -> int:
    page = await services.queries.my_bookings(Reader(customer), None, 100, None)
    return len(page.views)


async def readyz(services: Services) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(services.settings, services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as http:
        return await http.get("/readyz")


async def test_a_restarted_embedded_service_serves_its_views_at_once_and_replays_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(mongodb_url=None, kafka_bootstrap_servers=None, data_dir=tmp_path)
    first = await build_services(settings)
    try:
        async with projecting(first.projector()) as runner:
            traffic = Traffic(first)
            await traffic.lifecycles(range(BOOKINGS))
            await settle(first)
            before = await my_bookings(first, "alice")
            projected = runner.applied
    finally:
        await first.close()
    assert before == BOOKINGS and projected > BOOKINGS

    caplog.set_level(logging.INFO, logger="travelbuddy.readmodels.runner")
    second = await build_services(settings)
    try:
        # Before any projector runs in this process: the views are there, and ready.
        assert await my_bookings(second, "alice") == before
        response = await readyz(second)
        assert response.status_code == 200, response.text
        async with projecting(second.projector()) as resumed:
            await settle(second)
            assert resumed.applied == 1  # the marker only: nothing was replayed
        assert events(caplog.records, "projector_resumed")
        assert events(caplog.records, "projector_caught_up") == []
    finally:
        await second.close()


async def test_a_fresh_projector_is_not_ready_until_its_first_catch_up_is_done(
    tmp_path: Path,
) -> None:
    settings = Settings(mongodb_url=None, kafka_bootstrap_servers=None, data_dir=tmp_path)
    services = await build_services(settings)
    try:
        await Traffic(services).lifecycles(range(10))
        response = await readyz(services)
        assert response.status_code == 503
        assert response.json()["status"] == "catching_up"
        async with projecting(services.projector()):
            response = await readyz(services)
        assert response.status_code == 200, response.text
    finally:
        await services.close()


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 60.0) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():  # noqa: ASYNC110 - files of the stores, no event
            await asyncio.sleep(0.05)


async def request(services: Services, days_ahead: int) -> str:
    command = request_booking("alice", days_ahead=days_ahead)
    await services.commands.handle(command, Caller("alice"))
    return command.booking_id


async def confirmed(services: Services, booking_ids: list[str]) -> bool:
    for booking_id in booking_ids:
        view = await services.read_models.views.get(booking_id)
        if view is None or view["status"] != BookingStatus.CONFIRMED.value:
            return False
    return True


async def relay_caught_up(services: Services) -> bool:
    status = await projector_status(services.read_models, services.store, EMBEDDED_RELAY)
    return status.caught_up and status.lag == 0


async def consumed(services: Services, group: str, topics: tuple[str, ...]) -> bool:
    committed = await services.bus.committed_offsets(group, topics)
    ends = await services.bus.end_offsets(topics)
    return all(committed.get(tp, 0) >= end for tp, end in ends.items())


async def bus_loop_idle(services: Services) -> bool:
    """Every event published, every booking event answered by both partners, every reply
    handled: nothing the loop would still send."""
    return (await relay_caught_up(services)
            and all([await consumed(services, group, (BOOKINGS_TOPIC,))
                     for group in PARTNER_GROUPS])
            and await consumed(services, INBOUND_GROUP, REPLY_TOPICS))


async def replies_sent(services: Services) -> int:
    return sum((await services.bus.end_offsets(REPLY_TOPICS)).values())


async def published(services: Services) -> int:
    """Booking events on the bus (a relay's first catch-up may publish one twice)."""
    return sum((await services.bus.end_offsets([BOOKINGS_TOPIC])).values())


async def test_a_restarted_embedded_service_sends_nothing_again_and_loses_no_request(
    tmp_path: Path,
) -> None:
    settings = Settings(mongodb_url=None, kafka_bootstrap_servers=None, data_dir=tmp_path,
                        partner_latency=0.01)
    first = await build_services(settings)
    try:
        async with working(first):
            answered = [await request(first, 30 + n) for n in range(ANSWERED)]
            await until(lambda: confirmed(first, answered))
            await until(lambda: bus_loop_idle(first))
        replies_before = await replies_sent(first)
        # A request the relay publishes just before the process stops, no partner running:
        # on the bus, not answered yet.
        pending = await request(first, 60)
        relay_ready, relay = asyncio.Event(), Relay(
            first.read_models, first.store, first.feed, first.bus)
        relaying = asyncio.create_task(relay.run(relay_ready))
        try:
            await until(lambda: relay_caught_up(first))
        finally:
            relaying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relaying
        assert not await confirmed(first, [pending])
        published_before = await published(first)
    finally:
        await first.close()
    assert replies_before == 2 * ANSWERED  # one from the hotel, one from the airline each

    second = await build_services(settings)
    try:
        async with working(second):
            await until(lambda: confirmed(second, [pending]))
            await until(lambda: bus_loop_idle(second))
        replies_after = await replies_sent(second)
        published_after = await published(second)
        stored = await second.store.count()
    finally:
        await second.close()

    assert replies_after == replies_before + 2  # the pending booking's answers only
    # The relay published only the events of those answers: nothing again.
    assert published_after == published_before + 2
    assert stored == 3 * (ANSWERED + 1)


async def test_the_embedded_bus_loop_runs_in_one_process_or_not_at_all(tmp_path: Path) -> None:
    services = await build_services(
        Settings(mongodb_url=None, kafka_bootstrap_servers=None, data_dir=tmp_path))
    try:
        assert services.bus.durable and not services.bus.shared_between_processes
        for alone in BUS_LOOP:
            with pytest.raises(RuntimeError, match="only within one process"):
                worker_tasks(services, [alone, Worker.PROJECTOR])
        names = [name for name, _ in worker_tasks(services, all_workers(services))]
    finally:
        await services.close()

    assert {"relay", "inbound", "partners"} <= set(names)
