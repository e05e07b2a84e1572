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
- default (full run): metrics on (scraped too), tracing on without an endpoint, as the
  service runs out of the box: its spans are started but not recorded.

Figures: commands/s over HTTP (booking lives as mutations on /graphql/command,
concurrency 8) and the p50 of the `Booking` query on /graphql (concurrency 16), each as
instrumented / bare (and default / bare). The target: at most 5 % slower.
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

INSTRUMENTED, BARE, DEFAULT = "instrumented", "bare", "default"
DESCRIPTION = {
    INSTRUMENTED: "metrics on (scraped every 1 s), tracing exporting over OTLP/HTTP",
    BARE: "metrics and tracing off",
    DEFAULT: "metrics on (scraped every 1 s), tracing on, no exporter",
}


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


def _variables(side: str, sink: SpanSink) -> dict[str, str]:
    metrics, tracing = ("false", "false") if side == BARE else ("true", "true")
    variables = {"TRAVELBUDDY_METRICS_ENABLED": metrics, "TRAVELBUDDY_TRACING_ENABLED": tracing}
    if side == INSTRUMENTED:
        variables["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
    return variables


@contextlib.contextmanager
def _servers(ctx: BenchContext, sides: list[str], prefill: list[dict[str, str]],
             sink: SpanSink) -> Iterator[dict[str, ServiceProcess]]:
    with contextlib.ExitStack() as stack:
        yield {side: stack.enter_context(bench_server(
            data | _variables(side, sink), ctx.folder(f"instrumentation-{side}"),
            ctx.sizes.time_limit)) for side, data in zip(sides, prefill, strict=True)}


def _note(service: Service, rounds: list[Measurement]) -> str:
    said = [m.note for m in rounds if m.note]
    return f"{service.name}: {DESCRIPTION[service.name]}" + (f"; {', '.join(said)}" if said
                                                            else "")


async def _backend(ctx: BenchContext, backend: str, sink: SpanSink) -> list[Figure]:
    sizes = ctx.sizes
    sides = [INSTRUMENTED, BARE] + ([DEFAULT] if sizes.instrumentation_default else [])
    events = await recorded_events(sizes.query_bookings * 3, customers=sizes.query_customers)
    bookings = bookings_of(events)
    booking_query, _ = requests(bookings, sorted({c for _, c in bookings}))["booking(id)"]
    prefill = [await prefilled(ctx, backend, events, "instrumentation") for _ in sides]
    with _servers(ctx, sides, prefill, sink) as processes:
        async with contextlib.AsyncExitStack() as stack:
            limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
            services = [Service(side, process, await stack.enter_async_context(
                httpx.AsyncClient(base_url=process.base_url, headers=headers("bench-customer-0"),
                                  limits=limits, timeout=30)),
                None if side == BARE else Scrapes()) for side, process in processes.items()]
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

            exported_before = len(sink.bodies)
            command_rounds = await rotated_rounds(sizes.instrumentation_rounds,
                                                  *map(commands, services))
            query_rounds = await rotated_rounds(sizes.instrumentation_rounds,
                                                *map(queries, services))
    # The exporter sends a batch every 5 s or 512 spans: whatever the last rounds left is
    # not waited for (the servers are stopped), what was exported during them is counted.
    exports = sink.bodies[exported_before:]
    if not exports:
        raise RuntimeError("the instrumented server exported no spans")
    exported = (f"; spans exported: {SpanSink.spans_in(exports):,} in {len(exports)} OTLP "
                "requests")
    bare = sides.index(BARE)
    figures = []
    for index, service in enumerate(services):
        if service.scrapes is None:  # the bare side: the baseline of the others
            continue
        evidence = (f"/metrics scraped {service.scrapes.done} times "
                    f"({service.scrapes.failed} failed)"
                    + (exported if service.name == INSTRUMENTED else ""))
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
    with SpanSink() as sink:
        for backend in ctx.backends:
            figures += await _backend(ctx, backend, sink)
    return figures
