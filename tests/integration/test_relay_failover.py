"""Two `travelbuddy relay` processes on one store and one Kafka: exactly one publishes;
kill -9 of it, and the standby takes over within the lease's time and publishes the rest.
Only events the killed relay had not checkpointed may reach the topic twice."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.booking_traffic import Traffic, eventually
from tests.integration.kafka_reading import Record, read_until
from tests.integration.served import service_environment
from tests.logged import JSON_LOGS, json_events
from travelbuddy.bootstrap import Services
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.relay import RELAY
from travelbuddy.integration.topics import BOOKINGS
from travelbuddy.readmodels.ports import Lease

TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))
TAKEOVER_LIMIT = 10.0


def start_relay(services: Services, kafka: str, log: Path) -> subprocess.Popen[bytes]:
    env = service_environment(services.settings) | JSON_LOGS | {
        "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "TRAVELBUDDY_LEASE_TTL_SECONDS": "2", "TRAVELBUDDY_LEASE_RENEW_SECONDS": "0.5",
    }
    with log.open("wb") as output:
        return subprocess.Popen([TRAVELBUDDY, "relay"], env=env, stdout=output,
                                stderr=subprocess.STDOUT)


async def holder(services: Services) -> Lease | None:
    return await services.read_models.leases.holder(RELAY)


async def events_of(services: Services, bookings: set[str]) -> list[StoredEvent]:
    return [e async for e in services.store.read_all()
            if e.stream_id.removeprefix("booking-") in bookings]


async def on_topic(kafka: str, bookings: set[str], wanted: set[str]) -> list[Record]:
    return await read_until(
        kafka, BOOKINGS, keep=lambda r: r.key is not None and r.key.decode() in bookings,
        done=lambda kept: {json.loads(r.value)["id"] for r in kept} >= wanted, seconds=60)


async def test_kill_9_of_the_active_relay_hands_over_and_duplicates_only_the_unsaved(
    services: Services, kafka_bootstrap_servers: str, tmp_path: Path
) -> None:
    kafka = kafka_bootstrap_servers
    bus = KafkaBus(kafka)
    await bus.ensure_topics()
    await bus.close()
    traffic = Traffic(services)
    first = start_relay(services, kafka, tmp_path / "first.log")
    processes = [first]
    try:
        await eventually(lambda: holder(services), lambda lease: lease is not None, 30,
                         "the first relay takes the lease")
        second = start_relay(services, kafka, tmp_path / "second.log")
        processes.append(second)
        await eventually(lambda: asyncio.to_thread((tmp_path / "second.log").read_text),
                         lambda text: bool(json_events(text, "standing_by")), 30,
                         "the second stands by")

        before = {await traffic.lifecycle(n) for n in range(20)}
        written_before = await events_of(services, before)
        last = max(e.position for e in written_before)

        async def checkpointed() -> object:
            saved = await services.read_models.checkpoints.load(RELAY)
            return None if saved is None else saved.position

        await eventually(checkpointed, lambda at: at is not None and at >= last, 30,
                         "the first relay checkpoints every event written before the kill")
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        after = {await traffic.lifecycle(n) for n in range(20, 40)}
        taken = await eventually(
            lambda: holder(services), lambda lease: lease is not None and lease.fencing == 2,
            TAKEOVER_LIMIT + 5, "the standby takes over")
        takeover = time.monotonic() - killed_at

        everything = await events_of(services, before | after)
        records = await on_topic(kafka, before | after, {e.metadata.event_id for e in everything})
        published = collections.Counter(json.loads(r.value)["id"] for r in records)

        assert takeover <= TAKEOVER_LIMIT, f"took over after {takeover:.1f} s"
        assert taken is not None and int(taken.owner.split(":")[1]) == second.pid
        assert set(published) == {e.metadata.event_id for e in everything}
        twice = {event_id for event_id, count in published.items() if count > 1}
        assert not twice & {e.metadata.event_id for e in written_before}, \
            "an event checkpointed by the killed relay was published again"
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)
