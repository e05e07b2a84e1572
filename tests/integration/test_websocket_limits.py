"""What one websocket client may hold, against a real uvicorn: caps on sockets and
subscriptions, per customer and in total; sockets closed when their token expires or when
they never send connection_init; malformed frames closed with 4400 and one INFO line."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.auth import bearer, token
from tests.integration.served import served
from tests.logged import events
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services
from travelbuddy.graphql.websocket_budget import WebSocketBudget
from travelbuddy.http_server import uvicorn_options

TRANSPORT, LEGACY = "graphql-transport-ws", "graphql-ws"
MY_UPDATES = "subscription { myBookingUpdates { id } }"


@pytest.fixture
def backend() -> str:
    """Sockets do not depend on the stores: the embedded default is enough."""
    return "embedded"


@dataclasses.dataclass
class Server:
    base: str
    budget: WebSocketBudget


@pytest.fixture
async def serve(services: Services) -> AsyncIterator[Callable[..., Any]]:
    """Starts the app under uvicorn with some settings changed. uvicorn leaves logging
    alone (`log_config=None`), so that its error lines reach caplog too."""
    async with AsyncExitStack() as stack:
        async def start(**changed: Any) -> Server:
            settings = services.settings.model_copy(update=changed)
            app = create_app(settings, services=dataclasses.replace(services, settings=settings))
            base = await stack.enter_async_context(
                served(app, log_config=None, **uvicorn_options(settings)))
            return Server(base, app.state.websocket_budget)

        yield start


async def socket(server: Server, protocol: str = TRANSPORT) -> ClientConnection:
    return await connect(f"ws://{server.base}/graphql", subprotocols=[Subprotocol(protocol)],
                         close_timeout=1)


async def initialised(server: Server, customer: str, protocol: str = TRANSPORT,
                      authorization: dict[str, str] | None = None) -> ClientConnection:
    """A socket past connection_init as `customer` (acknowledged, or else closed)."""
    ws = await socket(server, protocol)
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": authorization or bearer(customer)}))
    with contextlib.suppress(ConnectionClosed):  # refused: the caller reads the code
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["type"] == "connection_ack", reply
    return ws


async def close_code(ws: ClientConnection, seconds: float = 5) -> int | None:
    """The code the server closed `ws` with (messages before it are skipped)."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def subscribe(ws: ClientConnection, operation_id: str, protocol: str = TRANSPORT) -> None:
    kind = "subscribe" if protocol == TRANSPORT else "start"
    await ws.send(json.dumps({"id": operation_id, "type": kind,
                              "payload": {"query": MY_UPDATES}}))


async def until(condition: Callable[[], bool], seconds: float = 5) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the server's counters, no event to wait on
            await asyncio.sleep(0.01)


# --- Malformed frames: 4400 and one INFO line, before or after authentication ---

TRANSPORT_FRAMES = {
    "not-json": "not json", "a-number": "42", "a-list": "[]", "no-type": "{}",
    "type-not-a-string": '{"type": 5}', "init-payload-a-string":
        '{"type": "connection_init", "payload": "x"}',
    "deeply-nested": "[" * 50_000 + "]" * 50_000, "huge-number": "1" * 5000,
}
AFTER_AUTH_TRANSPORT_FRAMES = {
    "subscribe-without-id": '{"type": "subscribe", "payload": {"query": "{ a }"}}',
    "subscribe-id-an-object": '{"type": "subscribe", "id": {}, "payload": {"query": "{ a }"}}',
    "subscribe-payload-a-string": '{"type": "subscribe", "id": "1", "payload": "x"}',
    "subscribe-query-a-number": '{"type": "subscribe", "id": "1", "payload": {"query": 5}}',
    "subscribe-variables-a-string":
        '{"type": "subscribe", "id": "1", "payload": {"query": "{ a }", "variables": "x"}}',
    "subscribe-id-too-long":
        '{"type": "subscribe", "id": "%s", "payload": {"query": "{ a }"}}' % ("i" * 200),
    "complete-id-a-list": '{"type": "complete", "id": []}',
    "unknown-type": '{"type": "launch"}',
}
LEGACY_FRAMES = {
    "not-json": "not json", "a-number": "42", "no-type": "{}", "unknown-type": '{"type": "x"}',
}
AFTER_AUTH_LEGACY_FRAMES = {
    "start-without-payload": '{"type": "start", "id": "1"}',
    "start-payload-a-string": '{"type": "start", "id": "1", "payload": "x"}',
    "start-query-a-number": '{"type": "start", "id": "1", "payload": {"query": 5}}',
    "stop-without-id": '{"type": "stop"}',
}
CASES = ([(TRANSPORT, False, name) for name in TRANSPORT_FRAMES]
         + [(TRANSPORT, True, name) for name in {**TRANSPORT_FRAMES,
                                                 **AFTER_AUTH_TRANSPORT_FRAMES}]
         + [(LEGACY, False, name) for name in LEGACY_FRAMES]
         + [(LEGACY, True, name) for name in {**LEGACY_FRAMES, **AFTER_AUTH_LEGACY_FRAMES}])


