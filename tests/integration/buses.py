"""The two adapters of the Bus port, opened for a test, and reading from them.

A test module parametrizes its `bus` fixture over BUS_KINDS with `bus_of_kind`. The Kafka
bus is on the session's test broker (started only when a Kafka case runs); the SQLite bus
is a fresh file in the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from travelbuddy.integration.bus import Bus, Message, Subscription
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.sqlite_bus import SqliteBus
from travelbuddy.integration.topics import TOPICS, TopicSpec

BUS_KINDS = ("kafka", "sqlite")
DEADLINE = 20.0


@contextlib.asynccontextmanager
async def kafka_bus(
    bootstrap_servers: str, topics: tuple[TopicSpec, ...] = TOPICS
) -> AsyncIterator[KafkaBus]:
    """A KafkaBus with its topics created, closed on exit."""
    bus = KafkaBus(bootstrap_servers, topics)
    await bus.ensure_topics()
    try:
        yield bus
    finally:
        await bus.close()


@contextlib.asynccontextmanager
async def sqlite_bus(
    path: Path, topics: tuple[TopicSpec, ...] = TOPICS
) -> AsyncIterator[SqliteBus]:
    """A SqliteBus on `path`, closed on exit."""
    bus = SqliteBus(path, topics)
    try:
        yield bus
    finally:
        await bus.close()


@contextlib.asynccontextmanager
async def bus_of_kind(
    kind: str, request: pytest.FixtureRequest, topics: tuple[TopicSpec, ...] = TOPICS
) -> AsyncIterator[Bus]:
    """"kafka": a KafkaBus on the test broker; "sqlite": a SqliteBus on a new file."""
    if kind == "sqlite":
        tmp_path: Path = request.getfixturevalue("tmp_path")
        async with sqlite_bus(tmp_path / "bus.sqlite3", topics) as bus:
            yield bus
        return
    async with kafka_bus(request.getfixturevalue("kafka_bootstrap_servers"), topics) as bus:
        yield bus


@contextlib.asynccontextmanager
async def subscribed(
    bus: Bus, topics: list[str], group_id: str | None = None, *, from_end: bool = False
) -> AsyncIterator[Subscription]:
    """A started subscription, stopped on exit."""
    subscription = bus.subscribe(topics, group_id, from_end=from_end)
    await subscription.start()
    try:
        yield subscription
    finally:
        await subscription.stop()


async def poll_until(
    subscription: Subscription,
    done: Callable[[list[Message]], bool],
    keep: Callable[[Message], bool] = lambda _: True,
    seconds: float = DEADLINE,
) -> list[Message]:
    """Poll, keeping the messages `keep` accepts, until `done(kept)`; fail at the deadline."""
    kept: list[Message] = []
    async with asyncio.timeout(seconds):
        while not done(kept):
            kept += [message for message in await subscription.poll(0.5) if keep(message)]
    return kept


async def read_until(
    bus: Bus,
    topics: list[str],
    done: Callable[[list[Message]], bool],
    keep: Callable[[Message], bool] = lambda _: True,
) -> list[Message]:
    """Read `topics` from the beginning, with no group, until `done(kept messages)`."""
    async with subscribed(bus, topics) as subscription:
        return await poll_until(subscription, done, keep)
