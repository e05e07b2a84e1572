"""11. The cost of instrumentation: commands/s and query p50 with metrics and tracing on
against the same service with both off, in the same run.

Each side is a `python -m bench.server` of its own, all started on copies of the same
pre-filled store (600 bookings of 20 customers in the full run) and run side by side;
rounds rotate which side is loaded first.

- instrumented: metrics on, tracing on and exporting: `OTEL_EXPORTER_OTLP_ENDPOINT` is a
  small OTLP/HTTP sink in the harness (`SpanSink`: answers every POST /v1/traces 200 and
  counts what it got), and /metrics is scraped every second while a round runs, as
  Prometheus would;
- bare: `TRAVELBUDDY_METRICS_ENABLED=false`, `TRAVELBUDDY_TRACING_ENABLED=false`;
- in the full run also: the default (metrics on and scraped, tracing on without an
  endpoint, as the service runs out of the box: its own spans are started but not
  recorded), metrics alone (scraped; tracing off), and the instrumented side recording a
  tenth of the traces (`OTEL_TRACES_SAMPLER=parentbased_traceidratio`,
  `OTEL_TRACES_SAMPLER_ARG=0.1`).

Figures: commands/s over HTTP (booking lives as mutations on /graphql/command,
concurrency 8) and the p50 of the `Booking` query on /graphql (concurrency 16), each as
instrumented / bare (and every other side / bare). The target: at most 5 % slower.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench.context import BenchContext
from bench.e2e_latency import Driver, Timeline
from bench.identity import headers
from bench.processes import ServiceProcess, bench_server
from bench.query_latency import at_concurrency, bookings_of, prefilled, requests
from bench.sizes import Sizes
from bench.stats import Figure, Measurement, Side, figure, rotated_rounds
from bench.traffic import recorded_events

NAME = "11 instrumentation"
USES_MONGODB = True
COMMAND_CONCURRENCY = 8
SCRAPE_SECONDS = 1.0
TARGET = "target: at most 5 % slower"



@dataclasses.dataclass(frozen=True)
class Setup:
    """What one side's server runs with."""

    metrics: bool
    """TRAVELBUDDY_METRICS_ENABLED; when on, /metrics is scraped every SCRAPE_SECONDS."""
    tracing: bool
    """TRAVELBUDDY_TRACING_ENABLED."""
    exporting: bool = False
    """OTEL_EXPORTER_OTLP_ENDPOINT set to the harness's span sink."""
    sampled: float = 1.0
    """The share of traces recorded (OTEL_TRACES_SAMPLER_ARG of a trace-id ratio sampler)."""

    def variables(self, sink: SpanSink | None) -> dict[str, str]:
        variables = {"TRAVELBUDDY_METRICS_ENABLED": str(self.metrics).lower(),
                     "TRAVELBUDDY_TRACING_ENABLED": str(self.tracing).lower()}
        if sink is not None:
            variables["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
        if self.sampled < 1:
            variables |= {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                          "OTEL_TRACES_SAMPLER_ARG": f"{self.sampled:g}"}
        return variables

    @property
    def description(self) -> str:
        metrics = f"metrics on (scraped every {SCRAPE_SECONDS:g} s)" if self.metrics else \
            "metrics off"
        tracing = (f"tracing exporting {self.sampled:.0%} of the traces over OTLP/HTTP"
                   if self.exporting and self.sampled < 1 else
                   "tracing exporting over OTLP/HTTP" if self.exporting else
                   "tracing on, no exporter" if self.tracing else "tracing off")
        return f"{metrics}, {tracing}"


INSTRUMENTED, BARE = "instrumented", "bare"
SIDES = {
    INSTRUMENTED: Setup(metrics=True, tracing=True, exporting=True),
    BARE: Setup(metrics=False, tracing=False),
    "default": Setup(metrics=True, tracing=True),
    "metrics alone": Setup(metrics=True, tracing=False),
    "instrumented, 10 % sampled": Setup(metrics=True, tracing=True, exporting=True,
                                        sampled=0.1),
}
"""Every side a run may measure; each but the bare one is a figure against the bare one."""


def sides(sizes: Sizes) -> list[str]:
    """The sides measured at these sizes: all in the full run, the two that make the
    figure with --quick."""
    return list(SIDES) if sizes.instrumentation_parts else [INSTRUMENTED, BARE]


class SpanSink:
    """An OTLP/HTTP trace receiver on a free loopback port, in a thread of the harness:
    every POST is answered 200 (an empty ExportTraceServiceResponse) and kept, to be
    counted once the rounds are over (decoding them meanwhile would load the harness)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        sink = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                sink.bodies.append(self.rfile.read(int(self.headers["Content-Length"] or 0)))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Receive)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @staticmethod
    def spans_in(bodies: list[bytes]) -> int:
        """The spans in these exports."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        return sum(len(scope.spans) for body in bodies
                   for resource in ExportTraceServiceRequest.FromString(body).resource_spans
                   for scope in resource.scope_spans)

    def __enter__(self) -> SpanSink:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclasses.dataclass
