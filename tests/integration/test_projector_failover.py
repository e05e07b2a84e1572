"""Two `travelbuddy projector` processes on one store: exactly one works; kill -9 of the
active one, and the standby takes over within the lease's time and finishes the job, with
every view equal to a fold of its stream and the checkpoint carrying the new fencing
number."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.booking_traffic import (
    Traffic,
    all_events,
    eventually,
    expected_views,
    stored_views,
)
from tests.integration.served import service_environment
from tests.logged import JSON_LOGS, json_events
from travelbuddy.bootstrap import READ_MODELS_PROJECTOR, Services
from travelbuddy.readmodels.ports import Lease

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)
TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))
LEASE_TTL = 2.0
TAKEOVER_LIMIT = 10.0


def start_projector(services: Services, log: Path) -> subprocess.Popen[bytes]:
    env = service_environment(services.settings) | JSON_LOGS | {
        "TRAVELBUDDY_LEASE_TTL_SECONDS": str(LEASE_TTL),
        "TRAVELBUDDY_LEASE_RENEW_SECONDS": "0.5",
    }
    with log.open("wb") as output:
        return subprocess.Popen([TRAVELBUDDY, "projector"], env=env, stdout=output,
                                stderr=subprocess.STDOUT)


async def holder(services: Services) -> Lease | None:
    return await services.read_models.leases.holder(READ_MODELS_PROJECTOR)


def pid_of(lease: Lease) -> int:
    return int(lease.owner.split(":")[1])  # host:pid:random (worker_identity)


async def all_projected(services: Services) -> bool:
    events = await all_events(services)
    return await stored_views(services) == expected_views(events)


async def test_kill_9_of_the_active_projector_hands_over_to_the_standby(
    services: Services, tmp_path: Path
) -> None:
    traffic = Traffic(services)
    first = start_projector(services, tmp_path / "first.log")
    processes = [first]
    try:
        await eventually(lambda: holder(services), lambda lease: lease is not None, 30,
                         "the first projector takes the lease")
        second = start_projector(services, tmp_path / "second.log")
        processes.append(second)
        await eventually(lambda: asyncio.to_thread((tmp_path / "second.log").read_text),
                         lambda text: bool(json_events(text, "standing_by")), 30,
                         "the second stands by")
        await traffic.lifecycles(range(30))
        await eventually(lambda: all_projected(services), bool, 30, "the first projects")
        active = await holder(services)
        assert active is not None and pid_of(active) == first.pid and active.fencing == 1
        second_log = (tmp_path / "second.log").read_text()
        assert json_events(second_log, "projector_caught_up") == []  # the standby did no work
        assert json_events(second_log, "projector_resumed") == []

        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        await traffic.lifecycles(range(30, 60))
        taken = await eventually(
            lambda: holder(services), lambda lease: lease is not None and lease.fencing == 2,
            TAKEOVER_LIMIT + 5, "the standby takes over")
        takeover = time.monotonic() - killed_at
        await eventually(lambda: all_projected(services), bool, 30, "the standby projects")

        assert taken is not None and pid_of(taken) == second.pid
        assert takeover <= TAKEOVER_LIMIT, f"took over after {takeover:.1f} s"
        saved = await services.read_models.checkpoints.load(READ_MODELS_PROJECTOR)
        assert saved is not None and saved.fencing == 2
        assert await services.read_models.parked.count() == 0
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)
