"""Bearer tokens on both endpoints and on subscriptions; a customer sees and changes only
their own bookings, an agent any booking."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gql import Client
from typer.testing import CliRunner
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.auth import TEST_JWT_SECRET, bearer, token
from tests.integration.graphql_calls import graphql, request_booking
from tests.integration.test_subscriptions import BOOKING_UPDATED, next_within, websocket, with_vars
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services
from travelbuddy.cli import app as cli
from travelbuddy.config import Settings
from travelbuddy.readmodels.runner import ProjectorRunner
from travelbuddy.security import Identity, TokenVerifier

Json = dict[str, Any]
SCHEMA_VERSION = "{ schemaVersion }"
HOTELS = '{ hotels(city: "Tokyo", checkIn: "2030-01-01", checkOut: "2030-01-02") { id } }'
BOOKING = "query ($id: ID!) { booking(id: $id, minVersion: 1) { id status } }"
CANCEL = """
mutation ($id: ID!) {
  cancelBooking(input: {bookingId: $id, reason: "plans changed"}) {
    __typename ... on CommandError { code }
  }
}"""
ENDPOINTS = [("/graphql", HOTELS), ("/graphql/command", SCHEMA_VERSION)]


def signed(claims: Json, key: Any = TEST_JWT_SECRET, algorithm: str = "HS256",
           headers: Json | None = None) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def claims(**changes: Any) -> Json:
    now = dt.datetime.now(dt.UTC)
    return {"sub": "alice", "iat": now, "exp": now + dt.timedelta(minutes=5)} | changes


def now_plus(minutes: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)


def refused_token(kind: str) -> tuple[str | None, str]:
    """An `Authorization` value the service must refuse, made when the test runs (tokens
    made at import would age while the suite runs), and the reason it gives."""
    tokens: dict[str, tuple[str | None, str]] = {
        "missing": (None, "missing bearer token"),
        "not-bearer": ("Basic YWxpY2U6c2VjcmV0", "authorization is not a bearer token"),
        "expired": (f"Bearer {signed(claims(exp=now_plus(-1)))}", "token expired"),
        "not-yet-valid": (f"Bearer {signed(claims(nbf=now_plus(10)))}", "token not yet valid"),
        "wrongly-signed": (f"Bearer {signed(claims(), 'another-secret-of-32-bytes-or-more!!')}",
                           "invalid signature"),
        "malformed": ("Bearer eyJhbGciOi.not-a.jwt", "malformed token"),
        "no-expiry": (f"Bearer {signed({'sub': 'alice'})}", "missing claim"),
        "unsigned": (f"Bearer {signed(claims(), '', 'none')}", "algorithm not accepted"),
    }
    return tokens[kind]


REFUSED_KINDS = ["missing", "not-bearer", "expired", "not-yet-valid", "wrongly-signed",
                 "malformed", "no-expiry", "unsigned"]


async def post(http: httpx.AsyncClient, path: str, query: str, variables: Json | None = None,
               headers: dict[str, str] | None = None) -> httpx.Response:
    return await http.post(path, json={"query": query, "variables": variables or {}},
                           headers=headers or {})


# --- HTTP: 401 with a JSON error before any resolver runs ---


@pytest.mark.parametrize("endpoint,query", ENDPOINTS, ids=["query", "command"])
@pytest.mark.parametrize("kind", REFUSED_KINDS)
async def test_request_without_a_valid_token_is_answered_401_with_a_json_error(
    http: httpx.AsyncClient, endpoint: str, query: str, kind: str
) -> None:
    authorization, reason = refused_token(kind)
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await post(http, endpoint, query, headers=headers)

    assert response.status_code == 401, response.text
    assert response.json() == {"error": "unauthorized", "reason": reason}
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_query_over_get_needs_a_token_too(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": HOTELS},
                              headers={"Accept": "application/json"})

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize("endpoint,query", ENDPOINTS, ids=["query", "command"])
async def test_a_valid_token_without_a_customer_is_forbidden(
    http: httpx.AsyncClient, endpoint: str, query: str
) -> None:
    no_subject = signed({"exp": now_plus(5)})

    response = await post(http, endpoint, query,
                          headers={"Authorization": f"Bearer {no_subject}"})

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize("endpoint,query", ENDPOINTS, ids=["query", "command"])
async def test_a_valid_token_is_let_through(
    http: httpx.AsyncClient, endpoint: str, query: str
) -> None:
    response = await post(http, endpoint, query, headers=bearer("alice"))

    assert response.status_code == 200, response.text
    assert "errors" not in response.json()


@pytest.mark.parametrize("endpoint", ["/graphql", "/graphql/command"])
async def test_graphiql_page_loads_without_a_token(http: httpx.AsyncClient, endpoint: str) -> None:
    response = await http.get(endpoint, headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


async def test_health_checks_need_no_token(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).status_code == 200


# --- Websockets: the token in the connection_init payload ---


async def close_code_after_init(base: str, payload: Json | None) -> int | None:
    """Connect, send connection_init; the close code, or None when acknowledged."""
    async with connect(f"ws://{base}/graphql", subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        try:
            reply = json.loads(await ws.recv())
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code
        assert reply["type"] == "connection_ack", reply
        return None


@pytest.mark.parametrize("kind", ["missing", "expired", "wrongly-signed", "malformed"])
async def test_websocket_without_a_valid_token_is_closed_4401(
    live_server: str, kind: str
) -> None:
    authorization, _ = refused_token(kind)
    payload = {} if authorization is None else {"Authorization": authorization}

    assert await close_code_after_init(live_server, payload) == 4401


async def test_websocket_with_a_token_without_a_customer_is_closed_4403(
    live_server: str,
) -> None:
    payload = {"Authorization": f"Bearer {signed({'exp': now_plus(5)})}"}

    assert await close_code_after_init(live_server, payload) == 4403


async def test_websocket_with_a_valid_token_is_acknowledged(live_server: str) -> None:
    assert await close_code_after_init(live_server, bearer("alice")) is None


# --- RS256: a public key file or a JWKS file ---


@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def rs256_http(
    services: Services, rsa_key: rsa.RSAPrivateKey, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    public = rsa_key.public_key()
    if request.param == "public-key":
        key_file = tmp_path / "public.pem"
        key_file.write_bytes(public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        settings = services.settings.model_copy(
            update={"jwt_algorithm": "RS256", "jwt_public_key_file": key_file})
    else:
        key_file = tmp_path / "jwks.json"
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
        key_file.write_text(json.dumps({"keys": [jwk | {"kid": "k1", "use": "sig"}]}))
        settings = services.settings.model_copy(
            update={"jwt_algorithm": "RS256", "jwks_file": key_file})
    app = create_app(settings, services=dataclasses.replace(services, settings=settings))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as client:
        yield client


@pytest.mark.parametrize("rs256_http", ["public-key", "jwks"], indirect=True)
async def test_rs256_tokens_are_verified_with_the_configured_key(
    rs256_http: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    good = signed(claims(), rsa_key, "RS256", headers={"kid": "k1"})
    forged_hs256 = token("alice")  # the HS256 secret no longer counts

    accepted = await post(rs256_http, "/graphql", HOTELS,
                          headers={"Authorization": f"Bearer {good}"})
    refused = await post(rs256_http, "/graphql", HOTELS,
                         headers={"Authorization": f"Bearer {forged_hs256}"})

    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 401


# --- Authorization: own bookings only, agents any ---


async def test_a_customer_cannot_see_another_customers_booking(
    http: httpx.AsyncClient, projector: ProjectorRunner
) -> None:
    bobs = await request_booking(http, customer="bob")
    await graphql(http, "/graphql", BOOKING, {"id": bobs}, customer="bob")  # projected

    seen_by_alice = await graphql(http, "/graphql", BOOKING, {"id": bobs}, customer="alice")
    alices_list = await graphql(http, "/graphql", "{ myBookings { edges { node { id } } } }",
                                customer="alice")

    assert seen_by_alice == {"booking": None}
    assert alices_list == {"myBookings": {"edges": []}}


async def test_a_customer_cannot_change_another_customers_booking(
    http: httpx.AsyncClient, projector: ProjectorRunner
) -> None:
    bobs = await request_booking(http, customer="bob")

    result = await graphql(http, "/graphql/command", CANCEL, {"id": bobs}, customer="alice")
    after = await graphql(http, "/graphql", BOOKING, {"id": bobs}, customer="bob")

    assert result == {"cancelBooking": {"__typename": "BookingNotFoundError",
                                        "code": "BOOKING_NOT_FOUND"}}
    assert after["booking"]["status"] != "CANCELLED"


async def test_an_agent_can_see_and_cancel_any_booking(
    http: httpx.AsyncClient, projector: ProjectorRunner
) -> None:
    bobs = await request_booking(http, customer="bob")
    agent = bearer("support-1", roles=["agent"])

    seen = await post(http, "/graphql", BOOKING, {"id": bobs}, headers=agent)
    cancelled = await post(http, "/graphql/command", CANCEL, {"id": bobs}, headers=agent)
    after = await graphql(http, "/graphql", BOOKING.replace("minVersion: 1", "minVersion: 2"),
                          {"id": bobs}, customer="bob")

    assert seen.json()["data"]["booking"]["id"] == bobs
    assert cancelled.json()["data"]["cancelBooking"]["__typename"] == "CommandAccepted"
    assert after["booking"]["status"] == "CANCELLED"


async def test_only_an_agent_can_watch_another_customers_booking(
    live_server: str, projector: ProjectorRunner
) -> None:
    transport = httpx.AsyncHTTPTransport()
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{live_server}") as http:
        bobs = await request_booking(http, customer="bob")
        await graphql(http, "/graphql", BOOKING, {"id": bobs}, customer="bob")

    async with Client(transport=websocket(live_server, "alice")) as alice:
        updates = alice.subscribe(with_vars(BOOKING_UPDATED, {"id": bobs}))
        with pytest.raises(TimeoutError):
            await next_within(updates, 1.0)
    agent_socket = websocket(live_server, "support-1")
    agent_socket.init_payload = bearer("support-1", roles=["agent"])
    async with Client(transport=agent_socket) as agent:
        updates = agent.subscribe(with_vars(BOOKING_UPDATED, {"id": bobs}))
        first = await next_within(updates, 5.0)

    assert first["bookingUpdated"]["id"] == bobs


# --- travelbuddy token ---


def test_travelbuddy_token_prints_a_token_the_service_accepts() -> None:
    result = CliRunner().invoke(cli, ["token", "carol", "--role", "agent", "--ttl", "120"],
                                env={"TRAVELBUDDY_JWT_SECRET": TEST_JWT_SECRET})
    assert result.exit_code == 0, result.output

    identity = TokenVerifier.from_settings(Settings()).verify(result.output.strip())
    decoded = jwt.decode(result.output.strip(), TEST_JWT_SECRET, algorithms=["HS256"])

    assert identity == Identity(customer_id="carol", roles=frozenset({"agent"}))
    assert 110 <= decoded["exp"] - decoded["iat"] <= 120
