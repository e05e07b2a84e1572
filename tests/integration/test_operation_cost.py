"""What an operation may cost is decided in time linear in the document, before anything
else walks it: fragments that double at every level, a field repeated hundreds of times,
a list of thousands of flights are refused at once, on both endpoints and over a
websocket, and an operation within the limits still runs.

The bounds asserted here are generous (one second, for a loaded CI machine); the figures
the service reaches are measured in bench/, not asserted in tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from graphql import get_introspection_query

from tests.auth import agent_bearer, bearer
from tests.integration.graphql_calls import trip_input
from tests.integration.served import served
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services

QUERY_URL, COMMAND_URL = "/graphql", "/graphql/command"
GENEROUS_SECONDS = 1.0
Json = dict[str, Any]
OPERATIONS = Path(__file__).resolve().parents[2] / "graphql/operations"


@pytest.fixture
def backend() -> str:
    """What a document costs does not depend on the stores: the embedded default is enough."""
    return "embedded"


def doubling(levels: int, on: str, leaf: str, operation: str = "query") -> str:
    """Fragments each spreading the previous one twice: 2^(levels-1) leaves, fragments
    expanded, in a few hundred bytes."""
    fragments = [f"fragment F0 on {on} {{ {leaf} }}"] + [
        f"fragment F{i} on {on} {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels)]
    return f"{operation} {{ ...F{levels - 1} }} " + " ".join(fragments)


async def timed(http: httpx.AsyncClient, url: str, body: Json,
                headers: dict[str, str] | None = None) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await http.post(url, json=body, headers=headers or bearer("alice"))
    return response, time.perf_counter() - started


def refused(response: httpx.Response, message: str) -> None:
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert body["data"] is None, body
    assert any(message in e["message"] for e in body["errors"]), body


@pytest.mark.parametrize(("url", "on", "leaf"), [
    (QUERY_URL, "Query", "myBookings { edges { cursor } }"),
    (COMMAND_URL, "Query", "schemaVersion"),
    (COMMAND_URL, "Mutation", 'cancelBooking(input: {bookingId: "b"}) { __typename }'),
], ids=["query", "command", "command-mutation"])
async def test_thirty_levels_of_doubling_fragments_are_refused_at_once(
    http: httpx.AsyncClient, url: str, on: str, leaf: str
) -> None:
    document = doubling(30, on, leaf, "mutation" if on == "Mutation" else "query")
    assert len(document) < 2_000

    response, seconds = await timed(http, url, {"query": document})

    refused(response, "at most")
    assert seconds < GENEROUS_SECONDS


async def test_a_doubling_chain_of_fragments_no_operation_uses_is_refused_too(
    http: httpx.AsyncClient,
) -> None:
    document = "{ schemaVersion } " + doubling(30, "Query", "schemaVersion").split(" ", 4)[4]

    response, seconds = await timed(http, COMMAND_URL, {"query": document})

    refused(response, "Fragment 'F")
    assert seconds < GENEROUS_SECONDS


async def test_a_fragment_cycle_is_refused(http: httpx.AsyncClient) -> None:
    document = ("{ ...A } fragment A on Query { schemaVersion ...B } "
                "fragment B on Query { ...C } fragment C on Query { ...A }")

    response, _ = await timed(http, COMMAND_URL, {"query": document})

    refused(response, "Cannot spread fragment 'A' within itself via 'B', 'C'.")


@pytest.mark.parametrize(("copies", "message"), [
    (240, "'anonymous' selects 720 fields (fragments expanded); at most 500 are allowed"),
    (120, "'anonymous' selects 'myBookings' 120 times; at most 20 are allowed"),
])
async def test_a_field_repeated_hundreds_of_times_is_refused_at_once(
    http: httpx.AsyncClient, copies: int, message: str
) -> None:
    document = "{ " + " ".join(["myBookings { edges { cursor } }"] * copies) + " }"

    response, seconds = await timed(http, QUERY_URL, {"query": document})

    refused(response, message)
    assert seconds < GENEROUS_SECONDS


async def test_a_field_repeated_up_to_the_limit_is_answered(http: httpx.AsyncClient) -> None:
    document = "{ " + " ".join(["myBookings { edges { cursor } }"] * 20) + " }"

    response, _ = await timed(http, QUERY_URL, {"query": document})

    assert response.json() == {"data": {"myBookings": {"edges": []}}}


async def test_fields_and_repeats_follow_their_settings(client: Any) -> None:
    thirteen = "{ myBookings { edges { cursor node { id status version checkIn "
    thirteen += "createdAt updatedAt behind } } pageInfo { hasNextPage } } }"
    twice = "{ schemaVersion schemaVersion }"

    strict, lenient = client(graphql_max_fields=10, graphql_max_field_repeats=1), client()

    refused((await timed(strict, QUERY_URL, {"query": thirteen}))[0],
            "'anonymous' selects 13 fields (fragments expanded); at most 10 are allowed")
    refused((await timed(strict, COMMAND_URL, {"query": twice}))[0],
            "selects 'schemaVersion' 2 times; at most 1 are allowed")
    assert "errors" not in (await timed(lenient, QUERY_URL, {"query": thirteen}))[0].json()
    assert "errors" not in (await timed(lenient, COMMAND_URL, {"query": twice}))[0].json()


async def test_the_introspection_query_and_the_example_operations_are_within_the_limits(
    http: httpx.AsyncClient,
) -> None:
    introspection = get_introspection_query(descriptions=True, specified_by_url=True,
                                            directive_is_repeatable=True,
                                            schema_description=True,
                                            input_value_deprecation=True)

    for url in (QUERY_URL, COMMAND_URL):
        response, _ = await timed(http, url, {"query": introspection})
        assert "errors" not in response.json(), response.text[:300]
    for url, file in ((QUERY_URL, "queries.graphql"), (COMMAND_URL, "commands.graphql")):
        document = (OPERATIONS / file).read_text(encoding="utf-8")
        for name in [line.split()[1].split("(")[0] for line in document.splitlines()
                     if line.startswith(("query ", "mutation ", "subscription "))]:
            if not document.count(f"subscription {name}"):
                response, _ = await timed(http, url, {"query": document, "operationName": name,
                                                      "variables": {}})
                errors = response.json().get("errors", [])
                # Missing variables may be refused; no document is over a limit.
                assert not [e for e in errors if "at most" in e["message"]
                            or "exceeds" in e["message"]], (name, errors)


def flights(count: int) -> list[Json]:
    day = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    return [{"flightId": f"XX-{i}", "date": day, "seats": 1, "cabin": "ECONOMY"}
            for i in range(count)]


REQUEST = """mutation ($input: RequestBookingInput!) { requestBooking(input: $input) {
  __typename ... on ValidationError { problems { code path } } } }"""


async def test_thirteen_thousand_flights_are_refused_before_they_are_built(
    http: httpx.AsyncClient, services: Services
) -> None:
    request = {**trip_input(), "flights": flights(13_000)}

    response, seconds = await timed(http, COMMAND_URL, {"query": REQUEST,
                                                        "variables": {"input": request}})

    refused(response, "'$input.flights' holds 13000 items; a list of FlightInput holds at "
                      "most 4.")
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
    assert seconds < GENEROUS_SECONDS
    assert [e async for e in services.store.read_all()] == []


@pytest.mark.parametrize(("field", "items", "bound"), [
    ("flights", flights(5), 4), ("travelers", [{"name": f"T{i}"} for i in range(10)], 9)])
async def test_a_list_over_the_domains_limit_is_refused_as_a_variable_and_as_a_literal(
    http: httpx.AsyncClient, services: Services, field: str, items: list[Json], bound: int
) -> None:
    request = {**trip_input(), field: items}
    item = "FlightInput" if field == "flights" else "TravelerInput"
    literal = json.dumps(request)
    for key in ("hotelStay", "hotelId", "roomType", "checkIn", "checkOut", "guests", "flights",
                "travelers", "flightId", "date", "seats", "cabin", "name"):
        literal = literal.replace(f'"{key}":', f"{key}:")
    literal = literal.replace('"ECONOMY"', "ECONOMY")

    as_variable, _ = await timed(http, COMMAND_URL, {"query": REQUEST,
                                                     "variables": {"input": request}})
    as_literal, _ = await timed(http, COMMAND_URL, {"query": "mutation { requestBooking("
                                                    f"input: {literal}) {{ __typename }} }}"})

    refused(as_variable, f"holds {len(items)} items; a list of {item} holds at most {bound}.")
    refused(as_literal, f"A list of {item} holds at most {bound} items, not {len(items)}.")
    assert [e async for e in services.store.read_all()] == []


async def test_lists_within_the_domains_limits_reach_the_domain(
    http: httpx.AsyncClient, services: Services
) -> None:
    request = {**trip_input(), "flights": flights(4)}

    response, _ = await timed(http, COMMAND_URL, {"query": REQUEST,
                                                  "variables": {"input": request}},
                              agent_bearer())

    problems = response.json()["data"]["requestBooking"]["problems"]
    assert {p["code"] for p in problems} == {"UNKNOWN_FLIGHT"}, problems


@pytest.fixture
async def server(services: Services) -> AsyncIterator[str]:
    async with served(create_app(services.settings, services=services)) as base:
        yield base


async def subscribe_answer(server: str, document: str) -> tuple[Json, float]:
    async with websockets.connect(
            f"ws://{server}/graphql",
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": bearer("alice")}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        started = time.perf_counter()
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": document}}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        return answer, time.perf_counter() - started


async def test_thirty_levels_of_doubling_fragments_are_refused_over_a_websocket(
    server: str,
) -> None:
    document = doubling(30, "Subscription", "myBookingUpdates { id }", "subscription")

    answer, seconds = await subscribe_answer(server, document)

    assert answer["id"] == "1" and answer["type"] == "error", answer
    assert "at most" in answer["payload"][0]["message"], answer
    assert seconds < GENEROUS_SECONDS


async def test_invalid_text_in_a_subscription_variable_is_refused_over_a_websocket(
    server: str,
) -> None:
    async with websockets.connect(
            f"ws://{server}/graphql",
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": bearer("alice")}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription ($id: ID!) { bookingUpdated(bookingId: $id) { id } }",
            "variables": {"id": "\ud800"}}}))  # json.dumps escapes it: "\ud800"

        answer = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))

    errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], answer
