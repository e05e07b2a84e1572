"""Retries and restarts leave a count: a publish refused while the broker is away is
tried again until it is back (`travelbuddy_retries_total`), and a worker that crashes is
started again by its supervisor (`travelbuddy_worker_restarts_total`). On a broker of
this module's own, stopped and started again; the event store on the test MongoDB."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.integration.buses import kafka_bus
from tests.integration.test_inbound_consumer import until
from tests.integration.test_relay import book, stop, stored_event_ids
from tests.logged import events
from tests.services.testbed import KafkaTestServer
from travelbuddy.bootstrap import Services
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.relay import Relay
from travelbuddy.integration.topics import BOOKINGS
from travelbuddy.observability.retries import Backoff
from travelbuddy.workers import supervise

SHORT = Backoff(initial=0.05, maximum=0.5, jitter=0.05)
"""The service's policy with shorter waits, so an outage's retries come quickly."""
OUTAGE_SECONDS = 60.0


def counted(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def logged(caplog: pytest.LogCaptureFixture, level: int, name: str, **fields: str
           ) -> list[dict[str, Any]]:
    """The retry events of this test at `level` named `name` that carry `fields`."""
    return [event for event in events(record for record in caplog.records
                                      if record.name == "travelbuddy.observability.retries"
                                      and record.levelno == level)
            if event["event"] == name and fields.items() <= event.items()]


@contextlib.asynccontextmanager
async def broker_stopped(kafka: KafkaTestServer) -> AsyncIterator[None]:
    """The broker stopped (SIGTERM, as an operator stops it), started again on exit."""
    await asyncio.to_thread(kafka.stop)
    try:
        yield
    finally:
        await asyncio.to_thread(kafka.start)  # the same port and log folder


async def published_ids(bus: KafkaBus, bookings: set[str]) -> list[str]:
    """The event id of every message of `bookings` on the bookings topic, to its end."""
    async with bus.read_to_end(BOOKINGS) as backlog:
        return [json.loads(message.value or b"")["id"] async for message in backlog
                if (message.key or b"").decode() in bookings]


async def test_a_publish_refused_while_the_broker_is_away_is_retried_and_arrives_once(
    services: Services, private_kafka: KafkaTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    retries = counted("travelbuddy_retries_total", operation="relay_publish")
    async with kafka_bus(private_kafka.bootstrap_servers) as bus:
        bookings = {await book(services)}
        relay = Relay(services.read_models, services.store, services.feed, bus, backoff=SHORT)
        task = asyncio.create_task(relay.run())
        try:
            await until(lambda: relay.published == 2, task)
            async with broker_stopped(private_kafka):
                bookings.add(await book(services))
                await until(lambda: counted("travelbuddy_retries_total",
                                            operation="relay_publish") >= retries + 3,
                            task, seconds=OUTAGE_SECONDS)
                assert relay.published == 2
            await until(lambda: relay.published == 4, task, seconds=OUTAGE_SECONDS)
        finally:
            await stop(task)
        published = await published_ids(bus, bookings)

    assert sorted(published) == sorted(await stored_event_ids(services))
    assert len(published) == len(set(published)) == 4  # each event once
    lines = logged(caplog, logging.WARNING, "retry", operation="relay_publish")
    assert len(lines) == counted("travelbuddy_retries_total", operation="relay_publish") - retries


async def test_the_supervisor_starts_a_crashed_worker_again_until_it_runs(
    services: Services, private_kafka: KafkaTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    bookings = {await book(services)}
    async with kafka_bus(private_kafka.bootstrap_servers) as bus:
        relay = Relay(services.read_models, services.store, services.feed, bus)
        restarts = counted("travelbuddy_worker_restarts_total", worker="relay")
        supervised: asyncio.Task[None] | None = None
        try:
            async with broker_stopped(private_kafka):
                # The relay's first step (its topics) fails at once without a broker.
                supervised = asyncio.create_task(supervise("relay", relay.run, SHORT))
                await until(lambda: counted("travelbuddy_worker_restarts_total",
                                            worker="relay") >= restarts + 2,
                            supervised, seconds=OUTAGE_SECONDS)
                assert relay.published == 0
            await until(lambda: relay.published == 2, supervised, seconds=OUTAGE_SECONDS)
        finally:
            if supervised is not None:
                await stop(supervised)
        published = await published_ids(bus, bookings)

    assert sorted(published) == sorted(await stored_event_ids(services))
    lines = logged(caplog, logging.ERROR, "worker_failed", worker="relay")
    assert len(lines) == counted("travelbuddy_worker_restarts_total", worker="relay") - restarts
