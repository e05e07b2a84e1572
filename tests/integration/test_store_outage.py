"""MongoDB away: requests are answered fast with UNAVAILABLE and `retryable: true`, never
INTERNAL, and a command retried with its command id once the store is back is applied once."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth import bearer
from tests.integration.graphql_calls import trip_input
from tests.services.testbed import MongoTestServer
from travelbuddy.app import create_app
from travelbuddy.bootstrap import build_services
from travelbuddy.config import Settings

TIMEOUT = 1.0
REQUEST = """
mutation ($input: RequestBookingInput!, $commandId: ID) {
  requestBooking(input: $input, commandId: $commandId) {
    __typename ... on CommandAccepted { bookingId version }
  }
}"""
BOOKING = 'query ($id: ID!) { booking(id: $id) { id version } }'


async def post(http: httpx.AsyncClient, path: str, query: str,
               variables: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    response = await http.post(path, json={"query": query, "variables": variables},
                               headers=bearer("alice"))
    assert response.status_code == 200, response.text
    return response.json(), time.monotonic() - started


async def test_a_store_outage_is_answered_fast_and_retryable_and_the_retry_lands_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = MongoTestServer(tmp_path, data_file=tmp_path / "mongo.mv")
    server.start()
    services = await build_services(Settings(
        mongodb_url=server.url, mongodb_database="outage", kafka_bootstrap_servers=None,
        mongodb_timeout_seconds=TIMEOUT))
    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app)
    request = {"input": trip_input(), "commandId": str(uuid.uuid4())}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as http:
            server.stop()
            caplog.set_level(logging.INFO)
            refused, command_took = await post(http, "/graphql/command", REQUEST, request)
            unread, query_took = await post(http, "/graphql", BOOKING, {"id": "b-1"})

            for body in (refused, unread):
                [error] = body["errors"]
                assert error["extensions"] == {"code": "UNAVAILABLE", "retryable": True}, body
                assert "retry" in error["message"]
            assert max(command_took, query_took) < TIMEOUT + 3  # not PyMongo's 30 s
            # The service's own log (another test's Kafka clients may still be reconnecting).
            assert not [r for r in caplog.records
                        if r.levelno >= logging.ERROR and r.name.startswith("travelbuddy")]

            server.start()  # the same data file: what was stored before is there
            first, _ = await post(http, "/graphql/command", REQUEST, request)
            again, _ = await post(http, "/graphql/command", REQUEST, request)
        accepted = first["data"]["requestBooking"]
        assert accepted["__typename"] == "CommandAccepted"
        assert again["data"]["requestBooking"] == accepted  # the same command, once
        events = await services.store.read(f"booking-{accepted['bookingId']}")
        assert len(events) == 1
    finally:
        server.stop()
        await services.close()


