"""7. Subscription fan-out: what open `bookingUpdated` subscriptions cost one serving process.

One `python -m bench.server` (the GraphQL app with the projector in the same process, as
`travelbuddy serve` runs them; TRAVELBUDDY_GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION=500, and
the caps on subscriptions and websockets per process and per customer set far above use)
over a store pre-filled with 10,001 booking requests (201 with --quick) of 20 customers.
The load generator is this process: websockets speaking graphql-transport-ws (a small
client of its own, `Socket`, so that 10,000 subscriptions cost the generator little; no
permessage-deflate, no client pings), each connection one customer's with up to 500
`bookingUpdated(bookingId)` subscriptions, one per booking, all bookings different.

At 1,000, 5,000 and 10,000 open subscriptions (200 with --quick), once every one of them
has had its first push (the current view):
- idle CPU: the server process's CPU time over 5 s in which nothing is sent, as a share
  of one core: the sum of its threads' run time in /proc/PID/task/*/schedstat
  (nanoseconds); psutil's `cpu_times` (user + system) is in the note, but it counts
  10 ms clock ticks, too coarse to tell an idle server's 0.05 % from 0;
- RSS of the server process right after;
- push latency at 20 changes/s: `ChangeStayDates` mutations (the booking's customer)
  on subscribed bookings spread over all of them, each booking once; the latency of a
  mutation is from its response to the push of its booking at the version it returned or
  later, as benchmark 3 measures it (0 when the push came first).
Baseline, same run, same server, same bookings: idle CPU and RSS before any subscription
was opened; push latency with one subscription, all changes on its booking (after a
warm-up at the same rate). Idle CPU with that one subscription open is in the note.
The subscriptions are added to the same process step by step (1,000, then 4,000 more,
then 5,000 more), so each step's RSS includes what the steps before left. Both backends
in the full run; with --quick the embedded default alone (a MongoDB of its own and a
second pre-filled server would not fit the minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.context import EMBEDDED, MONGODB, BenchContext
from bench.e2e_latency import SETTLE_SECONDS, Timeline, at_rate
from bench.identity import connection_payload, headers
from bench.operations import operation
from bench.prefill import fill_mongo, fill_sqlite
from bench.processes import ServiceProcess, bench_server
from bench.sizes import Sizes
from bench.stats import Figure, Measurement, Side, figure
from bench.traffic import recorded_events
from bench.waiting import until
from travelbuddy.bootstrap import EVENTS_FILE

NAME = "7 subscription fan-out"
USES_MONGODB = True
PER_SOCKET = 500
CUSTOMERS = 20
CAP = 100_000
"""What the server's subscription and websocket caps are set to (not what is opened)."""
MIB = 2**20
QUIET_SECONDS = 1.0
"""Pause before an idle sample (at most; half the sample with --quick), so the last
pushes, threads and buffers have gone."""
GRAPHQL_TRANSPORT_WS = Subprotocol("graphql-transport-ws")


@dataclass(frozen=True)
class Booking:
    booking_id: str
    customer: str


class Socket:
    """One websocket of one customer, graphql-transport-ws, carrying subscriptions."""

    def __init__(self, service: ServiceProcess, customer: str, timeline: Timeline) -> None:
        self.service = service
        self.customer = customer
        self.timeline = timeline
        self.subscribed: list[str] = []
        self.errors: list[str] = []
        self._connection: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self, time_limit: float) -> None:
        """Connect and wait for `connection_ack`."""
        self._connection = await connect(
            self.service.ws_url, subprotocols=[GRAPHQL_TRANSPORT_WS],
            additional_headers=headers(self.customer), compression=None, proxy=None,
            ping_interval=None, open_timeout=time_limit, close_timeout=1, max_queue=1024)
        await self._connection.send(json.dumps({
            "type": "connection_init", "payload": connection_payload(self.customer)}))
        async with asyncio.timeout(time_limit):
            while True:
                message = json.loads(await self._connection.recv())
                if message.get("type") == "connection_ack":
                    break
        self._reader = asyncio.create_task(self._read(self._connection))

    async def subscribe(self, booking_ids: Sequence[str]) -> None:
        """`bookingUpdated` for each booking, the booking id as the operation id."""
        assert self._connection is not None
        query = operation("BookingUpdated")
        for booking_id in booking_ids:
            await self._connection.send(json.dumps({
                "id": booking_id, "type": "subscribe", "payload": {
                    "query": query, "variables": {"id": booking_id},
                    "operationName": "BookingUpdated"}}))
            self.subscribed.append(booking_id)

    async def _read(self, connection: ClientConnection) -> None:
        try:
            async for raw in connection:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "next":
                    update = (message["payload"].get("data") or {}).get("bookingUpdated")
                    if update is not None:
                        self.timeline.push(update["id"], update["version"])
                    else:
                        self.errors.append(str(message["payload"].get("errors")))
                elif kind == "ping":
                    await connection.send(json.dumps({"type": "pong"}))
                elif kind in ("error", "complete"):
                    self.errors.append(f"{kind} {message.get('id')}: {message.get('payload')}")
        except ConnectionClosed as closed:
            self.errors.append(f"closed: {closed}")

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


