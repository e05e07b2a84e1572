"""The service's background processes, run alone (`travelbuddy relay`, ...) or together
in one process (`travelbuddy serve`), all on the process's one bus (`Services.bus`): Kafka,
or without it the SQLite bus, whose consumer groups reach only the workers of the same
process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Coroutine
from enum import StrEnum
from typing import Any

from travelbuddy.bootstrap import Services
from travelbuddy.observability.retries import (
    WORKER_RESTART,
    Backoff,
    restart_backoff,
    restarting,
    retry_backoff,
)

CATALOG_PROJECTOR = "catalog-projector"
"""The catalog projector's lease: one replica keeps `hotels` and `flights`."""


class Worker(StrEnum):
    PROJECTOR = "projector"  # booking_views, hotel_occupancy, and the catalog from the bus
    RELAY = "relay"
    INBOUND = "inbound"
    PARTNERS = "partners"


BUS_LOOP = frozenset({Worker.RELAY, Worker.INBOUND, Worker.PARTNERS})
"""Booking events out, replies back in: on a bus not shared between processes (the SQLite
bus) these run together or not."""


WorkerRun = Callable[[], Coroutine[Any, Any, None]]


def worker_tasks(services: Services, workers: Collection[Worker]) -> list[tuple[str, WorkerRun]]:
    """Named functions that each run one worker until cancelled."""
    settings, bus = services.settings, services.bus
    loop = BUS_LOOP & set(workers)
    if not bus.shared_between_processes and loop and loop != BUS_LOOP:
        raise RuntimeError(
            "relay, inbound and partners share the embedded bus's consumer groups only within"
            " one process: run `travelbuddy serve`, or set TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS"
        )
    tasks: list[tuple[str, WorkerRun]] = []
    if Worker.PROJECTOR in workers:
        from travelbuddy.integration.catalog import run_catalog_projector

        tasks.append(("projector", lambda: services.projector().run()))
        catalog = services.read_models.catalog
        catalog_lease = services.single_active(CATALOG_PROJECTOR)
        tasks.append(("catalog", lambda: catalog_lease.run(
            lambda: run_catalog_projector(catalog, bus))))
    if Worker.RELAY in workers:
        from travelbuddy.integration.relay import Relay, relay_name

        relay = Relay(services.read_models, services.store, services.feed, bus,
                      single_active=services.single_active(relay_name(bus)),
                      health=services.health, backoff=retry_backoff(settings))
        tasks.append(("relay", relay.run))
    if Worker.INBOUND in workers:
        from travelbuddy.integration.inbound import InboundConsumer

        tasks.append(("inbound", lambda: InboundConsumer(
            bus, services.commands, health=services.health,
            backoff=retry_backoff(settings)).run()))
    if Worker.PARTNERS in workers:
        from travelbuddy.partners import run_partners

        latency, rate = settings.partner_latency, settings.partner_rejection_rate
        tasks.append(("partners", lambda: run_partners(bus, latency, rate)))
    return tasks


async def supervise(name: str, run: WorkerRun, backoff: Backoff = WORKER_RESTART) -> None:
    """Run a worker; when it fails (a broker away too long, say), start it again with
    backoff, counted in `travelbuddy_worker_restarts_total`. Every worker resumes from its
    own checkpoint or committed offsets."""
    await restarting(name, run, backoff)


async def run_workers(services: Services, workers: Collection[Worker]) -> None:
    """Run the workers, each supervised, until cancelled."""
    async with asyncio.TaskGroup() as group:
        for name, run in worker_tasks(services, workers):
            group.create_task(supervise(name, run, restart_backoff(services.settings)))


def all_workers(services: Services) -> list[Worker]:
    """What `serve` runs: everything, on Kafka or on the SQLite bus alike."""
    return list(Worker)
