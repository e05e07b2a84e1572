"""`travelbuddy dlq list|replay`, run as the real command against the test Kafka."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.integration.test_inbound_consumer import (
    commit_offsets,
    end_offsets,
    groups_starting_now,
    lag_of,
    new_run,
    publish,
    running,
    until,
)
from travelbuddy.bootstrap import Services
from travelbuddy.integration.inbound import InboundConsumer
from travelbuddy.integration.topics import HOTEL_REPLIES, RESERVATIONS_DLQ

TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))


async def travelbuddy(kafka_bootstrap_servers: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        TRAVELBUDDY, *args,
        env={**os.environ, "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await process.communicate()
    assert process.returncode == 0, (output + errors).decode()
    return output.decode()


async def read_between(
    bootstrap_servers: str, start: dict[TopicPartition, int], end: dict[TopicPartition, int]
) -> list[tuple[bytes | None, bytes]]:
    """The (key, value) of every message from `start` up to `end`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        found: list[tuple[bytes | None, bytes]] = []
        remaining = {tp for tp in start if start[tp] < end[tp]}
        while remaining:
            for tp, records in (await consumer.getmany(*remaining, timeout_ms=500)).items():
                found += [(r.key, r.value) for r in records if r.offset < end[tp]]
            remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
        return found
    finally:
        await consumer.stop()


async def test_list_shows_a_parked_message_and_replay_sends_it_back_only_once(
    kafka_bootstrap_servers: str, services: Services
) -> None:
    run, group = new_run()
    replay_group = f"dlq-replay-{run}"
    await groups_starting_now(kafka_bootstrap_servers, group)
    # The DLQ is shared by the session: this replay group starts after what is in it now.
    dlq_end = await end_offsets(kafka_bootstrap_servers, [RESERVATIONS_DLQ])
    await commit_offsets(kafka_bootstrap_servers, replay_group, dlq_end)
    key, value = f"{run}-poison".encode(), f"no JSON here {run}".encode()
    await publish(kafka_bootstrap_servers, [(HOTEL_REPLIES, key, value)])
    consumer = InboundConsumer(kafka_bootstrap_servers, services.commands, group_id=group)
    async with lag_of(kafka_bootstrap_servers, group) as lag, running(consumer) as task:
        await until(lag.is_zero, task)
    assert consumer.dead_lettered == 1

    listed = await travelbuddy(kafka_bootstrap_servers, "dlq", "list")

    [line] = [line for line in listed.splitlines() if f"key='{run}-poison'" in line]
    assert f"source={HOTEL_REPLIES}/" in line
    assert "error_type=invalid_json" in line
    assert "not JSON: Expecting value" in line
    assert listed.rstrip().splitlines()[-1].endswith(" dead letters")

    before = await end_offsets(kafka_bootstrap_servers, [HOTEL_REPLIES])
    replayed = await travelbuddy(kafka_bootstrap_servers, "dlq", "replay", "--group", replay_group)
    after = await end_offsets(kafka_bootstrap_servers, [HOTEL_REPLIES])
    again = await travelbuddy(kafka_bootstrap_servers, "dlq", "replay", "--group", replay_group)

    assert "replayed 1 dead letters" in replayed
    assert await read_between(kafka_bootstrap_servers, before, after) == [(key, value)]
    assert "replayed 0 dead letters" in again
    assert await end_offsets(kafka_bootstrap_servers, [HOTEL_REPLIES]) == after
