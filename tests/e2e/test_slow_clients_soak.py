"""Soak: `travelbuddy serve` (started as the README says) under 320 slow clients at once for
20 seconds, all on 127.0.0.1: 100 trickling headers a byte at a time, 100 holding
unauthenticated megabyte bodies, 20 authenticated ones stalling their bodies, and 100 idle
websockets that never send connection_init, each reconnecting once the server cuts it off.

Throughout, `/healthz` answers within a second, and the server's RSS stays within
`RSS_BOUND` of what it was before: unauthenticated bodies are refused before they are read
(they took 200 MB before), slow ones are cut off by the header, body and connection_init
timeouts, so that what is held at any time is the authenticated bodies in flight (20 x
0.9 MB) and the sockets themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from tests.auth import bearer
from tests.e2e.conftest import RunningService, start_service, stop_service

DURATION = 20.0  # seconds of load
MAX_ATTEMPTS = 100  # connections one slow client opens at most (it reconnects when cut off)
RSS_BOUND = 80 * 1024 * 1024  # growth allowed over the warmed-up server's RSS
HEALTH_WITHIN = 1.0  # seconds
TIMEOUTS = {
    "TRAVELBUDDY_HTTP_HEADER_TIMEOUT_SECONDS": "2",
    "TRAVELBUDDY_HTTP_BODY_TIMEOUT_SECONDS": "3",
    "TRAVELBUDDY_GRAPHQL_WEBSOCKET_INIT_TIMEOUT_SECONDS": "2",
}


@pytest.fixture
def slow_service(tmp_path: Path) -> Iterator[RunningService]:
    running = start_service(tmp_path / "data", env=TIMEOUTS)
    yield running
    stop_service(running)


def head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def answer_of(reader: asyncio.StreamReader) -> str:
    """The status the server answered with before closing, or `closed`."""
    received = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            received += chunk
    return received.split(b" ", 2)[1].decode() if received.startswith(b"HTTP/") else "closed"


class SlowClients:
    """The four kinds of slow client, each looping until `until`, counting outcomes."""

    def __init__(self, port: int, until: float) -> None:
        self.port = port
        self.until = until
        self.outcomes: Counter[str] = Counter()

    async def repeat(self, kind: str, attempt: Callable[[], Awaitable[str]]) -> None:
        for _ in range(MAX_ATTEMPTS):
            if time.monotonic() >= self.until:
                return
            try:
                self.outcomes[f"{kind}:{await attempt()}"] += 1
            except (ConnectionError, OSError, TimeoutError, InvalidHandshake):
                self.outcomes[f"{kind}:error"] += 1
                await asyncio.sleep(0.5)

    async def trickling_headers(self) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")

        async def trickle() -> None:
            while not writer.is_closing() and time.monotonic() < self.until:
                writer.write(b"a")
                await asyncio.sleep(0.5)

        trickling = asyncio.create_task(trickle())
        try:
            return await answer_of(reader)
        finally:
            trickling.cancel()
            writer.close()

    async def unauthenticated_body(self) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(head("/graphql", {"Content-Type": "application/json",
                                       "Content-Length": "1100000"}))
        with contextlib.suppress(ConnectionError):  # refused mid-send: the point
            for _ in range(16):  # 1,099,999 bytes would follow; a megabyte is sent
                writer.write(b"x" * 65536)
                await writer.drain()
        try:
            return await answer_of(reader)
        finally:
            writer.close()
            await asyncio.sleep(1.0)

    async def stalled_body(self) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(head("/graphql/command", {**bearer("slow-customer"),
                                               "Content-Type": "application/json",
                                               "Content-Length": "1000000"}))
        writer.write(b'{"query": "{ schemaVersion }", "variables": {"pad": "' + b"x" * 900_000)
        try:
            return await answer_of(reader)
        finally:
            writer.close()
            await asyncio.sleep(0.5)

    async def idle_websocket(self) -> str:
        async with connect(f"ws://127.0.0.1:{self.port}/graphql", close_timeout=1,
                           subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            try:
                await ws.recv()  # nothing is sent: the server must end it
            except ConnectionClosed as closed:
                return str(closed.rcvd.code) if closed.rcvd else "closed"
        return "message"


@pytest.mark.timeout(300)  # the first start may install the project into .venv
async def test_slow_clients_neither_grow_the_server_nor_stall_it(
    slow_service: RunningService,
) -> None:
    server = psutil.Process(slow_service.process.pid)
    async with httpx.AsyncClient(base_url=slow_service.base_url, timeout=5) as http:
        for _ in range(20):  # warm up what every request touches
            await http.post("/graphql/command", json={"query": "{ schemaVersion }"},
                            headers=bearer("warm-up"))
        baseline = server.memory_info().rss
        clients = SlowClients(slow_service.port, time.monotonic() + DURATION)
        load = [asyncio.create_task(clients.repeat(kind, attempt)) for kind, attempt, count in (
            ("headers", clients.trickling_headers, 100),
            ("unauthenticated", clients.unauthenticated_body, 100),
            ("stalled", clients.stalled_body, 20),
            ("websocket", clients.idle_websocket, 100),
        ) for _ in range(count)]

        health_times, peak = [], baseline
        while time.monotonic() < clients.until:
            started = time.monotonic()
            assert (await http.get("/healthz")).status_code == 200
            health_times.append(time.monotonic() - started)
            peak = max(peak, server.memory_info().rss)
            await asyncio.sleep(0.5)  # the sampling period, not a wait for a condition
        await asyncio.gather(*load)

    outcomes = dict(clients.outcomes)
    print(json.dumps({"baseline_mb": baseline / 2**20, "peak_mb": peak / 2**20,
                      "slowest_health_s": max(health_times), "outcomes": outcomes}))
    assert max(health_times) < HEALTH_WITHIN, health_times
    assert peak - baseline < RSS_BOUND, (baseline, peak)
    assert outcomes.get("headers:408", 0) >= 100  # every trickler cut off, at least once
    assert outcomes.get("unauthenticated:401", 0) >= 100
    assert outcomes.get("stalled:408", 0) >= 20
    assert outcomes.get("websocket:4408", 0) >= 100
