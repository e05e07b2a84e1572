"""One trace from a booking's request through the bus and back: the service with all its
workers, a real request over HTTP, on MongoDB with Kafka (a broker of this module's own)
and on the embedded default; the spans are those of the session's in-memory exporter
(tests/captured_spans.py), the trace context the one stored in the events' metadata."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, gql
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from tests.auth import bearer
from tests.captured_spans import CapturedSpans
from tests.integration.background import working
from tests.integration.graphql_calls import REQUEST_BOOKING, request_booking, trip_input
from tests.integration.served import served, service_environment
from tests.integration.test_kafka_flow import catalog_projected, settled, until
from tests.integration.test_subscriptions import next_within, websocket, with_vars
from tests.services.testbed import KafkaTestServer
from travelbuddy.app import create_app
from travelbuddy.bootstrap import EVENTS_FILE, Services, build_services
from travelbuddy.config import Settings
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.eventstore.sqlite import SqliteEventStore
from travelbuddy.integration.topics import FLIGHT_REPLIES, HOTEL_REPLIES
from travelbuddy.readmodels.runner import ProjectorRunner

TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"


@contextlib.asynccontextmanager
async def service_over_http(
    settings: Settings,
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    """The service with every worker running (as `travelbuddy serve`), served by uvicorn."""
    services = await build_services(settings)
    try:
        async with working(services):
            await until(lambda: catalog_projected(services))
            async with served(create_app(settings, services=services)) as host, \
                    httpx.AsyncClient(base_url=f"http://{host}", timeout=30) as http:
                yield services, http
    finally:
        await services.close()


@pytest.fixture(params=["mongodb-kafka", "embedded"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_name: str) -> Settings:
    if request.param == "embedded":
        return Settings(mongodb_url=None, kafka_bootstrap_servers=None,
                        data_dir=tmp_path / "data", partner_latency=0.01)
    kafka: KafkaTestServer = request.getfixturevalue("private_kafka")
    return Settings(mongodb_url=request.getfixturevalue("mongodb_url"),
                    mongodb_database=database_name, data_dir=tmp_path / "data",
                    kafka_bootstrap_servers=kafka.bootstrap_servers, partner_latency=0.01)


def trace_of(event: StoredEvent) -> tuple[int, int]:
    """The (trace id, span id) an event's stored `traceparent` names."""
    assert event.metadata.traceparent is not None, event
    version, trace_id, span_id, flags = event.metadata.traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1, "a sampled trace"
    return int(trace_id, 16), int(span_id, 16)


def ancestry(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    """The span and its ancestors, innermost first."""
    chain = [span]
    while (parent := chain[-1].parent) is not None and parent.span_id in by_id:
        chain.append(by_id[parent.span_id])
    return chain


def names(spans: Iterable[ReadableSpan]) -> list[str]:
    return [span.name for span in spans]


async def traced_booking(services: Services, http: httpx.AsyncClient, spans: CapturedSpans,
                         **request: Any) -> tuple[list[StoredEvent], list[ReadableSpan]]:
    """Request a booking (with `request`'s headers), wait for it to be confirmed and for
    the confirming appends' spans to end; its events and the spans of their trace."""
    if "headers" in request:
        answer = await http.post("/graphql/command", headers=request["headers"], json={
            "query": REQUEST_BOOKING, "variables": {"input": trip_input()}})
        assert answer.status_code == 200, answer.text
        booking_id = answer.json()["data"]["requestBooking"]["bookingId"]
    else:
        booking_id = await request_booking(http)
    await until(lambda: settled(http, [booking_id], "CONFIRMED"))
    events = await services.store.read(f"booking-{booking_id}")
    trace_id, _ = trace_of(events[0])
    appended = {span_id for _, span_id in map(trace_of, events)}

    async def appends_ended() -> bool:
        return appended <= {s.context.span_id for s in spans.of_trace(trace_id) if s.context}

    await until(appends_ended, seconds=20)
    return events, spans.of_trace(trace_id)


async def test_a_booking_request_and_its_confirmations_are_one_trace(
    settings: Settings, spans: CapturedSpans
) -> None:
    async with service_over_http(settings) as (services, http):
        events, traced = await traced_booking(services, http, spans)

    assert events[0].type == "BookingRequested"
    assert sorted(e.type for e in events[1:]) == ["FlightReserved", "HotelReserved"]
    assert len({trace_of(event)[0] for event in events}) == 1
    by_id = {span.context.span_id: span for span in traced if span.context is not None}
    # Each event's stored traceparent names the span of the append that stored it.
    appends = {event.type: by_id[trace_of(event)[1]] for event in events}
    requested, hotel, flight = (appends[name] for name in
                                ("BookingRequested", "HotelReserved", "FlightReserved"))
    request = ancestry(requested, by_id)
    assert names(request) == ["append BookingRequested", "command RequestBooking",
                              "mutation Request", "POST /graphql/command"]
    assert request[-1].kind is SpanKind.SERVER and request[-1].parent is None
    for append, command, partner, topic in (
        (hotel, "ConfirmHotelReservation", "hotel", HOTEL_REPLIES),
        (flight, "ConfirmFlightReservation", "flight", FLIGHT_REPLIES),
    ):
        chain = ancestry(append, by_id)
        assert names(chain[:5]) == [append.name, f"command {command}", f"inbound {topic}",
                                    f"{partner} partner", "relay publish"]
        assert chain[5:] == request  # the relay's publish continues the request's append
    if settings.mongodb_url is not None:  # PyMongo's async client is traced, in its place
        inserts = [span for span in traced if span.kind is SpanKind.CLIENT
                   and span.parent is not None and span.parent.span_id == trace_of(events[0])[1]]
        assert names(inserts) == [f"{settings.mongodb_database}.insert"]


def traceparent(trace_id: str = CLIENT_TRACE, span_id: str = CLIENT_SPAN) -> bytes:
    return f"00-{trace_id}-{span_id}-01".encode()


HOSTILE_TRACEPARENTS = [
    b"garbage",
    b"\xff\\",  # not UTF-8; the HTTP instrumentation alone would answer 500 to it
    traceparent(trace_id="0" * 32),  # the invalid trace id
    traceparent(span_id="0" * 16),
    b"ff-" + traceparent()[3:],  # a version that may never be
    traceparent(trace_id=CLIENT_TRACE.upper()),
    traceparent()[:-1],
    traceparent() + b"-" + b"x" * 60_000,
    traceparent() + b"," + traceparent(trace_id="1" * 32),  # two: which one?
]


async def request_over(http: httpx.AsyncClient, services: Services,
                       headers: list[tuple[bytes, bytes]]) -> StoredEvent:
    """Request a booking with these extra headers; the event it stored."""
    answer = await http.post("/graphql/command", headers=[
        (b"authorization", bearer("alice")["Authorization"].encode()), *headers,
    ], json={"query": REQUEST_BOOKING, "variables": {"input": trip_input()}})
    assert answer.status_code == 200, answer.text
    result = answer.json()["data"]["requestBooking"]
    assert result["__typename"] == "CommandAccepted", result
    [event] = await services.store.read(f"booking-{result['bookingId']}")
    return event


async def test_a_clients_traceparent_is_continued_into_the_stored_event(
    services: Services, live_server: str, spans: CapturedSpans
) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live_server}") as http:
        event = await request_over(http, services, [(b"traceparent", traceparent()),
                                                    (b"tracestate", b"vendor=opaque")])
        long_state = ",".join(f"v{i}={'x' * 250}" for i in range(8)).encode()
        too_long = await request_over(http, services, [(b"traceparent", traceparent()),
                                                       (b"tracestate", long_state)])

    assert trace_of(event)[0] == int(CLIENT_TRACE, 16)
    assert event.metadata.tracestate == "vendor=opaque"
    servers = [s for s in spans.of_trace(int(CLIENT_TRACE, 16)) if s.kind is SpanKind.SERVER]
    assert len(servers) == 2  # both requests' spans are children of the client's span
    assert all(s.parent is not None and s.parent.is_remote
               and s.parent.span_id == int(CLIENT_SPAN, 16) for s in servers)
    assert trace_of(too_long)[0] == int(CLIENT_TRACE, 16)
    assert too_long.metadata.tracestate is None  # kept only up to 512 characters