@pytest.mark.parametrize("protocol,authenticated,frame", CASES,
                         ids=[f"{p}-{'after' if a else 'before'}-auth-{f}" for p, a, f in CASES])
async def test_a_malformed_frame_closes_the_socket_with_4400_and_one_info_line(
    serve: Any, caplog: pytest.LogCaptureFixture, protocol: str, authenticated: bool,
    frame: str,
) -> None:
    server = await serve(graphql_ws_legacy_protocol=True)
    frames = {**TRANSPORT_FRAMES, **AFTER_AUTH_TRANSPORT_FRAMES, **LEGACY_FRAMES,
              **AFTER_AUTH_LEGACY_FRAMES}
    ws = await (initialised(server, "alice", protocol) if authenticated
                else socket(server, protocol))
    caplog.clear()
    caplog.set_level(logging.INFO)

    await ws.send(frames[frame])
    code = await close_code(ws)
    await until(lambda: server.budget.sockets == 0)

    assert code == 4400
    assert [r.levelname for r in caplog.records  # not another test's Kafka clients
            if r.levelno >= logging.WARNING and not r.name.startswith("aiokafka")] == []
    closing = events(caplog.records, "websocket_closed")
    assert len(closing) == 1 and closing[0]["code"] == 4400, closing


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_a_binary_frame_closes_the_socket_with_4400(serve: Any, protocol: str) -> None:
    server = await serve(graphql_ws_legacy_protocol=True)
    ws = await initialised(server, "alice", protocol)

    await ws.send(b"\x00\x01")

    assert await close_code(ws) == 4400


# --- connection_init, awaited for a time on every subprotocol ---


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_a_socket_that_sends_no_connection_init_is_closed_4408(
    serve: Any, protocol: str
) -> None:
    server = await serve(graphql_ws_legacy_protocol=True,
                         graphql_websocket_init_timeout_seconds=0.5)
    ws = await socket(server, protocol)

    assert await close_code(ws, 3) == 4408
    await until(lambda: server.budget.sockets == 0)


async def test_the_legacy_subprotocol_is_off_unless_turned_on(serve: Any) -> None:
    server = await serve()
    ws = await socket(server, LEGACY)

    assert ws.subprotocol is None
    assert await close_code(ws) == 4406  # strawberry: subprotocol not acceptable


# --- Tokens that expire while the socket is open ---


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_a_socket_is_closed_4401_when_its_token_expires(
    serve: Any, caplog: pytest.LogCaptureFixture, protocol: str
) -> None:
    server = await serve(graphql_ws_legacy_protocol=True)
    short_lived = {"Authorization": f"Bearer {token('alice', ttl=2)}"}
    ws = await initialised(server, "alice", protocol, authorization=short_lived)
    await subscribe(ws, "1", protocol)
    await until(lambda: server.budget.subscriptions == 1)
    caplog.set_level(logging.INFO)

    code = await close_code(ws, 6)
    await until(lambda: server.budget.sockets == server.budget.subscriptions == 0)

    assert code == 4401
    assert ws.close_reason == "Token expired"
    assert [r.getMessage() for r in caplog.records  # not another test's Kafka clients
            if r.levelno >= logging.WARNING and not r.name.startswith("aiokafka")] == []


# --- Caps on sockets ---


async def test_sockets_over_a_customers_cap_are_closed_4429_and_others_are_not(
    serve: Any,
) -> None:
    server = await serve(graphql_max_websockets_per_customer=2)
    first, second = [await initialised(server, "alice") for _ in range(2)]

    third = await initialised(server, "alice")
    bobs = await initialised(server, "bob")

    assert await close_code(third) == 4429
    assert third.close_reason == "Too many open websockets of this customer"
    assert server.budget.sockets_of("alice") == 2 and server.budget.sockets_of("bob") == 1
    await first.close()
    await until(lambda: server.budget.sockets_of("alice") == 1)
    again = await initialised(server, "alice")  # a place freed is a place to take
    assert server.budget.sockets_of("alice") == 2
    for ws in (second, bobs, again):
        await ws.close()


