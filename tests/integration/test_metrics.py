"""/metrics beyond the journey (test_metrics_journey.py): a held follower's lag grows on
it and drops once the follower goes on; no client can grow the operation label set; a
failed publish is counted by its cause; a worker command serves its metrics on its own
port; and with metrics off nothing is served, counted or timed. On MongoDB and the
embedded default where the stores take part.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from tests.auth import bearer
from tests.integration.background import projecting
from tests.integration.booking_traffic import eventually, request_booking
from tests.integration.graphql_calls import graphql
from tests.integration.graphql_calls import request_booking as request_over_http
from tests.integration.metrics_scrape import Scrape, scrape, value
from tests.integration.served import service_environment
from tests.services.testbed import free_port
from travelbuddy.app import create_app
from travelbuddy.application.handler import Caller
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.integration.bus import BusUnavailable
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.topics import BOOKINGS
from travelbuddy.metrics_endpoint import metrics_served
from travelbuddy.observability.metrics import MAX_OPERATION_NAMES
from travelbuddy.workers import Worker

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)
TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))


def projector_lag(scraped: Scrape) -> tuple[float | None, float | None]:
    return (value(scraped, "travelbuddy_follower_lag_events", follower="projector"),
            value(scraped, "travelbuddy_follower_lag_seconds", follower="projector"))


async def test_a_held_projector_shows_its_lag_growing_and_dropping_once_it_goes_on(
    services: Services, http: httpx.AsyncClient
) -> None:
    async with projecting(services.projector()):
        await eventually(lambda: scrape(http), lambda now: projector_lag(now) == (0, 0), 30,
                         "the running projector has no lag")
    growing: list[tuple[float | None, float | None]] = []
    for _ in range(3):  # the projector is held: each booking adds to its lag
        await services.commands.handle(request_booking(), Caller("alice"))
        growing.append(projector_lag(await scrape(http)))
    assert [events for events, _ in growing] == [1, 2, 3]
    first_seconds = growing[0][1]
    assert first_seconds is not None and first_seconds >= 0
    await eventually(lambda: scrape(http), lambda now: (projector_lag(now)[1] or 0) > first_seconds,
                     30, "the lag in seconds grows while the projector is held")
    held = await scrape(http)
    assert value(held, "travelbuddy_follower_checkpoint_age_seconds", follower="projector")

    async with projecting(services.projector()):
        await eventually(lambda: scrape(http), lambda now: projector_lag(now) == (0, 0), 30,
                         "the lag drops to nothing once the projector goes on")


async def test_no_client_can_grow_the_operation_label_set(http: httpx.AsyncClient) -> None:
    async def query(name: str | None, document: str | None = None) -> None:
        response = await http.post("/graphql", headers=bearer("alice"), json={
            "query": document or f"query {name} {{ __typename }}", "operationName": name})
        assert response.status_code in (200, 400), response.text

    for number in range(MAX_OPERATION_NAMES + 50):  # more names than the process keeps
        await query(f"Probe{number}")
    await query("L" * 65)  # longer than a label may be
    await query("not-a-name", "query { __typename }")  # named nothing the document has
    await query(None, "{ __typename }")

    operations = {labels for name, labels in await scrape(http)
                  if name == "travelbuddy_graphql_operations_total"}
    names = {dict(labels)["operation"] for labels in operations}
    assert len(names - {"anonymous", "other"}) <= MAX_OPERATION_NAMES
    assert {"anonymous", "other"} <= names
    assert "L" * 65 not in names and "not-a-name" not in names
    assert f"Probe{MAX_OPERATION_NAMES + 49}" not in names


async def test_a_failed_publish_is_counted_by_the_error_behind_it() -> None:
    def errors() -> float:
        return REGISTRY.get_sample_value("travelbuddy_kafka_publish_errors_total",
                                         {"kind": "KafkaConnectionError"}) or 0.0

    before = errors()
    bus = KafkaBus(f"127.0.0.1:{free_port()}")  # no broker listens there
    try:
        with pytest.raises(BusUnavailable):
            await bus.publish(BOOKINGS, b"booking-1", b"{}")
    finally:
        await bus.close()
    assert errors() == before + 1


def start_worker(services: Services, command: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = service_environment(services.settings) | {"TRAVELBUDDY_METRICS_PORT": str(port)}
    with log.open("wb") as output:
        return subprocess.Popen([TRAVELBUDDY, command], env=env, stdout=output,
                                stderr=subprocess.STDOUT)


async def worker_metrics(url: str) -> Scrape | None:
    async with httpx.AsyncClient() as http:
        try:
            return await scrape(http, url)
        except httpx.TransportError:
            return None  # not listening yet


async def test_a_worker_command_serves_its_metrics_on_its_own_port(
    services: Services, tmp_path: Path
) -> None:
    port = free_port()
    projector = start_worker(services, "projector", port, tmp_path / "projector.log")
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        await services.commands.handle(request_booking(), Caller("alice"))
        scraped = await eventually(
            lambda: worker_metrics(url), lambda now: now is not None and projector_lag(now) == (
                0, 0) and value(now, "travelbuddy_follower_handled_total", follower="projector")
            == 1, 60, "the projector process applied the event, and says so")
        assert scraped is not None
        assert value(scraped, "travelbuddy_follower_lease_held", follower="projector") == 1
        assert value(scraped, "process_resident_memory_bytes")  # the default collectors
        assert value(scraped, "travelbuddy_graphql_operations_total") is None  # no API here

        second = start_worker(services, "projector", port, tmp_path / "second.log")
        assert await asyncio.to_thread(second.wait, 60) == 1  # the port is taken: one line
        said = (tmp_path / "second.log").read_text()
        assert f"cannot serve metrics on 127.0.0.1:{port}" in said
        assert "Traceback" not in said
    finally:
        projector.kill()
        await asyncio.to_thread(projector.wait, 10)


MEASURED = ("travelbuddy_commands_total", "travelbuddy_command_duration_seconds_count",
            "travelbuddy_graphql_operations_total",
            "travelbuddy_graphql_operation_duration_seconds_count")
"""What each command and GraphQL operation moves while metrics are on."""


def measured() -> dict[str, float]:
    """The process's totals of MEASURED, read from the registry (no /metrics to scrape)."""
    totals = dict.fromkeys(MEASURED, 0.0)
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name in totals:
                totals[sample.name] += sample.value
    return totals


async def book_and_read(http: httpx.AsyncClient) -> None:
    """A booking requested over GraphQL, then read back (a mutation and a query)."""
    booking_id = await request_over_http(http)
    await graphql(http, "/graphql", "query Booking($id: ID!) { booking(id: $id) { id } }",
                  {"id": booking_id})


async def test_with_metrics_off_nothing_is_served_counted_or_timed(
    services: Services, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    before = measured()  # metrics on (the fixture's app): the same traffic moves them all
    await book_and_read(http)
    on = measured()
    assert all(on[name] > before[name] for name in MEASURED), (before, on)

    settings = services.settings.model_copy(update={
        "metrics_enabled": False, "data_dir": tmp_path / "off", "metrics_port": free_port()})
    off = await build_services(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(settings, services=off),
                                        raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as bare:
            assert (await bare.get("/metrics")).status_code == 404
            await book_and_read(bare)
        assert measured() == on
        async with metrics_served(off, [Worker.PROJECTOR]), httpx.AsyncClient() as probe:
            with pytest.raises(httpx.ConnectError):  # no worker metrics port either
                await probe.get(f"http://127.0.0.1:{settings.metrics_port}/metrics")
    finally:
        await off.close()
