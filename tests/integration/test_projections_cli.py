"""`travelbuddy projections status|rebuild|dlq|retry`, run as the real command."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.integration.graphql_calls import CONFIRM_HOTEL, answer, request_booking
from travelbuddy.bootstrap import Services
from travelbuddy.readmodels.checkpoints import CheckpointStore
from travelbuddy.readmodels.runner import ProjectorRunner

TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))


async def travelbuddy(services: Services, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        TRAVELBUDDY, *args,
        env={**os.environ,
             "TRAVELBUDDY_MONGODB_URL": services.settings.mongodb_url or "",
             "TRAVELBUDDY_MONGODB_DATABASE": services.settings.mongodb_database},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    return output.decode()


async def views(services: Services) -> list[dict[str, Any]]:
    return await services.database["booking_views"].find().sort("_id", 1).to_list()


async def until(condition: Any, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_rebuild_replaces_a_damaged_view_with_one_equal_to_the_projection(
    http: httpx.AsyncClient, services: Services, projector: ProjectorRunner
) -> None:
    ids = [await request_booking(http) for _ in range(5)]
    await answer(http, CONFIRM_HOTEL, {"input": {"bookingId": ids[0], "confirmationCode": "H"}})

    async def projected() -> bool:  # five requests, one confirmation: six events
        return bool(sum(v["version"] for v in await views(services)) == 6)

    await until(projected)
    expected = await views(services)
    await services.database["booking_views"].update_one(
        {"_id": ids[1]}, {"$set": {"status": "DAMAGED"}}
    )

    output = await travelbuddy(services, "projections", "rebuild", "booking_views")

    assert "rebuilt booking_views from 6 events" in output
    assert await views(services) == expected


async def test_status_reports_no_lag_once_the_projector_saved_its_checkpoint(
    http: httpx.AsyncClient, services: Services, projector: ProjectorRunner
) -> None:
    await request_booking(http)

    async def checkpointed() -> bool:
        return await services.database["checkpoints"].find_one({"_id": "read-models"}) is not None

    await until(checkpointed)

    output = await travelbuddy(services, "projections", "status")

    assert "projector=read-models" in output
    assert "lag=0" in output


async def test_dlq_lists_a_parked_event_and_retry_keeps_a_still_broken_one(
    http: httpx.AsyncClient, services: Services, projector: ProjectorRunner
) -> None:
    booking_id = await request_booking(http)
    await until(lambda: services.database["booking_views"].find_one({"_id": booking_id}))
    first = (await services.store.read(f"booking-{booking_id}"))[0]
    poison = {"stream_id": first.stream_id, "version": 2, "type": "TeleportedToTheMoon",
              "schema_version": 1, "data": {}, "metadata": first.metadata.as_document()
              | {"event_id": "poison-1"}}
    await services.database["events"].insert_one(poison)

    async def parked() -> bool:
        return await services.database["projection_dlq"].count_documents({}) >= 1

    await until(parked)

    listed = await travelbuddy(services, "projections", "dlq")
    retried = await travelbuddy(services, "projections", "retry")

    assert "type=TeleportedToTheMoon" in listed
    assert "UnknownEventType" in listed
    assert "still_failing=" in retried and "still_failing=0" not in retried
    dlq = services.database["projection_dlq"]
    entry = await dlq.find_one({"event.type": "TeleportedToTheMoon"})
    assert entry is not None and entry["attempts"] >= 2


async def test_status_lists_every_follower_that_saved_a_checkpoint(
    http: httpx.AsyncClient, services: Services, projector: ProjectorRunner
) -> None:
    await request_booking(http)
    await CheckpointStore(services.database).save("kafka-relay", None, None, None)

    output = await travelbuddy(services, "projections", "status")

    assert "projector=read-models" in output
    assert "projector=kafka-relay position=None" in output
    assert "lag=1" in output  # the relay's checkpoint names no event: the one event is ahead
