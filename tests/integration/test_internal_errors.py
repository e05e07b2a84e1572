"""An unexpected failure reaches the client as "Internal server error (id …)" with the same
id as the log line that holds its traceback; only debug mode shows the original message."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from collections.abc import AsyncGenerator
from dataclasses import replace
from typing import Any, NoReturn

import httpx
import pytest
import websockets

from tests.auth import bearer
from tests.integration.served import served
from tests.logged import event_of
from travelbuddy.app import create_app
from travelbuddy.application import BookingCommands, StaticCatalog
from travelbuddy.bootstrap import Services
from travelbuddy.graphql.fanout import BookingUpdates, SubscriberTooSlow
from travelbuddy.readmodels.queries import BookingQueries

SECRET = "mongodb at db-7.internal:27017 refused the connection"
CANCEL = {"query": "mutation ($input: CancelBookingInput!) { cancelBooking(input: $input) "
                   "{ __typename } }", "variables": {"input": {"bookingId": "b-1"}}}


def caller_headers(customer: str) -> dict[str, str]:
    """How a test names its caller: the one place to change when authentication changes."""
    return bearer(customer)


@pytest.fixture
def backend() -> str:
    return "embedded"


class BrokenCommands(BookingCommands):
    async def handle(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError(SECRET)


class BrokenQueries(BookingQueries):
    async def booking(self, *args: Any) -> NoReturn:
        raise RuntimeError(SECRET)



class BrokenUpdates(BookingUpdates):
    async def watch(self, *args: Any) -> AsyncGenerator[Any, None]:
        raise RuntimeError(SECRET)
        yield  # an async generator, as the real one is


async def post(services: Services, url: str, body: Any, debug: bool = False) -> httpx.Response:
    settings = services.settings.model_copy(update={"debug": debug})
    app = create_app(settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as http:
        return await http.post(url, json=body, headers=caller_headers("alice"))


def internal_error_logged(caplog: pytest.LogCaptureFixture, error_id: str) -> logging.LogRecord:
    [record] = [r for r in caplog.records if event_of(r).get("error_id") == error_id]
    return record


async def test_failed_command_answers_an_error_id_that_is_in_the_log(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    broken = replace(services, commands=BrokenCommands(services.store, StaticCatalog()))

    response = await post(broken, "/graphql/command", CANCEL)

    [error] = response.json()["errors"]
    error_id = error["extensions"]["error_id"]
    assert re.fullmatch(r"[0-9a-f]{12}", error_id)
    assert error == {"message": f"Internal server error (id {error_id})",
                     "locations": error["locations"], "path": ["cancelBooking"],
                     "extensions": {"code": "INTERNAL", "error_id": error_id}}
    assert SECRET not in response.text and "Traceback" not in response.text
    record = internal_error_logged(caplog, error_id)
    assert record.levelno == logging.ERROR
    event = event_of(record)
    assert event["event"] == "internal_error" and event["path"] == "cancelBooking"
    assert isinstance(event["exc_info"], RuntimeError) and SECRET in str(event["exc_info"])


async def test_failed_query_answers_an_error_id_that_is_in_the_log(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    broken = replace(services, queries=BrokenQueries(services.read_models))

    response = await post(broken, "/graphql", {"query": '{ booking(id: "b-1") { id } }'})

    body = response.json()
    assert body["data"] == {"booking": None}
    error_id = body["errors"][0]["extensions"]["error_id"]
    assert body["errors"][0]["message"] == f"Internal server error (id {error_id})"
    assert SECRET not in response.text
    internal_error_logged(caplog, error_id)


async def test_debug_mode_shows_the_original_message_with_its_id(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    broken = replace(services, commands=BrokenCommands(services.store, StaticCatalog()))

    response = await post(broken, "/graphql/command", CANCEL, debug=True)

    [error] = response.json()["errors"]
    assert error["message"] == SECRET
    internal_error_logged(caplog, error["extensions"]["error_id"])


async def test_failed_subscription_answers_an_error_id_that_is_in_the_log(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    broken = replace(services, updates=BrokenUpdates(services.read_models.views))
    async with (
        served(create_app(services.settings, services=broken)) as server,
        websockets.connect(
            f"ws://{server}/graphql", additional_headers=caller_headers("alice"),
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        ) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": caller_headers("alice")}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription { myBookingUpdates { id } }"}}))
        answer = await asyncio.wait_for(ws.recv(), timeout=5)

    assert SECRET not in str(answer), answer
    message = json.loads(answer)
    assert (message["type"], message["payload"]["data"]) == ("next", None), message
    [error] = message["payload"]["errors"]
    error_id = error["extensions"]["error_id"]
    assert error["message"] == f"Internal server error (id {error_id})"
    internal_error_logged(caplog, error_id)


class SlowSubscriberUpdates(BookingUpdates):
    """A fan-out that sends the current state and then ends the subscriber as too slow."""

    async def watch(self, *args: Any) -> AsyncGenerator[Any, None]:
        yield {"_id": "b-1", "customer_id": "alice", "status": "PENDING", "version": 1,
               "created_at": dt.datetime.now(dt.UTC), "updated_at": dt.datetime.now(dt.UTC)}
        raise SubscriberTooSlow()


async def test_a_subscriber_ended_for_being_slow_gets_an_error_it_can_act_on(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    slow = replace(services, updates=SlowSubscriberUpdates(services.read_models.views))
    async with (
        served(create_app(services.settings, services=slow)) as server,
        websockets.connect(
            f"ws://{server}/graphql",
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        ) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": caller_headers("alice")}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription { myBookingUpdates { id version } }"}}))
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
        ended = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))

    assert first["payload"]["data"] == {"myBookingUpdates": {"id": "b-1", "version": 1}}
    [error] = ended["payload"]["errors"]
    assert error["extensions"] == {"code": "SUBSCRIBER_TOO_SLOW"}
    assert error["message"].startswith("subscription ended: the client did not keep up")
    assert not [r for r in caplog.records  # the service's own log, not other tests' clients
                if r.levelno >= logging.ERROR and r.name.startswith("travelbuddy")]