@dataclass
class Pool:
    """The open sockets, at most PER_SOCKET subscriptions each, one customer each."""

    service: ServiceProcess
    timeline: Timeline
    time_limit: float
    sockets: list[Socket] = field(default_factory=list)

    @property
    def subscribed(self) -> list[str]:
        return [booking_id for socket in self.sockets for booking_id in socket.subscribed]

    @property
    def errors(self) -> list[str]:
        return [error for socket in self.sockets for error in socket.errors]

    async def add(self, bookings: Sequence[Booking]) -> float:
        """Subscribe to these bookings and wait until each has had its first push;
        return the seconds that took."""
        begun = time.perf_counter()
        by_customer: dict[str, list[str]] = {}
        for booking in bookings:
            by_customer.setdefault(booking.customer, []).append(booking.booking_id)
        for customer, booking_ids in by_customer.items():
            while booking_ids:
                socket = next((s for s in self.sockets if s.customer == customer
                               and len(s.subscribed) < PER_SOCKET), None)
                if socket is None:
                    socket = Socket(self.service, customer, self.timeline)
                    await socket.open(self.time_limit)
                    self.sockets.append(socket)
                room = PER_SOCKET - len(socket.subscribed)
                await socket.subscribe(booking_ids[:room])
                booking_ids = booking_ids[room:]
        wanted = [b.booking_id for b in bookings]
        pushes = self.timeline.pushes
        if not await until(lambda: self.errors != [] or all(b in pushes for b in wanted),
                           self.time_limit, every=0.1):
            missing = sum(b not in pushes for b in wanted)
            raise TimeoutError(f"{missing} of {len(wanted)} subscriptions had no first push")
        if self.errors:
            raise RuntimeError(f"subscriptions failed: {self.errors[:3]}")
        return time.perf_counter() - begun

    async def close(self) -> None:
        for socket in self.sockets:
            await socket.close()
        self.sockets.clear()


@dataclass
class Idle:
    """The server's CPU over a quiet window, and its RSS after it."""

    cpu_percent: float
    rss_mib: float
    note: str


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time the process's threads have run, in seconds, from the scheduler's own
    nanosecond count; psutil's tick-based user + system where that is not available."""
    tasks = Path(f"/proc/{process.pid}/task")
    try:
        names = os.listdir(tasks)
    except OSError:
        names = []
    total, read = 0, 0
    for name in names:
        try:
            total += int((tasks / name / "schedstat").read_text().split()[0])
            read += 1
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    if read:
        return total / 1e9
    times = process.cpu_times()
    return float(times.user + times.system)


def listener(url: str | None) -> psutil.Process | None:
    """The local process listening on the port of `url` (the test MongoDB's JVM), if any."""
    if url is None:
        return None
    parsed = urllib.parse.urlsplit(url)
    if parsed.hostname not in ("127.0.0.1", "localhost") or parsed.port is None:
        return None
    for candidate in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == parsed.port
                   for c in candidate.net_connections(kind="tcp")):
                return candidate
    return None


async def idle(process: psutil.Process, seconds: float,
               database: psutil.Process | None = None) -> Idle:
    await asyncio.sleep(min(QUIET_SECONDS, seconds / 2))
    ticks, before, begun = process.cpu_times(), cpu_seconds(process), time.monotonic()
    database_before = cpu_seconds(database) if database is not None else 0.0
    await asyncio.sleep(seconds)
    ticks_after, after, ended = process.cpu_times(), cpu_seconds(process), time.monotonic()
    used, wall = after - before, ended - begun
    by_ticks = (ticks_after.user - ticks.user) + (ticks_after.system - ticks.system)
    rss = process.memory_info().rss / MIB
    note = (f"{used * 1000:.1f} ms of CPU in {wall:.1f} s (psutil cpu_times: "
            f"{by_ticks * 1000:.0f} ms), {process.num_threads()} threads")
    if database is not None:
        note += (f"; the test MongoDB's JVM meanwhile "
                 f"{100 * (cpu_seconds(database) - database_before) / wall:.1f} % of a core")
    return Idle(100 * used / wall, rss, note)