class Scrapes:
    done: int = 0
    failed: int = 0


@contextlib.asynccontextmanager
async def scraped(http: httpx.AsyncClient, scrapes: Scrapes) -> AsyncIterator[None]:
    """GET /metrics every SCRAPE_SECONDS while the block runs (the first at once)."""

    async def scrape() -> None:
        while True:
            response = await http.get("/metrics")
            scrapes.done += 1
            scrapes.failed += response.status_code != 200
            await asyncio.sleep(SCRAPE_SECONDS)

    task = asyncio.create_task(scrape())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@dataclasses.dataclass
class Service:
    """One side's server and the client the load goes through."""

    name: str
    process: ServiceProcess
    http: httpx.AsyncClient
    scrapes: Scrapes | None
    """Scraped as Prometheus would, where metrics are on."""
    sink: SpanSink | None
    """Where it exports its spans, if it does."""
    exports_before: int = 0
    """Exports the sink had received before the rounds began (warm-ups')."""

    def evidence(self) -> str:
        """What the side really did besides the load: scrapes answered, spans exported."""
        said = []
        if self.scrapes is not None:
            said.append(f"/metrics scraped {self.scrapes.done} times ({self.scrapes.failed} "
                        "failed)")
        if self.sink is not None:
            # A batch goes every 5 s or 512 spans: what the last round left is not waited
            # for (the servers are stopped), what was exported during the rounds counts.
            exports = self.sink.bodies[self.exports_before:]
            if not exports:
                raise RuntimeError(f"the {self.name} server exported no spans")
            said.append(f"spans exported: {SpanSink.spans_in(exports):,} in {len(exports)} "
                        "OTLP requests")
        return "; ".join(said)

    @contextlib.asynccontextmanager
    async def round(self) -> AsyncIterator[None]:
        if self.scrapes is None:
            yield
            return
        async with scraped(self.http, self.scrapes):
            yield


async def command_round(service: Service, seconds: float) -> Measurement:
    """Booking lives as mutations for `seconds`, COMMAND_CONCURRENCY at a time."""
    timeline = Timeline()
    driver = Driver(service.http, timeline)
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await driver.send(*driver.next_command())

    async with service.round():
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(COMMAND_CONCURRENCY)))
        elapsed = time.perf_counter() - started
    accepted = len(timeline.responses)
    note = f"{timeline.errors} failed" if timeline.errors else ""
    return Measurement(value=accepted / elapsed, latencies_ms=timeline.round_trips_ms,
                       count=accepted, note=note)


@contextlib.contextmanager
def _servers(ctx: BenchContext, names: list[str], prefill: list[dict[str, str]],
             sinks: dict[str, SpanSink]) -> Iterator[dict[str, ServiceProcess]]:
    with contextlib.ExitStack() as stack:
        yield {side: stack.enter_context(bench_server(
            data | SIDES[side].variables(sinks.get(side)),
            ctx.folder("instrumentation-" + side.replace(" ", "-")), ctx.sizes.time_limit))
            for side, data in zip(names, prefill, strict=True)}


def _note(service: Service, rounds: list[Measurement]) -> str:
    said = [m.note for m in rounds if m.note]
    return f"{service.name}: {SIDES[service.name].description}" + (f"; {', '.join(said)}" if said
                                                            else "")


