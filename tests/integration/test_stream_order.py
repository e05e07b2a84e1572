"""A booking's events reach every projection in version order, whatever process wrote them.

Positions are made by each writing process (MongoDB ObjectIds: seconds, a per-process
random, a counter), so with `api` and `inbound` as separate processes a confirmation
written in the same second as its request may sort before it. Catch-up and rebuild
therefore replay stream by stream in version order; these tests write with two real
processes, then rebuild and catch up from nothing, and compare every view and the
occupancy with a fold of the streams.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from tests.integration.background import projecting
from tests.integration.booking_traffic import (
    MARKER_HOTEL_ID,
    all_events,
    expected_occupancy,
    expected_views,
)
from tests.integration.served import service_environment
from travelbuddy.bootstrap import Services
from travelbuddy.readmodels.maintenance import rebuild
from travelbuddy.readmodels.mongo import MongoReadModels
from travelbuddy.readmodels.ports import ReadModelStore
from travelbuddy.readmodels.projections import BookingViews, HotelOccupancy
from travelbuddy.readmodels.runner import ProjectorRunner
from travelbuddy.readmodels.sqlite import SqliteReadModels

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)
BOOKINGS = 120
REPOSITORY = Path(__file__).resolve().parents[2]


async def write_with_two_processes(services: Services, tmp_path: Path) -> list[str]:
    """Request bookings in one process while another confirms them as they appear."""
    booking_ids = [str(uuid.uuid4()) for _ in range(BOOKINGS)]
    ids_file = tmp_path / "booking-ids.txt"
    ids_file.write_text("\n".join(booking_ids))
    env = service_environment(services.settings)
    writers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.stream_writers", role, str(ids_file),
            env=env, cwd=REPOSITORY, stderr=asyncio.subprocess.PIPE)
        for role in ("confirm", "request")
    ]
    for writer in writers:
        _, errors = await asyncio.wait_for(writer.communicate(), timeout=90)
        assert writer.returncode == 0, errors.decode()[-2000:]
    return booking_ids


@asynccontextmanager
async def other_read_models(
    services: Services, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ReadModelStore]:
    """Empty read models of their own beside the services' store, for a first catch-up."""
    if services.settings.mongodb_url is None:
        sqlite = SqliteReadModels(tmp_path / "second-readmodels.sqlite3")
        await sqlite.setup()
        yield sqlite
        await sqlite.close()
        return
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        services.settings.mongodb_url, tz_aware=True)
    mongo = MongoReadModels(client[request.getfixturevalue("database_name") + "_second"])
    await mongo.setup()
    try:
        yield mongo
    finally:
        await client.close()


async def assert_equal_to_a_fold_of_the_streams(
    services: Services, read_models: ReadModelStore, booking_ids: list[str]
) -> None:
    events = await all_events(services)
    expected = expected_views(events)
    assert set(expected) >= set(booking_ids)
    stored = await read_models.views.get_many(list(expected))
    wrong = [b for b in expected if stored.get(b) != expected[b]]
    assert not wrong, f"{len(wrong)} views differ from a fold of their stream, e.g. {wrong[0]}"
    counts: dict[tuple[str, str], int] = {}
    for hotel_id in {key[0] for key in expected_occupancy(events)} | {MARKER_HOTEL_ID}:
        for night, rooms in await read_models.occupancy.rooms_booked(
                hotel_id, dt.date.today(), dt.date.today() + dt.timedelta(days=400)):
            counts[hotel_id, night] = rooms
    assert counts == expected_occupancy(events)
    assert await read_models.parked.count() == 0


async def first_catch_up(services: Services, read_models: ReadModelStore) -> ProjectorRunner:
    runner = ProjectorRunner("order-check", read_models, services.store, services.feed,
                             [BookingViews(read_models), HotelOccupancy(read_models)])
    async with projecting(runner, seconds=60):
        pass
    return runner


async def test_two_writer_processes_then_a_rebuild_and_a_first_catch_up_equal_a_fold(
    services: Services, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    booking_ids = await write_with_two_processes(services, tmp_path)
    assert await services.store.count() == 2 * BOOKINGS

    for name in ("booking_views", "hotel_occupancy"):
        assert await rebuild(name, services.read_models, services.store, services.feed) \
            == 2 * BOOKINGS
    await assert_equal_to_a_fold_of_the_streams(services, services.read_models, booking_ids)

    async with other_read_models(services, request, tmp_path) as fresh:
        runner = await first_catch_up(services, fresh)
        assert (runner.applied, runner.parked) == (2 * BOOKINGS, 0)
        await assert_equal_to_a_fold_of_the_streams(services, fresh, booking_ids)