class Changes:
    """`ChangeStayDates` on given bookings at a steady rate, recorded on the timeline."""

    def __init__(self, http: httpx.AsyncClient, timeline: Timeline) -> None:
        self._http = http
        self._timeline = timeline
        self._numbers = 0

    async def send(self, booking: Booking) -> None:
        self._numbers += 1
        check_in = dt.date.today() + dt.timedelta(days=30 + self._numbers % 200)
        sent = time.perf_counter()
        response = await self._http.post("/graphql/command", headers=headers(booking.customer),
                                         json={"query": operation("ChangeStayDates"),
                                               "operationName": "ChangeStayDates",
                                               "variables": {"input": {
                                                   "bookingId": booking.booking_id,
                                                   "checkIn": check_in.isoformat(),
                                                   "checkOut": (check_in + dt.timedelta(
                                                       days=1 + self._numbers % 3)).isoformat(),
                                               }}})
        answered = time.perf_counter()
        body = response.json() if response.status_code == 200 else {}
        result = (body.get("data") or {}).get("changeStayDates") or {}
        if result.get("__typename") != "CommandAccepted":
            self._timeline.errors += 1
            return
        self._timeline.responses.append((result["bookingId"], result["version"], answered))
        self._timeline.round_trips_ms.append((answered - sent) * 1000)

    async def steady(self, targets: Sequence[Booking], rate: float, seconds: float
                     ) -> Measurement:
        """`rate` changes per second for `seconds`, on `targets` in turn; the latencies."""
        self._timeline.responses.clear()
        self._timeline.round_trips_ms.clear()
        self._timeline.errors = 0

        async def change(number: int) -> None:
            await self.send(targets[number % len(targets)])

        await at_rate(rate, seconds, change)
        await until(lambda: not self._timeline.unseen(), SETTLE_SECONDS, every=0.05)
        return self._timeline.measurement()


