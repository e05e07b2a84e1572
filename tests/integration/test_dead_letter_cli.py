"""`travelbuddy dlq list|replay`, run as the real command against the test Kafka; and
the same listing and replay as functions, on Kafka and on the in-process bus."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.buses import BUS_KINDS, bus_of_kind, kafka_bus
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
from travelbuddy.integration.bus import Bus, TopicPartition
from travelbuddy.integration.dead_letters import read_dead_letters, replay_dead_letters
from travelbuddy.integration.inbound import InboundConsumer
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.topics import HOTEL_REPLIES, RESERVATIONS_DLQ

TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))


@pytest.fixture
async def bus(kafka_bootstrap_servers: str) -> AsyncIterator[KafkaBus]:
    async with kafka_bus(kafka_bootstrap_servers) as opened:
        yield opened


@pytest.fixture(params=BUS_KINDS)
async def either_bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    async with bus_of_kind(request.param, request) as opened:
        yield opened


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
    bus: Bus, start: dict[TopicPartition, int], end: dict[TopicPartition, int]
) -> list[tuple[bytes | None, bytes | None]]:
    """The (key, value) of every message from `start` up to `end`."""
    group = f"read-between-{uuid.uuid4().hex[:10]}"
    await bus.reset_offsets(group, start)
    found: list[tuple[bytes | None, bytes | None]] = []
    for topic in sorted({tp.topic for tp in start}):
        async with bus.read_to_end(topic, group) as backlog:
            found += [(m.key, m.value) async for m in backlog if m.offset < end[m.topic_partition]]
    return found


async def test_list_shows_a_parked_message_and_replay_sends_it_back_only_once(
    kafka_bootstrap_servers: str, bus: KafkaBus, services: Services
) -> None:
    run, group = new_run()
    replay_group = f"dlq-replay-{run}"
    await groups_starting_now(bus, group)
    # The DLQ is shared by the session: this replay group starts after what is in it now.
    dlq_end = await end_offsets(bus, [RESERVATIONS_DLQ])
    await commit_offsets(bus, replay_group, dlq_end)
    key, value = f"{run}-poison".encode(), f"no JSON here {run}".encode()
    await publish(bus, [(HOTEL_REPLIES, key, value)])
    consumer = InboundConsumer(bus, services.commands, group_id=group)
    async with lag_of(bus, group) as lag, running(consumer) as task:
        await until(lag.is_zero, task)
    assert consumer.dead_lettered == 1

    listed = await travelbuddy(kafka_bootstrap_servers, "dlq", "list")

    [line] = [line for line in listed.splitlines() if f"key='{run}-poison'" in line]
    assert f"source={HOTEL_REPLIES}/" in line
    assert "error_type=invalid_json" in line
    assert "not JSON: Expecting value" in line
    assert listed.rstrip().splitlines()[-1].endswith(" dead letters")

    before = await end_offsets(bus, [HOTEL_REPLIES])
    replayed = await travelbuddy(kafka_bootstrap_servers, "dlq", "replay", "--group", replay_group)
    after = await end_offsets(bus, [HOTEL_REPLIES])
    again = await travelbuddy(kafka_bootstrap_servers, "dlq", "replay", "--group", replay_group)

    assert "replayed 1 dead letters" in replayed
    assert await read_between(bus, before, after) == [(key, value)]
    assert "replayed 0 dead letters" in again
    assert await end_offsets(bus, [HOTEL_REPLIES]) == after


async def test_a_parked_reply_is_listed_and_replayed_once_on_either_bus(
    either_bus: Bus, services: Services
) -> None:
    bus = either_bus
    run, group = new_run()
    replay_group = f"dlq-replay-{run}"
    await groups_starting_now(bus, group)
    await commit_offsets(bus, replay_group, await end_offsets(bus, [RESERVATIONS_DLQ]))
    key, value = f"{run}-poison".encode(), b'{"type": "hotel.reserved"'
    await publish(bus, [(HOTEL_REPLIES, key, value)])
    consumer = InboundConsumer(bus, services.commands, group_id=group)
    async with lag_of(bus, group) as lag, running(consumer) as task:
        await until(lag.is_zero, task)

    [letter] = [letter for letter in await read_dead_letters(bus) if letter.key == key]
    before = await end_offsets(bus, [HOTEL_REPLIES])
    replayed = await replay_dead_letters(bus, replay_group)
    after = await end_offsets(bus, [HOTEL_REPLIES])
    again = await replay_dead_letters(bus, replay_group)

    assert (letter.value, letter.error_type, letter.source_topic) == (
        value, "invalid_json", HOTEL_REPLIES)
    assert (replayed, again) == (1, 0)
    assert await read_between(bus, before, after) == [(key, value)]
