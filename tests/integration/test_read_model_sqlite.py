"""What the embedded read-model store promises beyond the port's contract: a batch is one
transaction, a rebuild leaves the schema as `setup()` makes it, values round-trip exactly,
and the change feed also follows a writer in another process."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_read_model_contract import (
    a_checkpoint,
    a_hold,
    a_view,
    an_event,
    commit,
    following,
    rooms,
    stop,
    written_until,
)
from travelbuddy.readmodels import sqlite as sqlite_adapter
from travelbuddy.readmodels.ports import (
    BOOKING_VIEWS,
    HOTEL_OCCUPANCY,
    RESYNC,
    HoldWrite,
    ProjectionBatch,
    Resync,
    View,
    ViewWrite,
)
from travelbuddy.readmodels.sqlite import SqliteReadModels

JST = dt.timezone(dt.timedelta(hours=9))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteReadModels]:
    embedded = SqliteReadModels(tmp_path / "data" / "readmodels.sqlite3")
    await embedded.setup()
    yield embedded
    await embedded.close()


def schema(path: Path) -> list[tuple[str, str, str, str | None]]:
    with sqlite3.connect(path) as connection:
        return sorted(connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall())


async def test_commit_that_fails_midway_leaves_neither_views_nor_checkpoint(
    store: SqliteReadModels,
) -> None:
    batch = ProjectionBatch(
        views=[ViewWrite(a_view("b1"), None)],
        holds=[HoldWrite(a_hold("b1", 1, "hotel-1", "2026-06-01"), None)],
        checkpoint=a_checkpoint(resume_token=object()))  # not JSON: fails after the views
    batch.park(BOOKING_VIEWS, an_event("booking-b2", 2), "ValueError: no")

    with pytest.raises(TypeError):
        await store.commit(batch)

    assert await store.views.get("b1") is None
    assert await store.occupancy.holds(["b1"]) == {}
    assert await rooms(store) == []
    assert await store.parked.count() == 0
    assert await store.checkpoints.load("booking_views") is None
    await store.commit(replace(batch, checkpoint=a_checkpoint()))  # nothing left half-open
    assert await store.views.get("b1") == a_view("b1")
    assert await store.checkpoints.load("booking_views") == a_checkpoint()


async def test_schema_after_rebuilds_is_the_schema_setup_makes(
    store: SqliteReadModels, tmp_path: Path,
) -> None:
    made_by_setup = schema(store.path)
    for _ in range(2):
        for projection in (BOOKING_VIEWS, HOTEL_OCCUPANCY):
            fresh = await store.fresh(projection)
            await commit(fresh, ViewWrite(a_view("b1"), None),
                         HoldWrite(a_hold("b1", 1, "hotel-1", "2026-06-01"), None))
            await store.swap_in(fresh, projection)

    assert schema(store.path) == made_by_setup
    await store.setup()
    assert schema(store.path) == made_by_setup
    other = SqliteReadModels(tmp_path / "other.sqlite3")
    await other.setup()
    await other.close()
    assert schema(tmp_path / "other.sqlite3") == made_by_setup


async def test_the_file_is_a_wal_journal(store: SqliteReadModels) -> None:
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_view_datetimes_come_back_as_the_datetimes_written(
    store: SqliteReadModels,
) -> None:
    at = dt.datetime(2026, 5, 1, 18, 30, 15, 123456, tzinfo=JST)
    view = a_view("b1", 2) | {"created_at": at, "updated_at": at + dt.timedelta(microseconds=1)}
    view["history"][1]["at"] = at

    await commit(store, ViewWrite(view, None))
    stored = await store.views.get("b1")

    assert stored == view
    assert stored is not None
    assert stored["created_at"].utcoffset() == dt.timedelta(hours=9)
    assert isinstance(stored["history"][0]["at"], dt.datetime)


async def test_naive_datetime_comes_back_as_utc(store: SqliteReadModels) -> None:
    await commit(store, ViewWrite(a_view("b1") | {"created_at": dt.datetime(2026, 5, 1)}, None))

    stored = await store.views.get("b1")

    assert stored is not None
    assert stored["created_at"] == dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


async def test_parked_event_round_trips_with_its_position(store: SqliteReadModels) -> None:
    event = replace(an_event("booking-b1", 3), position=17)
    event = replace(event, metadata=replace(
        event.metadata, command_id="cmd-1", causation_id="cause-1", issued_by="partner-api",
        recorded_at=dt.datetime(2026, 5, 1, 18, 0, 0, 654321, tzinfo=JST)))
    batch = ProjectionBatch()
    batch.park(HOTEL_OCCUPANCY, event, KeyError("hotel_id"))
    await store.commit(batch)

    [entry] = await store.parked.list(HOTEL_OCCUPANCY)

    assert entry.event == event
    assert entry.event.position == 17
    assert entry.event.metadata.recorded_at.utcoffset() == dt.timedelta(hours=9)
    assert entry.error == "KeyError: 'hotel_id'"


async def test_change_feed_resyncs_once_the_views_are_swapped_in(
    store: SqliteReadModels,
) -> None:
    changes = store.views.changes()
    try:
        await following(store, changes)
        fresh = await store.fresh(BOOKING_VIEWS)
        await commit(fresh, ViewWrite(a_view("rebuilt"), None))
        await store.swap_in(fresh, BOOKING_VIEWS)

        async def until_resync() -> None:
            while await anext(changes) is not RESYNC:
                pass

        await asyncio.wait_for(until_resync(), timeout=10)
        # The readers read the swapped-in views now; the feed goes on from there.
        await commit(store, ViewWrite(a_view("after-swap"), None))
        seen = await written_until(changes, "after-swap")
        assert [view["booking_id"] for view in seen] == ["after-swap"]
    finally:
        await stop(changes)


async def idle_step(changes: AsyncIterator[list[View] | Resync]) -> asyncio.Future[Any]:
    """The next step of a feed that has yielded everything written so far: it waits for
    a write (read whatever is still coming until nothing comes for a moment)."""
    while True:
        step = asyncio.ensure_future(anext(changes))
        done, _ = await asyncio.wait({step}, timeout=0.3)
        if not done:
            return step


async def test_change_feed_wakes_on_a_commit_in_this_process(
    store: SqliteReadModels, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sqlite_adapter, "POLL_SECONDS", 60.0)  # only the signal can wake it
    changes = store.views.changes()
    try:
        await following(store, changes)
        step = await idle_step(changes)

        await commit(store, ViewWrite(a_view("b1"), None))

        assert await asyncio.wait_for(step, timeout=10) == [a_view("b1")]
    finally:
        await stop(changes)


async def test_change_feed_follows_a_writer_in_another_process(
    store: SqliteReadModels,
) -> None:
    # Another store on the file stands for the CLI: no in-process signal reaches the feed.
    cli = SqliteReadModels(store.path)
    changes = store.views.changes()
    try:
        await following(store, changes)
        step = await idle_step(changes)

        await commit(cli, ViewWrite(a_view("from-the-cli"), None))

        assert await asyncio.wait_for(step, timeout=5 * sqlite_adapter.POLL_SECONDS) == [
            a_view("from-the-cli")]
        step = await idle_step(changes)
        await cli.swap_in(await cli.fresh(BOOKING_VIEWS), BOOKING_VIEWS)
        assert await asyncio.wait_for(step, timeout=5 * sqlite_adapter.POLL_SECONDS) is RESYNC
    finally:
        await stop(changes)
        await cli.close()


async def test_swap_in_takes_only_a_fresh_store_of_that_projection(
    store: SqliteReadModels,
) -> None:
    fresh = await store.fresh(HOTEL_OCCUPANCY)

    with pytest.raises(ValueError):
        await store.swap_in(fresh, BOOKING_VIEWS)
    with pytest.raises(ValueError):
        await store.swap_in(store, HOTEL_OCCUPANCY)
    with pytest.raises(ValueError):
        await store.swap_in(fresh, "hotels")


async def test_closing_a_fresh_store_never_swapped_in_drops_its_tables(
    store: SqliteReadModels,
) -> None:
    made_by_setup = schema(store.path)
    fresh = await store.fresh(BOOKING_VIEWS)
    await commit(fresh, ViewWrite(a_view("b1"), None))
    assert schema(store.path) != made_by_setup

    await fresh.close()

    assert schema(store.path) == made_by_setup
    assert await store.views.count() == 0  # the live store's connection is still open