async def test_sockets_over_the_process_cap_are_closed_1013_before_connection_init(
    serve: Any,
) -> None:
    server = await serve(graphql_max_websockets=3)
    open_ones = [await socket(server) for _ in range(3)]
    await until(lambda: server.budget.sockets == 3)

    one_too_many = await socket(server)

    assert await close_code(one_too_many) == 1013
    await open_ones[0].close()
    await until(lambda: server.budget.sockets == 2)
    assert (await initialised(server, "alice")).state.name == "OPEN"


# --- Caps on subscriptions ---


async def test_subscriptions_over_a_customers_cap_get_an_error_and_the_rest_go_on(
    serve: Any,
) -> None:
    server = await serve(graphql_max_subscriptions_per_customer=3)
    first, second = await initialised(server, "alice"), await initialised(server, "alice")
    for operation_id, ws in (("1", first), ("2", first), ("3", second)):
        await subscribe(ws, operation_id)
    await until(lambda: server.budget.subscriptions_of("alice") == 3)

    await subscribe(second, "4")
    refused = json.loads(await asyncio.wait_for(second.recv(), 5))

    assert refused["id"] == "4" and refused["type"] == "error"
    assert refused["payload"][0]["message"] == "Subscription limit of this customer reached"
    bobs = await initialised(server, "bob")
    await subscribe(bobs, "1")  # another customer's share is their own
    await until(lambda: server.budget.subscriptions_of("bob") == 1)
    await first.send(json.dumps({"id": "1", "type": "complete"}))
    await until(lambda: server.budget.subscriptions_of("alice") == 2)
    await subscribe(second, "5")
    await until(lambda: server.budget.subscriptions_of("alice") == 3)
    await first.close()  # a closed socket gives its subscriptions back
    await until(lambda: server.budget.subscriptions_of("alice") == 2)


async def test_subscriptions_over_the_process_cap_get_an_error(serve: Any) -> None:
    server = await serve(graphql_max_subscriptions=2)
    for customer in ("alice", "bob"):
        await subscribe(await initialised(server, customer), "1")
    await until(lambda: server.budget.subscriptions == 2)
    carols = await initialised(server, "carol")

    await subscribe(carols, "1")
    refused = json.loads(await asyncio.wait_for(carols.recv(), 5))

    assert refused["payload"][0]["message"] == "Subscription limit of the server reached"


async def test_the_legacy_protocol_counts_subscriptions_the_same_way(serve: Any) -> None:
    server = await serve(graphql_ws_legacy_protocol=True,
                         graphql_max_subscriptions_per_customer=1)
    ws = await initialised(server, "alice", LEGACY)
    await subscribe(ws, "1", LEGACY)
    await until(lambda: server.budget.subscriptions_of("alice") == 1)

    await subscribe(ws, "2", LEGACY)
    refused = json.loads(await asyncio.wait_for(ws.recv(), 5))
    await ws.send(json.dumps({"id": "1", "type": "stop"}))

    assert refused == {"type": "error", "id": "2",
                       "payload": {"message": "Subscription limit of this customer reached"}}
    await until(lambda: server.budget.subscriptions_of("alice") == 0)


# --- Close reasons: at most 123 bytes of UTF-8, whatever the client sent ---

LONG_TOKENS = {
    "a-long-name": "{ a } " + "x" * 300,  # Syntax Error: Unexpected Name 'xxx…'
    # Syntax Error: Expected '{', found String 'aééé…': 123 bytes end inside an "é"
    "a-long-multibyte-string": 'query "a' + "é" * 200 + '"',
}


@pytest.mark.parametrize("document", LONG_TOKENS.values(), ids=list(LONG_TOKENS))
async def test_a_syntax_error_quoting_a_long_token_closes_with_4400_and_a_clipped_reason(
    serve: Any, caplog: pytest.LogCaptureFixture, document: str
) -> None:
    server = await serve()
    ws = await initialised(server, "alice")
    caplog.clear()
    caplog.set_level(logging.INFO)

    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": document}}))
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    await until(lambda: server.budget.sockets == 0)

    frame = closed.value.rcvd
    assert frame is not None, "no close frame: the socket was dropped"
    assert frame.code == 4400
    assert frame.reason.startswith("Syntax Error: ")
    assert len(frame.reason.encode()) <= 123
    assert [r.getMessage() for r in caplog.records  # not another test's Kafka clients
            if r.levelno >= logging.ERROR and not r.name.startswith("aiokafka")] == []
