"""Stores written before events kept their stream's owner and before command keys were
length-prefixed are migrated at start-up, on MongoDB and embedded: a command handled then
and sent again now is answered as a replay, and the owner reads the booking as before."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from tests.integration.booking_traffic import request_booking
from travelbuddy.application import Caller, CommandContext
from travelbuddy.bootstrap import EVENTS_FILE, Services, build_services
from travelbuddy.domain import ConfirmHotelReservation
from travelbuddy.eventstore.mongo import EVENTS, MIGRATIONS, MongoEventStore

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)
ALICE, BOB = Caller("alice"), Caller("bob")
HOTEL = Caller.system("hotel-partner")


def old_command_key(command_id: str, issued_by: str | None) -> str:
    """The key the stores wrote before it was length-prefixed."""
    return f"{issued_by or ''}\x1f{command_id}"


async def age_sqlite(services: Services) -> None:
    """Make the events file what the service wrote before: no owner column, old keys."""
    with sqlite3.connect(services.settings.data_dir / EVENTS_FILE) as connection:
        for position, metadata in connection.execute(
                "SELECT position, json(metadata) FROM events").fetchall():
            fields = json.loads(metadata)
            if fields.get("command_id") is not None:
                connection.execute("UPDATE events SET command_key = ? WHERE position = ?", (
                    old_command_key(fields["command_id"], fields["issued_by"]), position))
        connection.execute("DROP INDEX events_by_owner")
        connection.execute("ALTER TABLE events DROP COLUMN owner")
        connection.execute("PRAGMA user_version = 0")


async def age_mongo(services: Services, mongodb_url: str) -> None:
    """Make `events` what the service stored before: no owner field, old keys."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    database = client[services.settings.mongodb_database]
    async for document in database[EVENTS].find({}):
        metadata = document["metadata"]
        change: dict[str, Any] = {"$unset": {"owner": ""}}
        if metadata.get("command_id") is not None:
            change["$set"] = {"metadata.command_key": old_command_key(
                metadata["command_id"], metadata["issued_by"])}
        await database[EVENTS].update_one({"_id": document["_id"]}, change)
    await database[MIGRATIONS].delete_many({})
    await client.close()


@pytest.fixture
async def aged(services: Services, backend: str, request: pytest.FixtureRequest
               ) -> AsyncIterator[Any]:
    """Ages the store `services` wrote, then starts the service on it again (its start-up
    migrates); yields a function doing both and answering the new process's services."""
    started: list[Services] = []

    async def restart_on_aged_store() -> Services:
        if backend == "embedded":
            await age_sqlite(services)
        else:
            await age_mongo(services, request.getfixturevalue("mongodb_url"))
        started.append(await build_services(services.settings))
        return started[-1]

    yield restart_on_aged_store
    for opened in started:
        await opened.close()


async def test_a_command_handled_before_the_migration_is_a_replay_when_sent_again(
    services: Services, aged: Any,
) -> None:
    context = CommandContext(command_id="trip-to-kyoto")
    first = await services.commands.handle(request_booking(), ALICE, context)
    await services.commands.handle(
        ConfirmHotelReservation(booking_id=first.booking_id, confirmation_code="K-1"),
        HOTEL, CommandContext(command_id="hotel-reply-1"))
    restarted = await aged()

    again = await restarted.commands.handle(request_booking(), ALICE, context)  # a new id
    reply_again = await restarted.commands.handle(
        ConfirmHotelReservation(booking_id=first.booking_id, confirmation_code="K-1"),
        HOTEL, CommandContext(command_id="hotel-reply-1"))

    assert (again.booking_id, again.version, again.replayed) == (first.booking_id, 1, True)
    assert (reply_again.version, reply_again.replayed) == (2, True)
    assert await restarted.store.count() == 2


async def test_migrated_events_are_read_by_their_owner_only(
    services: Services, aged: Any,
) -> None:
    booked = await services.commands.handle(request_booking(), ALICE)
    await services.commands.handle(
        ConfirmHotelReservation(booking_id=booked.booking_id, confirmation_code="K-2"), HOTEL)
    restarted = await aged()
    stream = f"booking-{booked.booking_id}"

    owners_read = await restarted.store.read(stream, "alice")
    anyones_read = await restarted.store.read(stream)

    assert [e.type for e in owners_read] == ["BookingRequested", "HotelReserved"]
    assert anyones_read == owners_read
    assert await restarted.store.read(stream, "bob") == []
    assert await restarted.store.read(stream, "system:hotel-partner") == []


async def test_migrating_again_changes_nothing(
    services: Services, aged: Any, backend: str,
) -> None:
    await services.commands.handle(request_booking(), ALICE, CommandContext(command_id="c-1"))
    restarted = await aged()
    migrated = [dataclasses.asdict(e) for e in [e async for e in restarted.store.read_all()]]

    if backend == "embedded":
        again = await build_services(services.settings)  # the file says it was migrated
        await again.close()
    else:  # the migration itself run again, without the record that it was done
        store = restarted.store
        assert isinstance(store, MongoEventStore)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            services.settings.mongodb_url or "", tz_aware=True)
        await client[services.settings.mongodb_database][MIGRATIONS].delete_many({})
        await client.close()
        await store.migrate()
    after = [dataclasses.asdict(e) async for e in restarted.store.read_all()]

    assert after == migrated
    assert (await restarted.store.find_by_command("c-1", "alice")) is not None