@pytest.mark.parametrize("value", HOSTILE_TRACEPARENTS, ids=range(len(HOSTILE_TRACEPARENTS)))
async def test_a_malformed_or_hostile_traceparent_is_ignored(
    services: Services, live_server: str, value: bytes
) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live_server}") as http:
        event = await request_over(http, services, [(b"traceparent", value),
                                                    (b"tracestate", value),
                                                    (b"user-agent", value)])

    trace_id, _ = trace_of(event)  # a trace of the service's own, well formed
    assert trace_id not in (0, int(CLIENT_TRACE, 16))


async def test_the_trace_context_is_stored_without_an_exporter_and_not_at_all_when_off(
    tmp_path: Path,
) -> None:
    """What a process does outside the tests (whose provider records spans): without
    OTEL_EXPORTER_OTLP_ENDPOINT it records no span but still stores the trace context
    (not sampled); with TRAVELBUDDY_TRACING_ENABLED=false it stores none."""
    stored = {}
    for mode in ("default", "off"):
        env = service_environment(Settings(mongodb_url=None, data_dir=tmp_path / mode))
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        if mode == "off":
            env["TRAVELBUDDY_TRACING_ENABLED"] = "false"
        process = await asyncio.create_subprocess_exec(
            TRAVELBUDDY, "seed", "--bookings", "1", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await process.communicate()
        assert process.returncode == 0, output.decode()
        store = SqliteEventStore(tmp_path / mode / EVENTS_FILE)
        stored[mode] = [event.metadata async for event in store.read_all()]
        store.close()

    [default], [off] = stored["default"], stored["off"]
    assert default.traceparent is not None
    version, trace_id, span_id, flags = default.traceparent.split("-")
    assert version == "00" and int(trace_id, 16) and int(span_id, 16)
    assert not int(flags, 16) & 1  # not sampled: nothing records it
    assert (off.traceparent, off.tracestate) == (None, None)


async def test_a_subscription_is_one_operation_span_for_as_long_as_it_lasts(
    services: Services, live_server: str, projector: ProjectorRunner, spans: CapturedSpans
) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live_server}") as http:
        event = await request_over(http, services, [])
    watch = gql("subscription Watch($id: ID!) { bookingUpdated(bookingId: $id) { version } }")

    def watching() -> list[ReadableSpan]:
        return [s for s in spans.get_finished_spans() if s.name == "subscription Watch"]

    async def ended() -> bool:
        return bool(watching())

    async with Client(transport=websocket(live_server, "alice")) as ws:
        updates = ws.subscribe(with_vars(watch, {"id": event.stream_id.removeprefix("booking-")}))
        assert (await next_within(updates, 5.0))["bookingUpdated"] == {"version": 1}
        assert watching() == []  # still open
    await until(ended, seconds=10)  # once the client is gone

    [span] = watching()
    assert span.attributes is not None
    assert span.attributes["graphql.operation.type"] == "subscription"
    assert span.parent is not None  # the websocket's span
