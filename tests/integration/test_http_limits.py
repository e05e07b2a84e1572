"""What one HTTP client may hold, against a real uvicorn with the limits `serve` runs with
(`travelbuddy.http_server.uvicorn_options`): unfinished headers and stalled bodies are cut
off, a huge header is refused, and no body is read before its token is checked."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import psutil
import pytest

from tests.auth import bearer
from tests.integration.served import served
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services
from travelbuddy.http_server import uvicorn_options

Address = tuple[str, int]


@pytest.fixture
def backend() -> str:
    """Connections do not depend on the stores: the embedded default is enough."""
    return "embedded"


@pytest.fixture
async def serve(services: Services) -> AsyncIterator[Any]:
    """Starts the app under uvicorn with some settings changed; returns host and port."""
    async with AsyncExitStack() as stack:
        async def start(**changed: Any) -> Address:
            settings = services.settings.model_copy(update=changed)
            app = create_app(settings, services=dataclasses.replace(services, settings=settings))
            base = await stack.enter_async_context(served(app, **uvicorn_options(settings)))
            host, port = base.split(":")
            return host, int(port)

        yield start


async def connect(address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(*address)


async def read_until_closed(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """All the server sends until it closes the connection (at most `seconds`)."""
    received = b""
    async with asyncio.timeout(seconds):
        while chunk := await reader.read(65536):
            received += chunk
    return received


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: travelbuddy",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def body_of(response: bytes) -> Any:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


async def test_a_client_that_never_finishes_its_headers_is_disconnected(serve: Any) -> None:
    address = await serve(http_header_timeout_seconds=1.0)
    reader, writer = await connect(address)
    writer.write(b"POST /graphql HTTP/1.1\r\nHost: travelbuddy\r\nX-Slow: ")
    started = time.monotonic()

    async def trickle() -> None:  # one byte every 0.2 s: never idle, never done
        while not writer.is_closing():
            writer.write(b"a")
            await asyncio.sleep(0.2)

    trickling = asyncio.create_task(trickle())
    try:
        response = await read_until_closed(reader, 5)
    finally:
        trickling.cancel()
        writer.close()

    assert 0.9 <= time.monotonic() - started < 3
    assert status_of(response) == 408


async def test_a_connection_that_sends_nothing_is_disconnected(serve: Any) -> None:
    address = await serve(http_header_timeout_seconds=1.0, http_keep_alive_timeout_seconds=30)
    reader, writer = await connect(address)
    started = time.monotonic()

    await read_until_closed(reader, 5)
    writer.close()

    assert time.monotonic() - started < 3


async def test_a_keep_alive_connection_serves_one_request_after_another(serve: Any) -> None:
    address = await serve(http_header_timeout_seconds=1.0)
    reader, writer = await connect(address)
    answers = []
    for _ in range(3):
        writer.write(request_head("GET", "/healthz", {}))
        answers.append(await reader.readuntil(b'{"status":"ok"}'))
        await asyncio.sleep(0.5)  # idle between requests, under the header timeout
    writer.close()

    assert [status_of(answer) for answer in answers] == [200, 200, 200]


async def test_a_slow_answer_is_not_cut_off_by_the_header_timeout(serve: Any) -> None:
    address = await serve(http_header_timeout_seconds=0.5, read_your_writes_timeout=1.5)
    query = json.dumps({"query": '{ booking(id: "b-nowhere", minVersion: 3) { id } }'})
    reader, writer = await connect(address)
    writer.write(request_head("POST", "/graphql", {
        **bearer("alice"), "Content-Type": "application/json",
        "Content-Length": str(len(query))}) + query.encode())
    started = time.monotonic()

    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    writer.close()

    assert status_of(head) == 200
    assert time.monotonic() - started >= 1.0  # it waited for the version, uncut


async def test_a_stalled_body_is_answered_408_and_the_connection_closed(serve: Any) -> None:
    address = await serve(http_body_timeout_seconds=1.0)
    reader, writer = await connect(address)
    writer.write(request_head("POST", "/graphql/command", {
        **bearer("alice"), "Content-Type": "application/json", "Content-Length": "1000"}))
    writer.write(b'{"query": "')  # and then nothing
    started = time.monotonic()

    response = await read_until_closed(reader, 5)
    writer.close()

    assert 0.9 <= time.monotonic() - started < 3
    assert status_of(response) == 408
    assert body_of(response) == {"detail": "The request body took over 1 seconds"}


async def test_a_fifty_megabyte_header_line_is_refused_after_the_header_limit(
    serve: Any,
) -> None:
    address = await serve()  # the default limit: 64 KiB
    rss_before = psutil.Process().memory_info().rss  # the server runs in this process
    reader, writer = await connect(address)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: travelbuddy\r\nX-Huge: ")
    chunk, sent = b"a" * 65536, 0
    with contextlib.suppress(ConnectionError):  # closed mid-send: refused all the same
        while sent < 50 * 1024 * 1024:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    response = await read_until_closed(reader, 5)
    writer.close()

    assert status_of(response) == 431
    assert body_of(response) == {"detail": "Request Header Fields Too Large"}
    assert psutil.Process().memory_info().rss - rss_before < 20 * 1024 * 1024  # not 50 MB


async def test_a_header_under_the_limit_is_served(serve: Any) -> None:
    address = await serve()
    reader, writer = await connect(address)
    writer.write(request_head("GET", "/healthz", {"X-Large": "a" * 30_000}))

    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()

    assert status_of(head) == 200


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"], ids=["none", "bad"])
async def test_a_body_is_not_read_before_its_token_is_checked(
    serve: Any, authorization: str | None
) -> None:
    address = await serve()
    reader, writer = await connect(address)
    headers = {"Content-Type": "application/json", "Content-Length": "1000000"}
    if authorization:
        headers["Authorization"] = authorization
    writer.write(request_head("POST", "/graphql", headers))  # not one byte of the body

    response = await read_until_closed(reader, 3)
    writer.close()

    assert status_of(response) == 401
    assert body_of(response)["error"] == "unauthorized"
    assert b"connection: close" in response.lower()


async def test_an_authenticated_body_is_read_and_answered(serve: Any) -> None:
    address = await serve()
    query = {"query": "{ schemaVersion }", "variables": {"pad": "x" * 500_000}}
    body = json.dumps(query).encode()
    reader, writer = await connect(address)
    writer.write(request_head("POST", "/graphql/command", {
        **bearer("alice"), "Content-Type": "application/json", "Content-Length": str(len(body))}))
    with pytest.raises(TimeoutError):  # the server waits for the body: no early answer
        await asyncio.wait_for(reader.read(1), 0.3)
    writer.write(body)

    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()

    assert status_of(head) == 200


async def test_two_hundred_unauthenticated_bodies_are_refused_without_being_read(
    serve: Any,
) -> None:
    address = await serve()
    head = request_head("POST", "/graphql", {"Content-Type": "application/json",
                                             "Content-Length": "1099999"})

    async def hold_a_body() -> int:
        reader, writer = await connect(address)
        writer.write(head + b"x" * 65536)  # a start, as the attack sent it
        try:
            return status_of(await read_until_closed(reader, 10))
        finally:
            writer.close()

    statuses = await asyncio.gather(*(hold_a_body() for _ in range(200)))

    assert statuses == [401] * 200
