"""A document in `events` that is not an event at all is parked; nothing stops.

MongoDB only: the embedded store cannot hold such a row. `mongo_db` is the same database
the services use (both take the test's `database_name`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from tests.integration.background import projecting
from tests.integration.booking_traffic import request_booking
from travelbuddy.application import Caller
from travelbuddy.bootstrap import Services
from travelbuddy.readmodels.runner import ProjectorRunner


async def until_views(services: Services, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while await services.read_models.views.count() < count:
        assert asyncio.get_running_loop().time() < deadline, "views not projected in time"
        await asyncio.sleep(0.02)


async def test_a_malformed_event_document_is_parked_and_later_events_still_projected(
    services: Services, projector: ProjectorRunner, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    await services.commands.handle(request_booking(), Caller("alice"))
    await mongo_db["events"].insert_one({"stream_id": "booking-x", "junk": True})
    await services.commands.handle(request_booking(), Caller("alice"))

    await until_views(services, 2)

    parked = await mongo_db["projection_dlq"].find_one({"document.junk": True})
    assert parked is not None and "malformed" in parked["error"]
    assert projector.parked == 1
    assert await services.read_models.parked.count() == 1
    assert await services.read_models.parked.list() == []  # nothing a retry could apply


async def test_catch_up_skips_a_malformed_document_and_projects_the_rest(
    services: Services, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    await services.commands.handle(request_booking(), Caller("alice"))
    await mongo_db["events"].insert_one({"stream_id": "booking-x", "junk": True})
    await services.commands.handle(request_booking(), Caller("alice"))
    async with projecting(services.projector(), seconds=10) as runner:
        pass

    assert await services.read_models.views.count() == 2
    assert runner.applied == 2
