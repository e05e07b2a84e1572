"""The embedded default keeps its read models: a restarted process serves the views it had
before any projector runs, resumes from its checkpoint and replays nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.integration.booking_traffic import Traffic, settle
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.readmodels.queries import Reader
from travelbuddy.readmodels.runner import ProjectorRunner

BOOKINGS = 40


@contextlib.asynccontextmanager
async def projecting(services: Services) -> AsyncIterator[ProjectorRunner]:
    runner, ready = services.projector(), asyncio.Event()
    task = asyncio.create_task(runner.run(ready))
    await asyncio.wait_for(ready.wait(), timeout=30)
    try:
        yield runner
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
        async with projecting(first) as runner:
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
        async with projecting(second) as resumed:
            await settle(second)
            assert resumed.applied == 1  # the marker only: nothing was replayed
        messages = [record.getMessage().split()[0] for record in caplog.records]
        assert "event=projector_resumed" in messages
        assert "event=projector_caught_up" not in messages
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
        async with projecting(services):
            response = await readyz(services)
        assert response.status_code == 200, response.text
    finally:
        await services.close()
