"""On MongoDB, a confirmation whose ObjectId sorts before its request's (another process,
the same second) is still applied after it, by a rebuild and by a first catch-up.

MongoDB only: the embedded store's positions are its commit order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from tests.integration.booking_traffic import request_booking
from tests.integration.test_stream_order import first_catch_up, other_read_models
from travelbuddy.bootstrap import Services
from travelbuddy.domain import (
    ConfirmHotelReservation,
    DecisionContext,
    decide,
    event_to_record,
    fold,
    initial_state,
    sample_catalog,
    stream_id,
)
from travelbuddy.eventstore.mongo import EVENTS, event_document
from travelbuddy.eventstore.port import EventMetadata, NewEvent
from travelbuddy.readmodels.maintenance import rebuild


def object_id(at: dt.datetime, process: bytes, counter: int) -> ObjectId:
    """The ObjectId a process with this 5-byte random makes at `at`."""
    return ObjectId(int(at.timestamp()).to_bytes(4, "big") + process + counter.to_bytes(3, "big"))


async def test_a_confirmation_whose_object_id_sorts_before_its_request_is_applied_in_order(
    services: Services, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    command = request_booking(days_ahead=25, nights=2, flight=False)
    context = DecisionContext(catalog=sample_catalog(), today=dt.date.today())
    requested = decide(command, initial_state(), context)
    reserved = decide(ConfirmHotelReservation(booking_id=command.booking_id,
                                              confirmation_code="HTL-ORDER"),
                      fold([requested]), context)
    now = dt.datetime.now(dt.UTC)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        services.settings.mongodb_url, tz_aware=True)
    try:
        events = client[services.settings.mongodb_database][EVENTS]
        # The request from an `api` process whose random is large, the confirmation in the
        # same second from an `inbound` process whose random is small.
        for version, event, process in ((1, requested, b"\xff" * 5), (2, reserved, b"\x00" * 5)):
            type_name, schema_version, data = event_to_record(event)
            document = event_document(stream_id(command.booking_id), version, NewEvent(
                type_name, schema_version, data, EventMetadata(
                    event_id=str(uuid.uuid4()), customer_id="alice",
                    recorded_at=now.replace(microsecond=0))))
            del document["metadata"]["command_id"]
            document["_id"] = object_id(now, process, version)
            await events.insert_one(document)
        by_id = [d["version"] async for d in events.find({}).sort("_id", 1)]
    finally:
        await client.close()
    assert by_id == [2, 1]  # the order that used to break the rebuild and the catch-up

    assert await rebuild("booking_views", services.read_models, services.store,
                         services.feed) == 2
    view = await services.read_models.views.get(command.booking_id)
    assert view is not None and (view["version"], view["status"]) == (2, "CONFIRMED")
    async with other_read_models(services, request, tmp_path) as fresh:
        runner = await first_catch_up(services, fresh)
        assert (runner.applied, runner.parked) == (2, 0)
        caught_up = await fresh.views.get(command.booking_id)
        assert caught_up == view
