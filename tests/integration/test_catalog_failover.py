"""Two catalog projectors, as two replicas of `travelbuddy projector` run them: only the
holder of the `catalog-projector` lease stores entries while both run, and the standby
takes over, where the active one's committed offsets left off, once the active one stops.
On MongoDB and embedded (the leases and the catalog in the read-model store)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest

from tests.integration.test_catalog import publish
from travelbuddy.bootstrap import Services
from travelbuddy.domain.sample_catalog import SAMPLE_HOTELS
from travelbuddy.integration.catalog import run_catalog_projector
from travelbuddy.integration.messages import CatalogHotel
from travelbuddy.readmodels.ports import CatalogStore
from travelbuddy.readmodels.single_active import SingleActive
from travelbuddy.workers import CATALOG_PROJECTOR

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)


class CountedCatalog:
    """The service's catalog store, counting the entries one projector stores in it."""

    def __init__(self, catalog: CatalogStore) -> None:
        self._catalog = catalog
        self.stored: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)

    async def put(self, entry: Any) -> None:
        self.stored.append(entry.id)
        await self._catalog.put(entry)


class Replica:
    """One replica's catalog projector under the catalog lease (a short one). Each in a
    consumer group of its own: then the bus would hand both every entry, and only the
    lease keeps the standby from storing them."""

    def __init__(self, services: Services, owner: str) -> None:
        self.catalog = CountedCatalog(services.read_models.catalog)
        self.lease = SingleActive(CATALOG_PROJECTOR, services.read_models.leases, owner=owner,
                                  ttl=2.0, renew_every=0.3, standby_poll=0.1)
        self.task = asyncio.create_task(self.lease.run(lambda: run_catalog_projector(
            cast(CatalogStore, self.catalog), services.bus, f"catalog-{owner}")))

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def replicas(services: Services) -> AsyncIterator[tuple[Replica, Replica]]:
    pair = Replica(services, "replica-a"), Replica(services, "replica-b")
    yield pair
    for replica in pair:
        await replica.stop()


async def until(condition: Callable[[], Awaitable[bool] | bool], seconds: float = 20) -> None:
    async def holds() -> bool:
        result = condition()
        return await result if not isinstance(result, bool) else result

    async with asyncio.timeout(seconds):
        while not await holds():  # noqa: ASYNC110 - the stores', no event to wait on
            await asyncio.sleep(0.05)


def hotel(number: int, price: int) -> CatalogHotel:
    sample = SAMPLE_HOTELS[number % len(SAMPLE_HOTELS)]
    rooms = tuple(room.model_copy(update={"nightly_price": price}) for room in sample.room_types)
    return CatalogHotel(kind="hotel", hotel=sample.model_copy(update={"room_types": rooms}))


async def priced(services: Services, number: int, price: int) -> bool:
    hotel_id = SAMPLE_HOTELS[number % len(SAMPLE_HOTELS)].id
    found = (await services.read_models.catalog.view({hotel_id}, set())).hotel(hotel_id)
    return found is not None and found.room_types[0].nightly_price == price


async def test_only_the_lease_holder_stores_entries_and_the_standby_takes_over_when_it_stops(
    services: Services, replicas: tuple[Replica, Replica],
) -> None:
    await until(lambda: any(r.lease.lease is not None for r in replicas))
    active, standby = replicas if replicas[0].lease.lease is not None else replicas[::-1]
    first_fencing = active.lease.fencing
    assert first_fencing is not None

    await publish(services.bus, *(hotel(n, 10_000 + n) for n in range(3)))
    await until(lambda: priced(services, 2, 10_002))
    stored_by_active, stored_by_standby = list(active.catalog.stored), len(standby.catalog.stored)
    await active.stop()
    await publish(services.bus, *(hotel(n, 20_000 + n) for n in range(3)))
    await until(lambda: priced(services, 2, 20_002))

    assert (len(stored_by_active), stored_by_standby) == (3, 0)  # while both ran
    assert active.catalog.stored == stored_by_active  # nothing after it stopped
    assert standby.lease.fencing == first_fencing + 1
    assert len(standby.catalog.stored) >= 3  # its group reads the topic from the start
    assert all([await priced(services, n, 20_000 + n) for n in range(3)])
