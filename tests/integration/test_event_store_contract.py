"""The EventStore contract, against both adapters: MongoDB (the test server) and SQLite."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from travelbuddy.eventstore.mongo import MongoEventStore
from travelbuddy.eventstore.port import (
    ConcurrencyError,
    DuplicateCommand,
    EventMetadata,
    EventStore,
    NewEvent,
)
from travelbuddy.eventstore.sqlite import SqliteEventStore


def new_event(type_name: str = "HotelReserved", command_id: str | None = None) -> NewEvent:
    return NewEvent(
        type=type_name,
        schema_version=1,
        data={"booking_id": "b1", "confirmation_code": "C-1"},
        metadata=EventMetadata(
            event_id=str(uuid.uuid4()),
            customer_id="alice",
            recorded_at=dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC),
            command_id=command_id,
            correlation_id="corr-1",
        ),
    )


@pytest.fixture(params=["mongodb", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    if request.param == "sqlite":
        embedded = SqliteEventStore(tmp_path / "events.sqlite3")
        yield embedded
        embedded.close()
        return
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        request.getfixturevalue("mongodb_url"), tz_aware=True)
    event_store = MongoEventStore(client[request.getfixturevalue("database_name")])
    await event_store.create_indexes()
    await event_store.create_indexes()  # idempotent: a second start-up changes nothing
    yield event_store
    await client.close()


async def test_appended_events_read_back_in_order_with_metadata(store: EventStore) -> None:
    first, second = new_event("BookingRequested"), new_event("HotelReserved")
    assert await store.append("booking-b1", 0, [first]) == 1
    assert await store.append("booking-b1", 1, [second]) == 2

    events = await store.read("booking-b1")

    assert [(e.version, e.type) for e in events] == [(1, "BookingRequested"), (2, "HotelReserved")]
    assert events[0].metadata == first.metadata
    assert events[1].data == second.data
    assert await store.read("booking-unknown") == []


async def test_a_read_for_an_owner_answers_another_owners_stream_as_an_unknown_one(
    store: EventStore,
) -> None:
    requested = new_event("BookingRequested")
    by_partner = replace(new_event("HotelReserved"), metadata=replace(
        new_event().metadata, issued_by="system:partners"))  # the booking's customer still
    await store.append("booking-b1", 0, [requested])
    await store.append("booking-b1", 1, [by_partner])

    owners = await store.read("booking-b1", "alice")

    assert [e.type for e in owners] == ["BookingRequested", "HotelReserved"]
    assert owners == await store.read("booking-b1")
    assert await store.read("booking-b1", "bob") == []
    assert await store.read("booking-b1", "system:partners") == []
    assert await store.read("booking-unknown", "alice") == []


async def test_stale_expected_version_is_rejected_and_writes_nothing(
    store: EventStore,
) -> None:
    await store.append("booking-b1", 0, [new_event()])

    with pytest.raises(ConcurrencyError):
        await store.append("booking-b1", 0, [new_event("Stale")])

    assert [e.type for e in await store.read("booking-b1")] == ["HotelReserved"]


async def test_of_fifty_concurrent_appends_at_one_version_exactly_one_wins(
    store: EventStore,
) -> None:
    await store.append("booking-b1", 0, [new_event()])

    results = await asyncio.gather(
        *(store.append("booking-b1", 1, [new_event(f"Attempt{n}")]) for n in range(50)),
        return_exceptions=True,
    )

    assert sum(1 for r in results if r == 2) == 1
    assert sum(1 for r in results if isinstance(r, ConcurrencyError)) == 49
    versions = [e.version for e in await store.read("booking-b1")]
    assert versions == [1, 2]


async def test_a_repeated_command_id_appends_once(store: EventStore) -> None:
    await store.append("booking-b1", 0, [new_event(command_id="cmd-1")])

    with pytest.raises(DuplicateCommand):
        await store.append("booking-b1", 1, [new_event(command_id="cmd-1")])

    assert len(await store.read("booking-b1")) == 1
    found = await store.find_by_command("cmd-1", None)
    assert found is not None and found.version == 1
    assert await store.find_by_command("cmd-unknown", None) is None


async def test_an_equal_command_id_from_another_sender_is_another_command(
    store: EventStore,
) -> None:
    alices, bobs = new_event(command_id="cmd-1"), new_event(command_id="cmd-1")
    alices = replace(alices, metadata=replace(alices.metadata, issued_by="alice"))
    bobs = replace(bobs, metadata=replace(bobs.metadata, issued_by="bob"))

    await store.append("booking-a", 0, [alices])
    await store.append("booking-b", 0, [bobs])

    found = await store.find_by_command("cmd-1", "bob")
    assert found is not None and found.stream_id == "booking-b"


@pytest.mark.parametrize(("first", "second"), [
    (("carol", "x\x1fy"), ("carol\x1fx", "y")),  # the old separator, in the sender or the id
    (("carol", "1:x"), ("carol1:", "x")),  # what a length prefix looks like, in either
    (("", "alice"), ("alice", "")),
])
async def test_sender_and_command_id_pairs_that_join_to_the_same_text_are_two_commands(
    store: EventStore, first: tuple[str, str], second: tuple[str, str]
) -> None:
    for stream, (sender, command_id) in (("booking-1", first), ("booking-2", second)):
        event = new_event(command_id=command_id)
        await store.append(stream, 0, [replace(event, metadata=replace(
            event.metadata, issued_by=sender))])

    for stream, (sender, command_id) in (("booking-1", first), ("booking-2", second)):
        found = await store.find_by_command(command_id, sender)
        assert found is not None and found.stream_id == stream, (sender, command_id)


async def test_read_all_yields_stream_after_stream_each_in_version_order(
    store: EventStore,
) -> None:
    for stream in ("booking-b", "booking-a", "booking-b", "booking-a", "booking-a"):
        version = len(await store.read(stream))
        await store.append(stream, version, [new_event()])

    everything = [(e.stream_id, e.version) async for e in store.read_all()]

    assert everything == [("booking-a", 1), ("booking-a", 2), ("booking-a", 3),
                          ("booking-b", 1), ("booking-b", 2)]


async def test_read_all_pages_through_more_events_than_one_page(store: EventStore) -> None:
    for n in range(1_203):
        await store.append(f"booking-{n % 7}", n // 7, [new_event()])

    everything = [(e.stream_id, e.version) async for e in store.read_all()]

    assert len(everything) == 1_203
    assert everything == sorted(everything)


async def test_oldest_recorded_at_is_the_first_event_after_a_position(store: EventStore) -> None:
    assert await store.oldest_recorded_at() is None
    first, second = new_event(), new_event()
    second = replace(second, metadata=replace(
        second.metadata, recorded_at=first.metadata.recorded_at + dt.timedelta(seconds=5)))
    await store.append("booking-a", 0, [first])
    await store.append("booking-a", 1, [second])
    events = await store.read("booking-a")

    assert await store.oldest_recorded_at() == first.metadata.recorded_at
    assert await store.oldest_recorded_at(events[0].position) == second.metadata.recorded_at
    assert await store.oldest_recorded_at(events[1].position) is None


async def test_an_events_trace_context_reads_back_and_an_event_without_one_loads(
    store: EventStore,
) -> None:
    traced = new_event("BookingRequested")
    traced = replace(traced, metadata=replace(
        traced.metadata, traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        tracestate="vendor=opaque"))
    await store.append("booking-b1", 0, [traced])
    await store.append("booking-b1", 1, [new_event("HotelReserved")])

    first, second = await store.read("booking-b1")

    assert first.metadata == traced.metadata
    assert (second.metadata.traceparent, second.metadata.tracestate) == (None, None)
