"""Followers never stop on a stored event: one they cannot handle is parked, one whose
parked record cannot be stored is parked as a minimal record, and a follower that fails
again and again on the same event makes /readyz answer 503 naming it. On MongoDB and
embedded, with the events written straight into the store, past the command side."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.integration.booking_traffic import request_booking
from travelbuddy.app import create_app
from travelbuddy.application import Caller, CommandOutcome
from travelbuddy.bootstrap import EVENTS_FILE, READ_MODELS_FILE, Services
from travelbuddy.integration.relay import Relay
from travelbuddy.workers import supervise

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)
ALICE = Caller("alice")
Document = dict[str, Any]


class Store:
    """The service's databases reached directly, as another program would write them."""

    def __init__(self, services: Services, backend: str, mongodb_url: str | None) -> None:
        self.services, self.embedded = services, backend == "embedded"
        self._client: AsyncMongoClient[Document] | None = None
        if not self.embedded:
            self._client = AsyncMongoClient(mongodb_url, tz_aware=True)
            self.database = self._client[services.settings.mongodb_database]

    def _file(self, name: str) -> sqlite3.Connection:
        return sqlite3.connect(self.services.settings.data_dir / name, isolation_level=None)

    async def event(self, stream_id: str, event_type: str, data: Any,
                    metadata: str | None = None) -> None:
        """Store version 1 of `stream_id`: `data` as given; `metadata` as raw text
        (embedded) or else the metadata of an ordinary event."""
        now = dt.datetime.now(dt.UTC)
        fields = {"event_id": str(uuid.uuid4()), "customer_id": "alice", "recorded_at": now}
        if self._client is None:
            with contextlib.closing(self._file(EVENTS_FILE)) as connection:
                connection.execute(
                    "INSERT INTO events (stream_id, version, type, schema_version, data,"
                    " metadata, owner) VALUES (?, 1, ?, 1, ?, ?, 'alice')",
                    (stream_id, event_type, json.dumps(data), metadata or json.dumps(
                        {**fields, "recorded_at": now.isoformat()})))
            return
        await self.database["events"].insert_one({
            "stream_id": stream_id, "version": 1, "type": event_type, "schema_version": 1,
            "data": data, "metadata": fields, "owner": "alice"})

    async def not_an_event(self) -> None:
        """A document (a row) that is no event at all."""
        if self._client is None:
            await self.event("booking-undecodable", "BookingRequested", {}, "not json")
        else:
            await self.database["events"].insert_one({"stream_id": "booking-x", "junk": True})

    async def refuse_parked_records(self, *, minimal_too: bool) -> None:
        """Make the read models' database refuse parked records (the minimal ones too):
        SQLite by a trigger, MongoDB by a unique index every new entry collides on."""
        if self._client is None:
            when = "" if minimal_too else "WHEN NEW.stream_id IS NOT NULL"
            with contextlib.closing(self._file(READ_MODELS_FILE)) as connection:
                connection.execute(
                    f"CREATE TRIGGER refuse_parked BEFORE INSERT ON projection_dlq {when}"
                    " BEGIN SELECT RAISE(ABORT, 'no parked records here'); END")
            return
        assert minimal_too, "MongoDB refuses a record too large by itself"
        dlq = self.database["projection_dlq"]
        await dlq.insert_one({"_id": "blocker"})
        await dlq.create_index("refused", unique=True)  # every entry lacks it, as the blocker

    async def minimal_records(self) -> list[Document]:
        """The minimal records parked in place of records that could not be stored."""
        if self._client is None:
            with contextlib.closing(self._file(READ_MODELS_FILE)) as connection:
                rows = connection.execute("SELECT document, error FROM projection_dlq"
                                          " WHERE entry_id LIKE 'malformed|minimal|%'")
                return [{**json.loads(document), "error": error} for document, error in rows]
        return [{**entry["document"], "error": entry["error"]} async for entry in
                self.database["projection_dlq"].find({"document.minimal": True})]

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