def spread(bookings: Sequence[Booking], count: int) -> list[Booking]:
    """`count` of the bookings, evenly spaced over all of them."""
    count = max(1, min(count, len(bookings)))
    return [bookings[i * len(bookings) // count] for i in range(count)]


@contextlib.asynccontextmanager
async def serving(ctx: BenchContext, backend: str, events: Any) -> AsyncIterator[
        ServiceProcess]:
    """The server over a store pre-filled with `events`."""
    variables = {
        "TRAVELBUDDY_GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION": str(PER_SOCKET),
        # The process's and each customer's caps on websockets and subscriptions, out of
        # the way: this benchmark opens up to 10,000 subscriptions of 20 customers.
        "TRAVELBUDDY_GRAPHQL_MAX_SUBSCRIPTIONS": str(CAP),
        "TRAVELBUDDY_GRAPHQL_MAX_SUBSCRIPTIONS_PER_CUSTOMER": str(CAP),
        "TRAVELBUDDY_GRAPHQL_MAX_WEBSOCKETS": str(CAP),
        "TRAVELBUDDY_GRAPHQL_MAX_WEBSOCKETS_PER_CUSTOMER": str(CAP),
    }
    if backend == MONGODB:
        assert ctx.mongodb_url is not None
        name = f"bench_fanout_{uuid.uuid4().hex[:8]}"
        async with ctx.mongo_database(name) as database:
            await fill_mongo(database, events)
        variables |= {"TRAVELBUDDY_MONGODB_URL": ctx.mongodb_url,
                      "TRAVELBUDDY_MONGODB_DATABASE": name}
    else:
        data_dir = ctx.folder("fanout-data")
        await fill_sqlite(data_dir / EVENTS_FILE, events)
        variables["TRAVELBUDDY_DATA_DIR"] = str(data_dir)
    with bench_server(variables, ctx.folder("fanout"), ctx.sizes.time_limit) as service:
        yield service


async def on_backend(ctx: BenchContext, backend: str) -> list[Figure]:
    sizes = ctx.sizes
    levels = sizes.fanout_subscriptions
    events = await recorded_events(max(levels) + 1, customers=CUSTOMERS, requests_only=True)
    bookings = [Booking(e.stream_id.removeprefix("booking-"), e.event.metadata.customer_id)
                for e in events]
    lone, bookings = bookings[-1], bookings[:-1]
    changes_per_step = max(1, int(sizes.fanout_rate * sizes.fanout_seconds))
    figures: list[Figure] = []
    async with serving(ctx, backend, events) as service:
        process = psutil.Process(service.pid)
        database = listener(ctx.mongodb_url) if backend == MONGODB else None
        timeline = Timeline()
        pool = Pool(service, timeline, sizes.time_limit)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=service.base_url, limits=limits,
                                     timeout=30) as http:
            changes = Changes(http, timeline)
            try:
                quiet = await idle(process, sizes.fanout_idle_seconds, database)
                ctx.log(f"{NAME} {backend}: no subscriptions: {quiet.cpu_percent:.2f} % "
                        f"of a core, {quiet.rss_mib:.1f} MiB")
                lone_pool = Pool(service, timeline, sizes.time_limit)
                await lone_pool.add([lone])
                await changes.steady([lone], sizes.fanout_rate, sizes.fanout_warm_up_seconds)
                one = await changes.steady([lone], sizes.fanout_rate, sizes.fanout_seconds)
                one_idle = await idle(process, sizes.fanout_idle_seconds, database)
                await lone_pool.close()
                ctx.log(f"{NAME} {backend}: one subscription: p50 {one.value:.1f} ms; "
                        f"{one_idle.cpu_percent:.2f} % of a core")
                opened = 0
                for level in levels:
                    took = await pool.add(bookings[opened:level])
                    added, opened = level - opened, level
                    busy = await idle(process, sizes.fanout_idle_seconds, database)
                    mine = await changes.steady(spread(bookings[:level], changes_per_step),
                                                sizes.fanout_rate, sizes.fanout_seconds)
                    setup = (f"{level:,} subscriptions on {len(pool.sockets)} websockets; "
                             f"the last {added:,} subscribed and first-pushed in {took:.1f} s")
                    figures += [
                        figure(NAME, backend, f"{level:,} subscriptions: idle CPU",
                               Side.of("server process, idle, N subscriptions open",
                                       "% of a core", [Measurement(busy.cpu_percent)]),
                               Side.of("same server, no subscription", "% of a core",
                                       [Measurement(quiet.cpu_percent)]),
                               higher_is_better=False,
                               note=f"{setup}; ours {busy.note}; baseline {quiet.note}; with "
                               f"one subscription {one_idle.cpu_percent:.2f} % of a core"),
                        figure(NAME, backend, f"{level:,} subscriptions: RSS",
                               Side.of("RSS of the server, N subscriptions open", "MiB",
                                       [Measurement(busy.rss_mib)]),
                               Side.of("same server, no subscription", "MiB",
                                       [Measurement(quiet.rss_mib)]),
                               higher_is_better=False,
                               note=f"{(busy.rss_mib - quiet.rss_mib) * MIB / level / 1024:.1f}"
                               " KiB per subscription over the baseline"),
                        figure(NAME, backend,
                               f"{level:,} subscriptions: push latency at "
                               f"{sizes.fanout_rate} changes/s",
                               Side.of("mutation response → bookingUpdated push, N open",
                                       "ms p50", [mine], headline="p50"),
                               Side.of("same, one subscription open", "ms p50", [one],
                                       headline="p50"),
                               higher_is_better=False, note=f"ours: {mine.note}; baseline: "
                               f"{one.note}", load=sizes.fanout_rate),
                    ]
                    ctx.log(f"{NAME} {backend} {level:,}: {busy.cpu_percent:.2f} % of a core, "
                            f"{busy.rss_mib:.1f} MiB, push p50 {mine.value:.1f} ms; {setup}")
            finally:
                await pool.close()
    return figures


def uses_mongodb(sizes: Sizes) -> bool:
    """MongoDB only in the full run: with --quick the minute would not do."""
    return sizes.fanout_mongodb


async def run(ctx: BenchContext) -> list[Figure]:
    figures: list[Figure] = []
    for backend in ctx.backends:
        if backend == MONGODB and not ctx.sizes.fanout_mongodb:
            continue
        figures += await on_backend(ctx, backend)
    if not figures and EMBEDDED not in ctx.backends:
        raise RuntimeError("no backend to run on")
    return figures
