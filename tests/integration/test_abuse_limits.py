"""The GraphQL abuse limits: each one refuses the request with a clear answer, never a 500,
and each one follows its setting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from tests.auth import bearer
from tests.integration.served import served
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services

QUERY_URL, COMMAND_URL = "/graphql", "/graphql/command"
Json = dict[str, Any]


def caller_headers(customer: str) -> dict[str, str]:
    """How a test names its caller: the one place to change when authentication changes."""
    return bearer(customer)


@pytest.fixture
def backend() -> str:
    """The limits do not depend on the stores: the embedded default is enough."""
    return "embedded"


async def ask(http: httpx.AsyncClient, query: str, url: str = QUERY_URL) -> httpx.Response:
    return await http.post(url, json={"query": query}, headers=caller_headers("alice"))


def refused(response: httpx.Response, message: str) -> None:
    assert response.status_code < 500, response.text
    errors = response.json()["errors"]
    assert any(message in e["message"] for e in errors), errors


MY_BOOKINGS = "{ myBookings { edges { node { id price { discounts { title } } } } } }"


async def test_query_deeper_than_the_limit_is_refused(client: Any) -> None:
    http = client()
    selection = "id"
    for _ in range(14):
        selection = f"hotelStay {{ {selection} }}"

    refused(await ask(http, f"{{ myBookings {{ edges {{ node {{ {selection} }} }} }} }}"),
            "exceeds maximum operation depth of 12")


async def test_depth_limit_follows_its_setting(client: Any) -> None:
    assert "errors" not in (await ask(client(), MY_BOOKINGS)).json()

    refused(await ask(client(graphql_max_depth=3), MY_BOOKINGS),
            "exceeds maximum operation depth of 3")


async def test_too_many_aliases_are_refused(client: Any) -> None:
    aliases = " ".join(f"a{i}: schemaVersion" for i in range(16))

    refused(await ask(client(), f"{{ {aliases} }}", COMMAND_URL), "16 aliases found. Allowed: 15")


async def test_too_many_tokens_are_refused(client: Any) -> None:
    fields = " ".join(["schemaVersion"] * 2001)

    refused(await ask(client(), f"{{ {fields} }}", COMMAND_URL), "more than 2000 tokens")
    refused(await ask(client(graphql_max_tokens=10), "{ a b c d e f g h i j k }", COMMAND_URL),
            "more than 10 tokens")


async def test_body_over_the_limit_is_refused_before_parsing(client: Any) -> None:
    http = client(graphql_max_body_bytes=1000)
    body = json.dumps({"query": "{ schemaVersion }", "variables": {"x": "y" * 1000}})

    declared = await http.post(COMMAND_URL, content=body, headers={
        **caller_headers("alice"), "Content-Type": "application/json"})

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start:start + 100].encode()

    streamed = await http.post(COMMAND_URL, content=chunks(), headers={
        **caller_headers("alice"), "Content-Type": "application/json"})

    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json() == {"detail": "The request body is over 1000 bytes"}


async def test_default_body_limit_admits_a_megabyte_of_text(client: Any) -> None:
    body = {"query": "query ($t: String!) { hotels(city: $t, checkIn: \"2031-01-01\", "
            "checkOut: \"2031-01-02\") { id } }", "variables": {"t": "x" * 1_000_000}}

    response = await client().post(QUERY_URL, json=body, headers=caller_headers("alice"))

    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"data": {"hotels": []}}


async def test_page_size_over_100_is_refused(client: Any) -> None:
    http = client()

    refused(await ask(http, "{ myBookings(first: 101) { edges { cursor } } }"),
            "first must be between 1 and 100")
    assert "errors" not in (await ask(http, "{ myBookings(first: 100) { edges { cursor } } }")
                            ).json()


INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_introspection_is_answered_by_default(client: Any) -> None:
    response = await ask(client(), INTROSPECTION)

    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_introspection_turned_off_is_refused_on_both_endpoints(client: Any) -> None:
    http = client(graphql_introspection=False)

    for url in (QUERY_URL, COMMAND_URL):
        refused(await ask(http, INTROSPECTION, url), "introspection")
    assert (await ask(http, "{ schemaVersion }", COMMAND_URL)).json() == {
        "data": {"schemaVersion": "1"}}


async def test_batch_is_refused_while_batching_is_off(client: Any) -> None:
    operation = {"query": "{ schemaVersion }"}

    response = await client().post(COMMAND_URL, json=[operation],
                                   headers=caller_headers("alice"))

    assert response.status_code == 400
    assert "Batching is not enabled" in response.text


async def test_batch_over_its_limit_is_refused(client: Any) -> None:
    http = client(graphql_max_batch=2)
    operation = {"query": "{ schemaVersion }"}

    within = await http.post(COMMAND_URL, json=[operation] * 2, headers=caller_headers("alice"))
    over = await http.post(COMMAND_URL, json=[operation] * 3, headers=caller_headers("alice"))
    not_objects = await http.post(COMMAND_URL, json=[operation, 42],
                                  headers=caller_headers("alice"))

    assert within.status_code == 200, within.text
    assert within.json() == [{"data": {"schemaVersion": "1"}}] * 2
    assert (over.status_code, "Too many operations" in over.text) == (400, True)
    assert not_objects.status_code == 400, not_objects.text


@pytest.fixture
async def limited_server(services: Services) -> AsyncIterator[str]:
    """The app with at most 2 subscriptions per connection, served on a free port."""
    settings = services.settings.model_copy(
        update={"graphql_max_subscriptions_per_connection": 2})
    async with served(create_app(settings, services=services)) as server:
        yield server


async def test_subscriptions_over_the_limit_of_a_connection_are_refused(
    limited_server: str,
) -> None:
    async with websockets.connect(f"ws://{limited_server}/graphql",
                                  subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
                                  additional_headers=caller_headers("alice")) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": caller_headers("alice")}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for n in range(3):
            await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {
                "query": "subscription { myBookingUpdates { id } }"}}))

        answer = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))

        assert answer["id"] == "2" and answer["type"] == "error", answer
        assert answer["payload"][0]["message"] == "Subscription limit reached"