@pytest.fixture
async def store(services: Services, backend: str, request: pytest.FixtureRequest
                ) -> AsyncIterator[Store]:
    url = None if backend == "embedded" else request.getfixturevalue("mongodb_url")
    direct = Store(services, backend, url)
    yield direct
    await direct.close()


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Starts workers in the background (as `serve` supervises them); stops them after."""
    tasks: list[asyncio.Task[None]] = []

    async def start(name: str, run: Callable[[], Awaitable[None]]) -> None:
        tasks.append(asyncio.create_task(supervise(name, run)))  # type: ignore[arg-type]

    yield start
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():  # noqa: ASYNC110 - the stores', no event to wait on
            await asyncio.sleep(0.05)


async def projected(services: Services, booking: CommandOutcome) -> None:
    """Once the booking's view is there."""
    async def there() -> bool:
        return await services.read_models.views.get(booking.booking_id) is not None

    await eventually(there)


async def relayed(services: Services, relay: Relay, booking: CommandOutcome) -> bool:
    """Whether the relay's checkpoint stands at the booking's request (published)."""
    checkpoint = await services.read_models.checkpoints.load(relay.name)
    [requested] = await services.store.read(f"booking-{booking.booking_id}")
    return checkpoint is not None and checkpoint.position == requested.position


async def test_events_the_followers_cannot_handle_are_parked_and_later_events_still_arrive(
    services: Services, store: Store, running: Any,
) -> None:
    relay = Relay(services.read_models, services.store, services.feed, services.bus,
                  health=services.health)
    await running("projector", lambda: services.projector().run())
    await running("relay", relay.run)
    before = await services.commands.handle(request_booking(), ALICE)

    await eventually(lambda: relayed(services, relay, before))  # past catch-up: the feed
    await store.event("booking-list-data", "BookingRequested", [1, 2])  # data not an object
    await store.not_an_event()
    after = await services.commands.handle(request_booking(), ALICE)

    await eventually(lambda: relayed(services, relay, after))
    await projected(services, after)
    parked = {(entry.projection, entry.event.stream_id)
              for entry in await services.read_models.parked.list()}
    assert parked == {(name, "booking-list-data")
                      for name in ("booking_views", "hotel_occupancy", relay.name)}
    assert await services.read_models.parked.count() == 4  # and the document that is none
    assert await services.read_models.views.get(before.booking_id) is not None
    assert services.health.followers.failing == {}


async def test_an_event_whose_parked_record_cannot_be_stored_is_parked_as_a_minimal_record(
    services: Services, store: Store, running: Any, backend: str,
) -> None:
    await running("projector", lambda: services.projector().run())
    await projected(services, await services.commands.handle(request_booking(), ALICE))
    if backend == "embedded":
        await store.refuse_parked_records(minimal_too=False)
        unparkable = "UnknownType"
    else:  # the error quotes the type: event and error make a record over MongoDB's 16 MB
        unparkable = "T" * 8_500_000

    await store.event("booking-unparkable", unparkable, {"booking_id": "unparkable"})
    after = await services.commands.handle(request_booking(), ALICE)

    async def both_parked() -> bool:  # MongoDB writes a batch's views before what it parks
        return len(await store.minimal_records()) == 2

    await eventually(both_parked)
    await projected(services, after)
    minimal = await store.minimal_records()
    assert sorted(record["projection"] for record in minimal) == [
        "booking_views", "hotel_occupancy"]
    for record in minimal:
        assert (record["stream_id"], record["version"]) == ("booking-unparkable", 1)
        assert record["position"] not in (None, "None")
        assert "its parked record could not be stored" in record["error"]
        assert len(record["error"]) <= 500 and len(record["type"]) <= 500
    assert await services.read_models.parked.list() == []  # nothing else was parked


async def test_a_follower_failing_again_and_again_on_one_event_makes_readyz_name_it(
    services: Services, store: Store, running: Any,
) -> None:
    await store.refuse_parked_records(minimal_too=True)
    await running("projector", lambda: services.projector().run())
    await services.commands.handle(request_booking(), ALICE)
    await store.event("booking-stuck", "BookingRequested", [1, 2])
    app = create_app(services.settings, services=services)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://travelbuddy") as http:
        async def stuck() -> bool:
            return bool((await http.get("/readyz")).json()["status"] == "follower_stuck")

        await eventually(stuck, seconds=30)
        response = await http.get("/readyz")

    assert response.status_code == 503
    failure = response.json()["stuck"]["read-models"]
    assert (failure["stream_id"], failure["version"]) == ("booking-stuck", 1)
    assert failure["position"] not in (None, "None") and failure["failures"] >= 3
    stored = await services.store.read("booking-stuck")
    assert failure["position"] == str(stored[0].position)
