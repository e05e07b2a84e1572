"""What a client gets wrong is answered as something a client can read: a GraphQL error
with a client code, or a 4xx with a JSON body `{"error": ..., "reason": ...}`; never
plain text, never a 5xx, never INTERNAL, never an ERROR line in the log. A document of
several operations must say which to run; with introspection off, no error suggests
names of the schema ("Did you mean ...")."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
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


@pytest.fixture
def backend() -> str:
    """None of this depends on the stores: the embedded default is enough."""
    return "embedded"


@pytest.fixture(autouse=True)
def no_error_logged(caplog: pytest.LogCaptureFixture) -> Any:
    yield
    # The service's log: another test's Kafka clients may still be logging reconnects.
    logged = [r for r in caplog.records if (r.levelno >= logging.ERROR or r.exc_info)
              and not r.name.startswith("aiokafka")]
    assert not logged, [r.getMessage() for r in logged]


async def post(http: httpx.AsyncClient, url: str, body: Json | bytes) -> httpx.Response:
    if isinstance(body, bytes):
        return await http.post(url, content=body, headers={
            **bearer("alice"), "Content-Type": "application/json"})
    return await http.post(url, json=body, headers=bearer("alice"))


def json_refusal(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json", response.headers
    body = response.json()
    assert set(body) == {"error", "reason"}, body
    assert reason in body["reason"], body


def client_error(response: httpx.Response, message: str, code: str | None = None) -> None:
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert body["data"] is None, body
    [error] = body["errors"]
    assert message in error["message"], error
    assert error.get("extensions", {}).get("code") == code, error


# --- several operations ---


TWO_OPERATIONS = "query First { __typename } query Second { __typename }"


@pytest.mark.parametrize("url", [QUERY_URL, COMMAND_URL])
async def test_several_operations_without_an_operation_name_are_refused(
    http: httpx.AsyncClient, url: str
) -> None:
    response = await post(http, url, {"query": TWO_OPERATIONS})

    client_error(response, "Must provide operation name if query contains multiple "
                           "operations.", "BAD_USER_INPUT")


async def test_several_operations_with_an_operation_name_run_the_one_named(
    http: httpx.AsyncClient,
) -> None:
    response = await post(http, COMMAND_URL, {
        "query": "query First { __typename } query Second { schemaVersion }",
        "operationName": "Second"})

    assert response.json() == {"data": {"schemaVersion": "1"}}


# --- suggestions ---


SUGGESTING = {
    "unknown-field": (QUERY_URL, {"query": "{ myBooking { edges { cursor } } }"}),
    "unknown-argument": (QUERY_URL, {"query": "{ myBookings(frist: 1) { edges { cursor } } }"}),
    "unknown-type": (QUERY_URL, {"query": "{ ...F } fragment F on Quer { __typename }"}),
    "unknown-enum-literal": (QUERY_URL, {"query": "{ myBookings(status: PENDNG) { edges "
                                                  "{ cursor } } }"}),
    "unknown-input-field-literal": (COMMAND_URL, {"query": 'mutation { cancelBooking(input: '
                                                           '{bookingId: "b", reson: "x"}) '
                                                           "{ __typename } }"}),
    "unknown-enum-variable": (QUERY_URL, {
        "query": "query ($s: BookingStatus) { myBookings(status: $s) { edges { cursor } } }",
        "variables": {"s": "PENDNG"}}),
    "unknown-input-field-variable": (COMMAND_URL, {
        "query": "mutation ($i: CancelBookingInput!) { cancelBooking(input: $i) "
                 "{ __typename } }", "variables": {"i": {"bookingId": "b", "reson": "x"}}}),
}


@pytest.mark.parametrize(("url", "body"), SUGGESTING.values(), ids=SUGGESTING.keys())
async def test_no_suggestions_while_introspection_is_off(
    client: Any, url: str, body: Json
) -> None:
    suggesting, quiet = client(), client(graphql_introspection=False)

    told = (await post(suggesting, url, body)).json()["errors"]
    untold = (await post(quiet, url, body)).json()["errors"]

    assert any("Did you mean" in e["message"] for e in told), told  # what there is to hide
    assert untold and not any("Did you mean" in e["message"] for e in untold), untold
    assert len(untold) == len(told)


# --- every error is JSON ---


@pytest.mark.parametrize("body", [
    b'{"query": "{ __typename \xff }"}',
    b'\xff\xfe{\x00"\x00',
    '{"query": "{ __typename }", "operationName": "caf\u00e9"}'.encode("latin-1"),
], ids=["invalid-byte", "utf-16-bom", "latin-1"])
@pytest.mark.parametrize("url", [QUERY_URL, COMMAND_URL])
async def test_a_body_that_is_not_utf8_is_a_json_bad_request(
    http: httpx.AsyncClient, url: str, body: bytes
) -> None:
    json_refusal(await post(http, url, body), 400, "")


async def test_a_subscription_over_http_is_a_json_bad_request(http: httpx.AsyncClient) -> None:
    response = await post(http, QUERY_URL, {"query": "subscription { myBookingUpdates { id } }"})

    json_refusal(response, 400, "subscriptions are not allowed")


async def test_a_cursor_of_deeply_nested_json_is_a_bad_user_input(
    http: httpx.AsyncClient,
) -> None:
    cursor = base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode()

    response = await post(http, QUERY_URL, {
        "query": "query ($a: String) { myBookings(after: $a) { edges { cursor } } }",
        "variables": {"a": cursor}})

    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"query": "{', "Unable to parse request body as JSON"),
    (b"", "Unable to parse request body as JSON"),
    (b"42", "must be a JSON object"),
    (b'{"query": "{ x }"}', ""),
    (b'{"query": "{ __typename }", "variables": [1]}', "variables"),
    (b'{"variables": {}}', "No GraphQL query found"),
    (b'{"query": "query A { __typename }", "operationName": "B"}', "Unknown operation"),
    (b'{"query": "{ __typename }", "operationName": 7}', "operationName"),
    (b'[{"query": "{ __typename }"}]', "Batching is not enabled"),
    (b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
], ids=["malformed", "empty", "not-an-object", "syntax-error-is-graphql", "variables-list",
        "no-query", "unknown-operation", "operation-name-number", "batch", "nested"])
async def test_every_bad_request_is_answered_as_json(
    http: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    response = await post(http, COMMAND_URL, body)

    if response.status_code == 200:  # a GraphQL error: JSON as well
        assert response.json()["errors"], response.text
        return
    json_refusal(response, 400, reason)


async def test_a_mutation_over_get_is_a_json_refusal(http: httpx.AsyncClient) -> None:
    response = await http.get(COMMAND_URL, params={"query": "mutation { __typename }"},
                              headers={**bearer("alice"), "Accept": "application/json"})

    json_refusal(response, 405 if response.status_code == 405 else 400, "")


async def test_a_query_over_get_names_its_operation_and_its_variables_as_it_likes(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get(QUERY_URL, params={
        "query": "query A { __typename } query B { __typename }", "operationName": "B",
        "variables": '{"operationName": 5}'}, headers={**bearer("alice"),
                                                     "Accept": "application/json"})

    assert response.json() == {"data": {"__typename": "Query"}}, response.text


@pytest.fixture
async def server(services: Services) -> AsyncIterator[str]:
    async with served(create_app(services.settings, services=services)) as base:
        yield base


@pytest.mark.parametrize("name", ["Nowhere", "\ud800", "N" * 300])
async def test_an_operation_name_the_document_lacks_is_an_error_of_that_subscription(
    server: str, name: str
) -> None:
    async with websockets.connect(
            f"ws://{server}/graphql",
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": bearer("alice")}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for id in ("1", "2"):  # the socket stays usable
            await ws.send(json.dumps({"id": id, "type": "subscribe", "payload": {
                "query": "subscription A { myBookingUpdates { id } }",
                "operationName": name}}))  # json.dumps escapes a lone surrogate

            answer = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))

            assert (answer["id"], answer["type"]) == (id, "error"), answer
            assert answer["payload"][0]["extensions"] == {"code": "BAD_USER_INPUT"}, answer


@pytest.mark.parametrize("url", [QUERY_URL, COMMAND_URL])
async def test_a_number_too_long_to_convert_is_a_json_400(
    http: httpx.AsyncClient, url: str
) -> None:
    body = b'{"query": "{ __typename }", "variables": {"n": ' + b"9" * 5000 + b"}}"

    json_refusal(await post(http, url, body), 400, "not valid JSON")
