"""/readyz: ready when the stores answer and the projector keeps up; 503 otherwise."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.background import projecting
from tests.integration.booking_traffic import Traffic
from tests.integration.graphql_calls import request_booking
from tests.services.testbed import KafkaTestServer, MongoTestServer
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.relay import Relay
from travelbuddy.integration.topics import CATALOG
from travelbuddy.readmodels.runner import ProjectorRunner

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)


async def readyz(services: Services) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(services.settings, services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as http:
        return await http.get("/readyz")


async def test_ready_once_the_projector_has_caught_up(
    http: httpx.AsyncClient, services: Services, projector: ProjectorRunner
) -> None:
    response = await readyz(services)

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["projector_lag"], body["projector_lag_seconds"]) == (
        "ready", 0, 0.0)
    assert body["followers"]["read-models"] == {"caught_up": True, "lag": 0, "lag_seconds": 0.0}
    assert body["followers"]["catalog"] == {"lag": 0}  # no catalog published on this bus
    assert body["relay"]["publishing"] is None  # no relay runs in this process
    assert body["inbound"] == {"partitions": None}


async def test_not_ready_before_the_first_catch_up_with_the_lag_in_events_and_seconds(
    http: httpx.AsyncClient, services: Services
) -> None:
    for _ in range(3):
        await request_booking(http)

    response = await readyz(services)

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["projector_lag"]) == ("catching_up", 3)
    assert body["projector_lag_seconds"] > 0


async def test_a_caught_up_projector_that_falls_behind_is_lagging(
    http: httpx.AsyncClient, services: Services
) -> None:
    async with projecting(services.projector(), seconds=10):
        pass  # caught up, then stopped
    for _ in range(3):
        await request_booking(http)
    strict = dataclasses.replace(
        services, settings=services.settings.model_copy(update={"readiness_max_lag": 2}))

    response = await readyz(strict)

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["projector_lag"]) == ("lagging", 3)
    assert body["projector_lag_seconds"] >= 0


async def test_unreachable_store_is_not_ready(tmp_path: Path) -> None:
    server = MongoTestServer(tmp_path)
    server.start()
    services = await build_services(Settings(
        mongodb_url=server.url + "&serverSelectionTimeoutMS=500", readiness_timeout=2.0))
    try:
        server.stop()
        response = await readyz(services)
    finally:
        server.stop()
        await services.close()

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "Traceback" not in response.text



async def test_a_relay_that_cannot_publish_makes_the_process_not_ready(
    services: Services, tmp_path: Path
) -> None:
    kafka = KafkaTestServer(tmp_path / "kafka")
    kafka.workdir.mkdir()
    kafka.start()
    bus = KafkaBus(kafka.bootstrap_servers)
    strict = dataclasses.replace(services, bus=bus, settings=services.settings.model_copy(
        update={"readiness_relay_stuck_seconds": 1.0}))
    relay = Relay(services.read_models, services.store, services.feed, bus,
                  health=strict.health)
    runner, projector_ready = services.projector(), asyncio.Event()
    tasks = [asyncio.create_task(runner.run(projector_ready)), asyncio.create_task(relay.run())]
    try:
        await asyncio.wait_for(projector_ready.wait(), timeout=10)
        await Traffic(services).request()
        await until_status(strict, "ready", lambda body: body["relay"]["publishing"] is True)
        body = (await readyz(strict)).json()
        assert body["followers"]["kafka-relay"]["caught_up"] is True

        await asyncio.to_thread(kafka.stop)
        await Traffic(services).request()  # an event the relay cannot get acknowledged
        stuck = await until_status(strict, "relay_stuck")
        assert stuck["relay"]["failing_for_seconds"] >= 1.0
        # Recovery once the broker is back is test_kafka_flow's three-restart test.
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.close()
        kafka.stop()


async def until_status(services: Services, status: str,
                       also: Any = lambda body: True) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        response = await readyz(services)
        body: dict[str, Any] = response.json()
        if body.get("status") == status and also(body):
            assert response.status_code == (200 if status == "ready" else 503), body
            return body
        assert asyncio.get_running_loop().time() < deadline, f"not {status}: {body}"
        await asyncio.sleep(0.1)


class SlowStore:
    """The services' event store, made as slow as a starved machine on demand."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.slow = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def count(self, after_position: Any = None) -> int:
        if self.slow:
            await asyncio.sleep(1.0)
        return int(await self._store.count(after_position))


@pytest.mark.parametrize("grace", [10.0, 0.0])
async def test_one_slow_check_soon_after_a_ready_one_does_not_flap_to_not_ready(
    services: Services, projector: ProjectorRunner, grace: float
) -> None:
    store = SlowStore(services.store)
    slow = dataclasses.replace(services, store=store, settings=services.settings.model_copy(
        update={"readiness_timeout": 0.2, "readiness_grace_seconds": grace}))
    transport = httpx.ASGITransport(app=create_app(slow.settings, services=slow))
    async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as http:
        assert (await http.get("/readyz")).status_code == 200
        store.slow = True
        answer = await http.get("/readyz")

    if grace:
        assert answer.status_code == 200
        assert answer.json()["status"] == "ready" and answer.json()["stale"] is True
    else:
        assert answer.status_code == 503
        assert answer.json()["status"] == "unavailable"


async def test_readiness_reports_the_catalog_messages_not_yet_projected(
    services: Services, projector: ProjectorRunner
) -> None:
    await services.bus.ensure_topics()
    await services.bus.publish(CATALOG, b"hotel-x", b'{"kind": "hotel"}')

    body = (await readyz(services)).json()

    assert body["followers"]["catalog"] == {"lag": 1}
    assert body["status"] == "ready"  # reported for operators, not acted on