async def _backend(ctx: BenchContext, backend: str, sinks: dict[str, SpanSink]
                   ) -> list[Figure]:
    sizes = ctx.sizes
    measured = sides(sizes)
    events = await recorded_events(sizes.query_bookings * 3, customers=sizes.query_customers)
    bookings = bookings_of(events)
    booking_query, _ = requests(bookings, sorted({c for _, c in bookings}))["booking(id)"]
    prefill = [await prefilled(ctx, backend, events, "instrumentation") for _ in measured]
    with _servers(ctx, measured, prefill, sinks) as processes:
        async with contextlib.AsyncExitStack() as stack:
            # A side's connections idle while the others' rounds run: dropped after 2 s,
            # before uvicorn closes them (5 s), so a request never goes down a closing one.
            limits = httpx.Limits(max_connections=32, max_keepalive_connections=32,
                                  keepalive_expiry=2.0)
            services = [Service(side, process, await stack.enter_async_context(
                httpx.AsyncClient(base_url=process.base_url, headers=headers("bench-customer-0"),
                                  limits=limits, timeout=30)),
                Scrapes() if SIDES[side].metrics else None, sinks.get(side))
                for side, process in processes.items()]
            for service in services:  # warm-ups: connections, strawberry's first requests
                await command_round(service, sizes.command_warm_up_seconds)
                await at_concurrency(service.http, sizes.query_concurrency,
                                     sizes.query_warm_up_requests, booking_query)

            def commands(service: Service) -> Any:
                return lambda: command_round(service, sizes.instrumentation_command_seconds)

            def queries(service: Service) -> Any:
                async def measure() -> Measurement:
                    async with service.round():
                        return await at_concurrency(service.http, sizes.query_concurrency,
                                                    sizes.query_requests, booking_query)
                return measure

            for service in services:
                service.exports_before = len(service.sink.bodies) if service.sink else 0
            command_rounds = await rotated_rounds(sizes.instrumentation_rounds,
                                                  *map(commands, services))
            query_rounds = await rotated_rounds(sizes.instrumentation_rounds,
                                                *map(queries, services))
    bare = measured.index(BARE)
    figures = []
    for index, service in enumerate(services):
        if service.name == BARE:  # the baseline of the others
            continue
        evidence = service.evidence()
        figures += [
            figure(NAME, backend, f"{service.name} / bare: commands/s, booking lives over "
                   f"HTTP, concurrency {COMMAND_CONCURRENCY}; {TARGET} (≥ 0.95)",
                   Side.of(service.name, "commands/s", command_rounds[index]),
                   Side.of("bare", "commands/s", command_rounds[bare]),
                   higher_is_better=True,
                   note=f"{_note(service, command_rounds[index])}; {evidence}"),
            figure(NAME, backend, f"{service.name} / bare: Booking query p50, concurrency "
                   f"{sizes.query_concurrency}; {TARGET} (≤ 1.05)",
                   Side.of(service.name, "ms p50", query_rounds[index], headline="p50"),
                   Side.of("bare", "ms p50", query_rounds[bare], headline="p50"),
                   higher_is_better=False,
                   note=f"{_note(service, query_rounds[index])}; {evidence}"),
        ]
        ctx.log(f"{NAME} {backend} {service.name}/bare: commands "
                f"{figures[-2].ratio:.3f} ({figures[-2].ours.value:.0f} vs "
                f"{figures[-2].baseline.value:.0f}/s), query p50 {figures[-1].ratio:.3f} "
                f"({figures[-1].ours.value:.1f} vs {figures[-1].baseline.value:.1f} ms); "
                f"{evidence}")
    return figures


def uses_mongodb(sizes: Sizes) -> bool:
    """MongoDB only in the full run: --quick keeps to the embedded default."""
    return sizes.instrumentation_mongodb


async def run(ctx: BenchContext) -> list[Figure]:
    figures: list[Figure] = []
    with contextlib.ExitStack() as stack:
        sinks = {side: stack.enter_context(SpanSink()) for side in sides(ctx.sizes)
                 if SIDES[side].exporting}
        for backend in ctx.backends:
            figures += await _backend(ctx, backend, sinks)
    return figures
