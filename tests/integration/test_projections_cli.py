"""`travelbuddy projections status|rebuild|dlq|retry`, run as the real command in another
process, on the same stores the test's services use: the test MongoDB, or on the embedded
default the same SQLite files a running `serve` would use."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.integration.booking_traffic import Traffic
from tests.integration.graphql_calls import CONFIRM_HOTEL, answer, request_booking
from tests.integration.served import service_environment
from travelbuddy.bootstrap import READ_MODELS_PROJECTOR, Services
from travelbuddy.eventstore.port import NewEvent
from travelbuddy.readmodels.ports import Checkpoint, ProjectionBatch, View, ViewWrite
from travelbuddy.readmodels.runner import ProjectorRunner

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)
TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))


async def travelbuddy(services: Services, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        TRAVELBUDDY, *args, env=service_environment(services.settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    return output.decode()


async def views(services: Services, ids: list[str]) -> list[View]:
    found = await services.read_models.views.get_many(ids)
    return [found[booking_id] for booking_id in sorted(found)]


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
        return sum(int(v["version"]) for v in await views(services, ids)) == 6

    await until(projected)
    expected = await views(services, ids)
    damaged = {**expected[1], "status": "DAMAGED"}
    await services.read_models.commit(
        ProjectionBatch(views=[ViewWrite(damaged, damaged["version"])]))
    assert (await services.read_models.views.get(damaged["_id"]) or {})["status"] == "DAMAGED"

    output = await travelbuddy(services, "projections", "rebuild", "booking_views")

    assert "rebuilt booking_views from 6 events" in output
    assert await views(services, ids) == expected


async def test_status_reports_no_lag_once_the_projector_saved_its_checkpoint(
    http: httpx.AsyncClient, services: Services, projector: ProjectorRunner
) -> None:
    booking_id = await request_booking(http)

    async def checkpointed() -> bool:
        saved = await services.read_models.checkpoints.load(READ_MODELS_PROJECTOR)
        return saved is not None and saved.position is not None and (
            await services.read_models.views.get(booking_id) is not None)

    await until(checkpointed)

    output = await travelbuddy(services, "projections", "status")

    assert "projector=read-models caught_up=true" in output
    assert "lag=0 " in output


async def test_dlq_lists_a_parked_event_and_retry_keeps_a_still_broken_one(
    http: httpx.AsyncClient, services: Services, projector: ProjectorRunner
) -> None:
    booking_id = await request_booking(http)
    await until(lambda: services.read_models.views.get(booking_id))
    first = (await services.store.read(f"booking-{booking_id}"))[0]
    metadata = first.metadata.__class__(**{**first.metadata.__dict__,
                                          "event_id": str(uuid.uuid4()), "command_id": None})
    await services.store.append(first.stream_id, 1,
                                [NewEvent("TeleportedToTheMoon", 1, {}, metadata)])

    async def parked() -> bool:
        return len(await services.read_models.parked.list()) >= 2  # both projections

    await until(parked)

    listed = await travelbuddy(services, "projections", "dlq")
    retried = await travelbuddy(services, "projections", "retry")

    assert "type=TeleportedToTheMoon" in listed
    assert "UnknownEventType" in listed
    assert "2 parked" in listed
    assert "applied=0 still_failing=2" in retried
    entries = await services.read_models.parked.list()
    assert [entry.attempts for entry in entries] == [2, 2]


async def test_status_lists_every_follower_that_saved_a_checkpoint(
    http: httpx.AsyncClient, services: Services, projector: ProjectorRunner
) -> None:
    await request_booking(http)
    await services.read_models.checkpoints.save(
        Checkpoint("kafka-relay", None, None, None, dt.datetime.now(dt.UTC)))

    output = await travelbuddy(services, "projections", "status")

    assert "projector=read-models" in output
    assert "projector=kafka-relay caught_up=true position=None" in output
    assert "lag=1 " in output  # the relay's checkpoint names no event: the one event is ahead


async def test_status_during_a_first_catch_up_says_so_and_counts_what_is_left(
    services: Services,
) -> None:
    traffic = Traffic(services)
    for _ in range(3):
        await traffic.request()
    await services.read_models.checkpoints.save(Checkpoint(
        READ_MODELS_PROJECTOR, None, None, None, dt.datetime.now(dt.UTC),
        caught_up=False, applied=1))

    output = await travelbuddy(services, "projections", "status")

    assert "projector=read-models caught_up=false" in output
    assert "lag=2 " in output
