"""/readyz: ready when the stores answer and the projector keeps up; 503 otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

import httpx

from tests.integration.graphql_calls import request_booking
from tests.services.testbed import MongoTestServer
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
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
    assert response.json() == {"status": "ready", "projector_lag": 0,
                               "projector_lag_seconds": 0.0}


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
    runner, ready = services.projector(), asyncio.Event()
    task = asyncio.create_task(runner.run(ready))
    await asyncio.wait_for(ready.wait(), timeout=10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
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

