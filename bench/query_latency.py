"""4. Query latency: `booking(id)` and `myBookings(first: 20)` through GraphQL over HTTP.

Ours: the repository's example operations `Booking` (the booking page's fields) and
`MyBookings` POSTed to /graphql of `python -m bench.server`, at concurrency 16, over views
the projector built from pre-filled bookings (600 bookings of 20 customers in the full
run). Baseline, same run, same process, same collection: a bare FastAPI app with one JSON
route per query doing the same find (`find_one` by id; customer's views by check-in, 21).
Both are driven by the same httpx client, in paired rounds.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from bench.context import MONGODB, BenchContext
from bench.identity import headers
from bench.operations import operation
from bench.prefill import fill_mongo, fill_sqlite
from bench.processes import ServiceProcess, bench_server
from bench.stats import Figure, Measurement, Side, figure, paired_rounds
from bench.traffic import RecordedEvent, recorded_events
from travelbuddy.bootstrap import EVENTS_FILE

NAME = "4 query latency"
USES_MONGODB = True

Request = Callable[[httpx.AsyncClient, int], Any]
"""Sends request number n with the client; returns the response (to check)."""


async def at_concurrency(http: httpx.AsyncClient, concurrency: int, count: int,
                         request: Request) -> Measurement:
    """`count` requests, `concurrency` at a time; p50 as the headline, failures noted."""
    numbers = itertools.count()
    latencies: list[float] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while (number := next(numbers)) < count:
            begun = time.perf_counter()
            response = await request(http, number)
            latencies.append((time.perf_counter() - begun) * 1000)
            body = response.json()
            failures += response.status_code != 200 or not body or "errors" in body

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    sorted_latencies = sorted(latencies)
    note = f"{count / elapsed:.0f} requests/s"
    if failures:
        note += f"; {failures} failed"
    return Measurement(value=sorted_latencies[len(sorted_latencies) // 2],
                       latencies_ms=latencies, count=len(latencies), note=note)


def bookings_of(events: list[RecordedEvent]) -> list[tuple[str, str]]:
    """(booking id, its customer) of every pre-filled booking."""
    return [(e.stream_id.removeprefix("booking-"), e.event.metadata.customer_id)
            for e in events if e.version == 1]


def requests(bookings: list[tuple[str, str]], customers: list[str]
             ) -> dict[str, tuple[Request, Request]]:
    """Per query: (ours over GraphQL, the bare route)."""
    booking_query, my_bookings_query = operation("Booking"), operation("MyBookings")

    def graphql_booking(http: httpx.AsyncClient, n: int) -> Any:
        booking_id, customer = bookings[n % len(bookings)]
        return http.post("/graphql", headers=headers(customer), json={
            "query": booking_query, "variables": {"id": booking_id},
            "operationName": "Booking"})

    def bare_booking(http: httpx.AsyncClient, n: int) -> Any:
        booking_id, customer = bookings[n % len(bookings)]
        return http.get(f"/bare/booking/{booking_id}", headers={"X-Customer-Id": customer})

    def graphql_my_bookings(http: httpx.AsyncClient, n: int) -> Any:
        return http.post("/graphql", headers=headers(customers[n % len(customers)]), json={
            "query": my_bookings_query, "variables": {}, "operationName": "MyBookings"})

    def bare_my_bookings(http: httpx.AsyncClient, n: int) -> Any:
        return http.get("/bare/my-bookings",
                        headers={"X-Customer-Id": customers[n % len(customers)]})

    return {"booking(id)": (graphql_booking, bare_booking),
            "myBookings(first: 20)": (graphql_my_bookings, bare_my_bookings)}


class Routes(httpx.AsyncBaseTransport):
    """One client for both apps: /bare/... goes to the bare app's port, the rest to ours."""

    def __init__(self, service: ServiceProcess, connections: int) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._ours = httpx.AsyncHTTPTransport(limits=limits)
        self._bare = httpx.AsyncHTTPTransport(limits=limits)
        self._service = service

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/bare/"):
            request.url = request.url.copy_with(
                port=self._service.bare_port, path=request.url.path.removeprefix("/bare"))
            return await self._bare.handle_async_request(request)
        return await self._ours.handle_async_request(request)

    async def aclose(self) -> None:
        await self._ours.aclose()
        await self._bare.aclose()


async def prefilled(ctx: BenchContext, backend: str, events: list[RecordedEvent],
                    name: str = "queries") -> dict[str, str]:
    """A fresh database (MongoDB) or data folder (embedded) holding `events`: the
    variables that point `python -m bench.server` at it."""
    if backend == MONGODB:
        assert ctx.mongodb_url is not None
        database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
        async with ctx.mongo_database(database) as filled:
            await fill_mongo(filled, events)
        return {"TRAVELBUDDY_MONGODB_URL": ctx.mongodb_url,
                "TRAVELBUDDY_MONGODB_DATABASE": database}
    data_dir = ctx.folder(f"{name}-data")
    await fill_sqlite(data_dir / EVENTS_FILE, events)
    return {"TRAVELBUDDY_DATA_DIR": str(data_dir)}


async def run(ctx: BenchContext) -> list[Figure]:
    sizes = ctx.sizes
    events = await recorded_events(sizes.query_bookings * 3, customers=sizes.query_customers)
    bookings = bookings_of(events)
    customers = sorted({customer for _, customer in bookings})
    figures: list[Figure] = []
    for backend in ctx.backends:
        variables = await prefilled(ctx, backend, events)
        with bench_server(variables, ctx.folder("queries"), sizes.time_limit) as service:
            transport = Routes(service, sizes.query_concurrency)
            async with httpx.AsyncClient(transport=transport, base_url=service.base_url,
                                         timeout=30) as http:
                for query, (mine, bare) in requests(bookings, customers).items():
                    for request in (mine, bare):
                        await at_concurrency(http, sizes.query_concurrency,
                                             sizes.query_warm_up_requests, request)

                    async def side(request: Request) -> Measurement:
                        return await at_concurrency(http, sizes.query_concurrency,
                                                    sizes.query_requests, request)

                    ours_rounds, bare_rounds = await paired_rounds(
                        sizes.rounds, functools.partial(side, mine), functools.partial(side, bare))
                    notes = "ours " + ", ".join(m.note for m in ours_rounds) + \
                        "; bare " + ", ".join(m.note for m in bare_rounds)
                    figures.append(figure(
                        NAME, backend, f"{query}, concurrency {sizes.query_concurrency}",
                        Side.of("GraphQL POST /graphql", "ms p50", ours_rounds, headline="p50"),
                        Side.of("bare FastAPI JSON route, same find", "ms p50", bare_rounds,
                                headline="p50"),
                        higher_is_better=False, note=notes))
                    ctx.log(f"{NAME} {backend} {query}: p50 {figures[-1].ours.value:.1f} ms "
                            f"vs {figures[-1].baseline.value:.1f} ms")
    return figures
