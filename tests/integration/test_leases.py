"""The LeaseStore port on both read-model adapters, and checkpoints fenced by it: one
holder at a time, a change of hands increments the fencing number, and a checkpoint of a
holder that lost its lease is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from tests.unit.readmodels.readmodel_trip import requested_trip
from travelbuddy.readmodels.ports import Checkpoint, LeaseLost, ProjectionBatch, ReadModelStore
from travelbuddy.readmodels.projections import BookingViews
from travelbuddy.readmodels.sqlite import SqliteReadModels

NAME = "read-models"


def checkpoint(fencing: int, position: int) -> Checkpoint:
    return Checkpoint(NAME, position, position, None, dt.datetime.now(dt.UTC), fencing=fencing)


async def expire(read_models: ReadModelStore, ttl: float) -> None:
    """Wait until a lease taken for `ttl` seconds has run out (by the store's own record)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        held = await read_models.leases.holder(NAME)
        if held is None or held.expires_at <= dt.datetime.now(dt.UTC):
            return
        assert asyncio.get_running_loop().time() < deadline, "the lease never ran out"
        await asyncio.sleep(ttl / 4)


async def test_one_holder_at_a_time_and_its_own_acquire_renews(
    read_models: ReadModelStore,
) -> None:
    first = await read_models.leases.acquire(NAME, "a", ttl=30)
    again = await read_models.leases.acquire(NAME, "a", ttl=60)
    other = await read_models.leases.acquire(NAME, "b", ttl=30)

    assert first is not None and (first.owner, first.fencing) == ("a", 1)
    assert again is not None and again.fencing == 1 and again.expires_at > first.expires_at
    assert other is None
    holder = await read_models.leases.holder(NAME)
    assert holder is not None and (holder.owner, holder.fencing) == ("a", 1)


async def test_an_expired_lease_changes_hands_with_the_next_fencing_number(
    read_models: ReadModelStore,
) -> None:
    first = await read_models.leases.acquire(NAME, "a", ttl=0.3)
    assert first is not None
    await expire(read_models, 0.3)

    taken = await read_models.leases.acquire(NAME, "b", ttl=30)

    assert taken is not None and (taken.owner, taken.fencing) == ("b", 2)
    assert await read_models.leases.renew(first, ttl=30) is None  # the old holder lost it
    await read_models.leases.release(first)  # and cannot give away what is not its
    holder = await read_models.leases.holder(NAME)
    assert holder is not None and (holder.owner, holder.fencing) == ("b", 2)
    assert holder.expires_at > dt.datetime.now(dt.UTC)


async def test_a_released_lease_is_taken_at_once(read_models: ReadModelStore) -> None:
    first = await read_models.leases.acquire(NAME, "a", ttl=30)
    assert first is not None
    await read_models.leases.release(first)

    taken = await read_models.leases.acquire(NAME, "b", ttl=30)

    assert taken is not None and taken.fencing == 2


async def test_of_many_racing_owners_exactly_one_gets_the_lease(
    read_models: ReadModelStore,
) -> None:
    results = await asyncio.gather(*(read_models.leases.acquire(NAME, f"owner-{n}", ttl=30)
                                     for n in range(12)))

    assert len([lease for lease in results if lease is not None]) == 1


async def test_a_checkpoint_of_a_holder_that_lost_its_lease_is_refused(
    read_models: ReadModelStore,
) -> None:
    old = await read_models.leases.acquire(NAME, "a", ttl=0.3)
    assert old is not None
    await read_models.commit(ProjectionBatch(checkpoint=checkpoint(old.fencing, 10)))
    await expire(read_models, 0.3)
    new = await read_models.leases.acquire(NAME, "b", ttl=30)
    assert new is not None
    await read_models.commit(ProjectionBatch(checkpoint=checkpoint(new.fencing, 12)))

    with pytest.raises(LeaseLost):
        await read_models.commit(ProjectionBatch(checkpoint=checkpoint(old.fencing, 20)))

    stored = await read_models.checkpoints.load(NAME)
    assert stored is not None and (stored.position, stored.fencing) == (12, 2)


async def test_on_sqlite_a_refused_batch_writes_none_of_its_views(tmp_path: Path) -> None:
    read_models = SqliteReadModels(tmp_path / "readmodels.sqlite3")
    await read_models.setup()
    try:
        old = await read_models.leases.acquire(NAME, "a", ttl=0.3)
        assert old is not None
        await expire(read_models, 0.3)
        assert await read_models.leases.acquire(NAME, "b", ttl=30) is not None
        trip = requested_trip()
        batch = ProjectionBatch(checkpoint=checkpoint(old.fencing, 1))
        await BookingViews(read_models).apply(trip.stored, batch)
        assert batch.views  # the stale holder would write a view

        with pytest.raises(LeaseLost):
            await read_models.commit(batch)

        assert await read_models.views.get(trip.booking_id) is None  # all or nothing
    finally:
        await read_models.close()
