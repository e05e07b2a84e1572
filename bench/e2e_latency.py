"""3. End-to-end latency: from a mutation's response to the subscription push showing it.

Ours: `python -m bench.server` (the GraphQL app with the projector in the same process,
as `travelbuddy serve` runs them) takes mutations over HTTP at a steady 20, 50 and 100
commands per second — booking lives again: RequestBooking, then both confirmations as
soon as the previous step answered — while one websocket subscription
(`myBookingUpdates`, graphql-transport-ws) of the same customer receives the views. The
latency of a mutation is the time from its response to the first push of its booking at
the version it returned or later (zero when the push came first).
Baseline, same run, same rate: the raw notification path the service now stands on, once,
with nothing of ours on it —
- MongoDB: `insert_one` of an event-sized document, seen by a bare change stream that
  pauses 20 ms between empty polls, as the service's followers do (the test MongoDB
  answers an empty getMore at once). The service has two such hops in a row: the
  projector's change stream on `events`, then the fan-out's on `booking_views`.
- embedded: a sqlite3 INSERT of an event-sized row (through `asyncio.to_thread`, as the
  store writes), seen by a reader in the same process that sleeps on an `asyncio.Event`
  the writer sets after its insert, and then reads the new rows (also through
  `asyncio.to_thread`): the in-process wake-up the service's embedded event feed and
  view feed use instead of polling. The service has two such hops too (append → the
  projector's feed; the views' commit → the fan-out's feed), with the projection between.
A raw write's latency is from the insert returning to the reader holding the row.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from bench.context import MONGODB, BenchContext
from bench.identity import agent_headers, connection_payload, headers
from bench.operations import operation
from bench.processes import ServiceProcess, bench_server
from bench.raw_sqlite import RawSqlite, row_of
from bench.stats import Figure, Measurement, Side, figure, percentile
from bench.traffic import flight_of, recorded_events, request_input
from bench.waiting import until
from travelbuddy.eventstore.feeds import IDLE_POLL_SECONDS
from travelbuddy.eventstore.mongo import event_document
from travelbuddy.eventstore.sqlite import OTHER_WRITERS_SECONDS

NAME = "3 end-to-end latency"
USES_MONGODB = True
MAX_IN_FLIGHT = 200
SETTLE_SECONDS = 5.0
SAMPLE_EVENTS = 300


@dataclass
class Timeline:
    """What the client saw: mutation responses and subscription pushes, with times."""

    responses: list[tuple[str, int, float]] = field(default_factory=list)
    pushes: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    round_trips_ms: list[float] = field(default_factory=list)
    errors: int = 0
    skipped: int = 0
    push_arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, booking_id: str, version: int) -> None:
        self.pushes.setdefault(booking_id, []).append((version, time.perf_counter()))
        self.push_arrived.set()

    def seen(self, booking_id: str, version: int) -> float | None:
        for pushed_version, at in self.pushes.get(booking_id, []):
            if pushed_version >= version:
                return at
        return None

    def unseen(self) -> int:
        return sum(1 for b, v, _ in self.responses if self.seen(b, v) is None)

    def measurement(self) -> Measurement:
        latencies, early = [], 0
        for booking_id, version, answered in self.responses:
            pushed = self.seen(booking_id, version)
            if pushed is None:
                continue
            early += pushed < answered
            latencies.append(max(0.0, pushed - answered) * 1000)
        note = (f"mutation round trip p50 {percentile(self.round_trips_ms, .5):.1f} ms, "
                f"p99 {percentile(self.round_trips_ms, .99):.1f} ms; "
                f"{len(latencies)} of {len(self.responses)} pushes seen, {early} before the "
                f"response")
        if self.errors or self.skipped:
            note += f"; {self.errors} mutations failed, {self.skipped} not sent (overloaded)"
        return Measurement(value=percentile(latencies, 0.5), latencies_ms=latencies,
                           count=len(latencies), note=note)


async def _subscribe(service: ServiceProcess, customer: str, timeline: Timeline) -> None:
    transport = WebsocketsTransport(
        url=service.ws_url, headers=headers(customer), init_payload=connection_payload(customer),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL], close_timeout=1)
    async with Client(transport=transport) as session:
        async for result in session.subscribe(gql(operation("MyBookingUpdates"))):
            update = result["myBookingUpdates"]
            timeline.push(update["id"], update["version"])


class Driver:
    """Sends booking lives' mutations at a steady rate: a follow-up step when one is due,
    otherwise a new booking."""

    def __init__(self, http: httpx.AsyncClient, timeline: Timeline) -> None:
        self._http = http
        self._timeline = timeline
        self._due: collections.deque[tuple[str, dict[str, Any], int]] = collections.deque()
        self._numbers = iter(range(10**9))

    async def send(self, name: str, variables: dict[str, Any], n: int) -> tuple[str, int] | None:
        # The customer requests; the hotel's and airline's answers are an agent's to record.
        as_agent = agent_headers() if name != "RequestBooking" else None
        sent = time.perf_counter()
        response = await self._http.post("/graphql/command", headers=as_agent, json={
            "query": operation(name), "variables": variables, "operationName": name})
        answered = time.perf_counter()
        body = response.json() if response.status_code == 200 else {}
        result = next(iter((body.get("data") or {}).values()), None) or {}
        if result.get("__typename") != "CommandAccepted":
            self._timeline.errors += 1
            return None
        booking_id, version = result["bookingId"], result["version"]
        self._timeline.responses.append((booking_id, version, answered))
        self._timeline.round_trips_ms.append((answered - sent) * 1000)
        if name == "RequestBooking":
            self._due.append(("ConfirmHotelReservation", {"input": {
                "bookingId": booking_id, "confirmationCode": f"HTL-{n}"}}, n))
        elif name == "ConfirmHotelReservation":
            self._due.append(("ConfirmFlightReservation", {"input": {
                "bookingId": booking_id, "flightId": flight_of(n),
                "confirmationCode": f"FLT-{n}"}}, n))
        return booking_id, version

    def next_command(self) -> tuple[str, dict[str, Any], int]:
        if self._due:
            return self._due.popleft()
        n = next(self._numbers)
        return "RequestBooking", {"input": request_input(n)}, n

    async def steady(self, rate: float, seconds: float) -> None:
        """`rate` mutations per second for `seconds`, whatever the answers take."""
        in_flight: set[asyncio.Task[Any]] = set()
        started = time.perf_counter()
        for number in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + number / rate - time.perf_counter()))
            if len(in_flight) >= MAX_IN_FLIGHT:
                self._timeline.skipped += 1
                continue
            task = asyncio.create_task(self.send(*self.next_command()))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight, timeout=SETTLE_SECONDS)


async def ours(service: ServiceProcess, rate: float, seconds: float) -> Measurement:
    customer = f"e2e-{uuid.uuid4().hex[:8]}"
    timeline = Timeline()
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=service.base_url, headers=headers(customer),
                                 limits=limits, timeout=30) as http:
        subscription = asyncio.create_task(_subscribe(service, customer, timeline))
        try:
            driver = Driver(http, timeline)
            # A first booking until its push arrives: the subscription is live from then.
            deadline = time.perf_counter() + 15
            while not timeline.push_arrived.is_set():
                if subscription.done():
                    subscription.result()
                if time.perf_counter() > deadline:
                    raise TimeoutError("no subscription push within 15 s")
                await driver.send(*driver.next_command())
                with_timeout = asyncio.wait_for(timeline.push_arrived.wait(), 2)
                await asyncio.gather(with_timeout, return_exceptions=True)
            timeline.responses.clear()
            timeline.round_trips_ms.clear()
            await driver.steady(rate, seconds)
            await until(lambda: not timeline.unseen(), SETTLE_SECONDS, every=0.05)
        finally:
            subscription.cancel()
            await asyncio.gather(subscription, return_exceptions=True)
    return timeline.measurement()


async def at_rate(rate: float, seconds: float, write: Any) -> None:
    started = time.perf_counter()
    tasks = []
    for number in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + number / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(write(number)))
    await asyncio.wait(tasks, timeout=SETTLE_SECONDS)


def _raw_measurement(written: dict[Any, float], seen: dict[Any, float]) -> Measurement:
    latencies = [max(0.0, seen[k] - at) * 1000 for k, at in written.items() if k in seen]
    return Measurement(value=percentile(latencies, 0.5), latencies_ms=latencies,
                       count=len(latencies),
                       note=f"{len(latencies)} of {len(written)} writes seen")


async def raw_mongo(url: str, rate: float, seconds: float, documents: list[dict[str, Any]]
                    ) -> Measurement:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    collection = client[f"bench_raw_e2e_{uuid.uuid4().hex[:8]}"]["raw_events"]
    written: dict[Any, float] = {}
    seen: dict[Any, float] = {}
    try:
        stream = await collection.watch(max_await_time_ms=500)

        async def watch() -> None:
            while True:
                change = await stream.try_next()
                if change is None:
                    await asyncio.sleep(IDLE_POLL_SECONDS)
                    continue
                seen[change["documentKey"]["_id"]] = time.perf_counter()

        async def write(number: int) -> None:
            document = dict(documents[number % len(documents)], _id=number)
            await collection.insert_one(document)
            written[number] = time.perf_counter()

        watcher = asyncio.create_task(watch())
        await at_rate(rate, seconds, write)
        await until(lambda: len(seen) >= len(written), SETTLE_SECONDS)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await stream.close()
    finally:
        await client.close()
    return _raw_measurement(written, seen)


class Wakeup:
    """The in-process signal of the embedded store: `current` is the event a reader waits
    on (taken before it reads, so no wake-up falls between); `set` wakes it and puts a
    fresh one in place (SqliteEventStore does the same after each append)."""

    def __init__(self) -> None:
        self.current = asyncio.Event()

    def set(self) -> None:
        woken, self.current = self.current, asyncio.Event()
        woken.set()


async def raw_sqlite(ctx: BenchContext, rate: float, seconds: float,
                     rows: list[Any]) -> Measurement:
    raw = RawSqlite(ctx.folder("raw-e2e") / "raw.sqlite3")
    written: dict[Any, float] = {}
    seen: dict[Any, float] = {}
    wakeup = Wakeup()

    async def read() -> None:
        last = 0
        while True:
            woken = wakeup.current
            found = await raw.rows_after(last)
            if not found:
                # Bounded like the service's feed (it looks anyway after this long).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(OTHER_WRITERS_SECONDS):
                        await woken.wait()
                continue
            now = time.perf_counter()
            for row in found:
                seen[row[0]] = now
            last = found[-1][0]

    async def write(number: int) -> None:
        rowid = await raw.insert(rows[number % len(rows)])
        written[rowid] = time.perf_counter()
        wakeup.set()

    reader = asyncio.create_task(read())
    try:
        await at_rate(rate, seconds, write)
        await until(lambda: len(seen) >= len(written), SETTLE_SECONDS)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        raw.close()
    return _raw_measurement(written, seen)


def _variables(ctx: BenchContext, backend: str) -> dict[str, str]:
    if backend == MONGODB:
        assert ctx.mongodb_url is not None
        return {"TRAVELBUDDY_MONGODB_URL": ctx.mongodb_url,
                "TRAVELBUDDY_MONGODB_DATABASE": f"bench_e2e_{uuid.uuid4().hex[:8]}"}
    return {"TRAVELBUDDY_DATA_DIR": str(ctx.folder("e2e-data"))}


async def run(ctx: BenchContext) -> list[Figure]:
    sizes = ctx.sizes
    sample = await recorded_events(SAMPLE_EVENTS)
    figures: list[Figure] = []
    for backend in ctx.backends:
        with bench_server(_variables(ctx, backend), ctx.folder("e2e"), sizes.time_limit) as service:
            # Warm the server (and the test MongoDB's JVM) up before anything counts.
            await ours(service, sizes.e2e_rates[0], sizes.e2e_warm_up_seconds)
            for rate in sizes.e2e_rates:
                mine = await ours(service, rate, sizes.e2e_seconds)
                if backend == MONGODB:
                    assert ctx.mongodb_url is not None
                    documents = [event_document(e.stream_id, e.version, e.event) for e in sample]
                    raw = await raw_mongo(ctx.mongodb_url, rate, sizes.e2e_seconds, documents)
                    raw_name = "insert_one → bare change stream (20 ms idle poll)"
                else:
                    raw = await raw_sqlite(ctx, rate, sizes.e2e_seconds,
                                           [row_of(e) for e in sample])
                    raw_name = "sqlite3 INSERT → reader woken in process"
                figures.append(figure(
                    NAME, backend, f"{rate} commands/s",
                    Side.of("mutation response → myBookingUpdates push", "ms p50", [mine],
                            headline="p50"),
                    Side.of(raw_name, "ms p50", [raw], headline="p50"),
                    higher_is_better=False, note=mine.note, load=rate))
                ctx.log(f"{NAME} {backend} {rate}/s: p50 {mine.value:.1f} ms vs "
                        f"{raw.value:.1f} ms; {mine.note}")
    return figures
