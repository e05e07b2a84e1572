"""OpenTelemetry tracing: one TracerProvider per process, spans of the service's own work,
and the W3C trace context carried from a command into its event's metadata, from there
into the bus message the relay publishes, through the partners' replies and back into
the command the inbound consumer runs, so a booking's request and its confirmations are
one trace.

Three modes, chosen once per process by `configure_tracing`:

- `TRAVELBUDDY_TRACING_ENABLED=false`: nothing at all (no provider, no instrumentation,
  no trace context in events or messages); every helper here is a plain call.
- the default, without `OTEL_EXPORTER_OTLP_ENDPOINT`: the service's own spans (commands,
  appends, batches, publishes, messages) are started, so trace and span ids exist for the
  logs and travel on, but none is recorded (the sampler drops them all, so no attributes
  are kept and nothing is exported). Nothing that would only be recorded is done: no HTTP
  or GraphQL operation spans, no PyMongo instrumentation.
- with the endpoint: spans are recorded and exported over OTLP/HTTP in batches; the
  standard `OTEL_TRACES_SAMPLER_ARG` (with `OTEL_TRACES_SAMPLER=parentbased_traceidratio`
  or `traceidratio`) records that share of the traces the service starts, all by default.

Root spans are the service's operations (an HTTP request, a projection batch, a consumed
message); a database call outside any of them (a change feed's poll, a lease renewal) is
not recorded. Client influence: a request's `traceparent` (and `tracestate`, kept only up
to MAX_TRACESTATE_CHARS) continue the client's trace; anything malformed is ignored, and
`baggage` is never read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import set_global_textmap
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from travelbuddy.domain.errors import DomainError
from travelbuddy.eventstore.port import (
    ConcurrencyError,
    DuplicateCommand,
    EventMetadata,
    EventStore,
    NewEvent,
    StoredEvent,
)

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Receive, Scope, Send

    from travelbuddy.config import Settings
    from travelbuddy.domain.commands import Command
    from travelbuddy.integration.bus import Message

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")

TRACER = trace.get_tracer("travelbuddy")
W3C = TraceContextTextMapPropagator()
MAX_TRACESTATE_CHARS = 512
"""Longer `tracestate`s are dropped (W3C lets a hop truncate them), so a client cannot
make every event it causes carry kilobytes of it."""
MAX_LINKS = 128
"""The most events a projection batch's span links to (the SDK's own limit)."""
UNTRACED_URLS = "/healthz$,/readyz$,/metrics$,/assets/"


class _Tracing:
    enabled = False
    recording = False


_TRACING = _Tracing()


def configure_tracing(
    settings: Settings, role: str, *, span_processor: SpanProcessor | None = None
) -> None:
    """Install the process's TracerProvider (once: later calls change nothing).

    The service name is `OTEL_SERVICE_NAME`, else `travelbuddy-<role>`. Spans are exported
    over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set;
    `span_processor` (a test's in-memory exporter) receives them too and makes them recorded.
    """
    if _TRACING.enabled or not settings.tracing_enabled:
        return
    exporting = bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                     or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    recording = exporting or span_processor is not None
    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"travelbuddy-{role}"}
    sampler = ParentBased(root=_ServiceRoots(_sampled_share())) if recording else ALWAYS_OFF
    provider = TracerProvider(resource=Resource.create(named), sampler=sampler)
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if span_processor is not None:
        provider.add_span_processor(span_processor)
    trace.set_tracer_provider(provider)
    set_global_textmap(W3C)  # what the HTTP instrumentation reads: no baggage from clients
    if recording:  # database spans only when someone will see them
        from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

        PymongoInstrumentor().instrument(tracer_provider=provider)
    _TRACING.enabled, _TRACING.recording = True, recording


def _sampled_share() -> float:
    """The share of root traces recorded: OTEL_TRACES_SAMPLER_ARG under a ratio sampler,
    else all of them (an unreadable value: all of them too)."""
    if os.environ.get("OTEL_TRACES_SAMPLER") not in ("traceidratio", "parentbased_traceidratio"):
        return 1.0
    try:
        share = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1"))
    except ValueError:
        return 1.0
    return min(max(share, 0.0), 1.0)


class _ServiceRoots(Sampler):
    """Records `share` of the traces the service starts (by trace id), never one started by
    a client call (a database command or the like outside any operation of the service)."""

    def __init__(self, share: float = 1.0) -> None:
        self._share = TraceIdRatioBased(share)

    def should_sample(self, parent_context: Any, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Any = None,
                      links: Any = None, trace_state: Any = None) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._share.should_sample(parent_context, trace_id, name, kind, attributes,
                                         links, trace_state)

    def get_description(self) -> str:
        return f"ServiceRoots({self._share.rate})"


# --- the trace context on events and messages ------------------------------------------


def current_trace_context() -> tuple[str | None, str | None]:
    """The current span's `traceparent` and `tracestate` (None, None without one)."""
    if not _TRACING.enabled:
        return None, None
    carrier: dict[str, str] = {}
    W3C.inject(carrier)
    tracestate = carrier.get("tracestate")
    if tracestate is not None and len(tracestate) > MAX_TRACESTATE_CHARS:
        tracestate = None
    return carrier.get("traceparent"), tracestate


def outgoing_headers() -> list[tuple[str, bytes]]:
    """Message headers carrying the current trace context (none without one)."""
    traceparent, tracestate = current_trace_context()
    return [(name, value.encode()) for name, value in
            (("traceparent", traceparent), ("tracestate", tracestate)) if value]


def _continued(carrier: Mapping[str, str]) -> otel_context.Context | None:
    """The context continuing the trace a carrier names; None when it names none (or
    something malformed), so the span is a child of the current one instead."""
    if "traceparent" not in carrier:
        return None
    continued = W3C.extract(carrier)
    return continued if trace.get_current_span(continued).get_span_context().is_valid else None


def _of_event(metadata: EventMetadata) -> otel_context.Context | None:
    if metadata.traceparent is None:
        return None
    carrier = {"traceparent": metadata.traceparent}
    if metadata.tracestate:
        carrier["tracestate"] = metadata.tracestate
    return _continued(carrier)


def _of_message(headers: Sequence[tuple[str, bytes]]) -> otel_context.Context | None:
    # Header values are whatever a producer sent: undecodable bytes are just not a context.
    return _continued({name: value.decode("utf-8", "replace") for name, value in headers
                       if name in ("traceparent", "tracestate")})


# --- spans ------------------------------------------------------------------------------


def _refusal(error: BaseException) -> str | None:
    """The outcome a refusal stands for (not an error of the service), else None."""
    if isinstance(error, DomainError):
        return error.code
    if isinstance(error, ConcurrencyError):
        return "conflict"
    if isinstance(error, DuplicateCommand):
        return "duplicate"
    return None


@contextlib.contextmanager
def _span(name: str, attributes: dict[str, Any], *, kind: SpanKind = SpanKind.INTERNAL,
          parent: otel_context.Context | None = None, links: Sequence[Link] = (),
          start_time: int | None = None) -> Iterator[Span]:
    """A current span; a refusal is its outcome attribute, any other exception an error."""
    with TRACER.start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes if _TRACING.recording else None,
        links=links, start_time=start_time, record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as error:
            if (outcome := _refusal(error)) is not None:
                span.set_attribute("travelbuddy.outcome", outcome)
            else:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise


def traced_command(
    handle: Callable[Concatenate[S, Command, P], Awaitable[R]],
) -> Callable[Concatenate[S, Command, P], Awaitable[R]]:
    """A span around deciding and appending one command (BookingCommands.handle)."""

    @functools.wraps(handle)
    async def traced(self: S, command: Command, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if not _TRACING.enabled:
            return await handle(self, command, *args, **kwargs)
        name = type(command).__name__
        with _span(f"command {name}", {"travelbuddy.command": name,
                                       "travelbuddy.booking_id": command.booking_id}) as span:
            outcome = await handle(self, command, *args, **kwargs)
            span.set_attribute("travelbuddy.outcome",
                               "replayed" if getattr(outcome, "replayed", False) else "accepted")
            return outcome

    return traced


async def traced_append(
    store: EventStore, stream_id: str, expected_version: int, events: Sequence[NewEvent]
) -> int:
    """`store.append` in a span whose trace context each event's metadata records: what
    the relay's publish of the event continues."""
    if not _TRACING.enabled:
        return await store.append(stream_id, expected_version, events)
    name = f"append {events[0].type}" if events else "append"
    with _span(name, {"travelbuddy.stream_id": stream_id,
                      "travelbuddy.expected_version": expected_version}):
        traceparent, tracestate = current_trace_context()
        stamped = [dataclasses.replace(event, metadata=dataclasses.replace(
            event.metadata, traceparent=traceparent, tracestate=tracestate)) for event in events]
        return await store.append(stream_id, expected_version, stamped)


class _Follower(Protocol):
    name: str


F = TypeVar("F", bound=_Follower)


def traced_batch(
    apply: Callable[Concatenate[F, Sequence[StoredEvent], P], Awaitable[R]],
) -> Callable[Concatenate[F, Sequence[StoredEvent], P], Awaitable[R]]:
    """A span around one batch of a follower (ProjectorRunner.apply), linked to the
    traces of its events."""

    @functools.wraps(apply)
    async def traced(self: F, events: Sequence[StoredEvent], /, *args: P.args,
                     **kwargs: P.kwargs) -> R:
        if not _TRACING.enabled or not events:
            return await apply(self, events, *args, **kwargs)
        with _span(f"projection batch {self.name}", {"travelbuddy.follower": self.name,
                                                     "travelbuddy.events": len(events)}) as span:
            if span.is_recording():
                for event in events[:MAX_LINKS]:
                    if (parent := _of_event(event.metadata)) is not None:
                        span.add_link(trace.get_current_span(parent).get_span_context())
            return await apply(self, events, *args, **kwargs)

    return traced


def traced_publish(
    publish: Callable[Concatenate[S, StoredEvent, P], Awaitable[R]],
) -> Callable[Concatenate[S, StoredEvent, P], Awaitable[R]]:
    """A span around the relay's publish of one event (retries included), continuing the
    trace of the append that stored it; `outgoing_headers()` inside carry it on."""

    @functools.wraps(publish)
    async def traced(self: S, event: StoredEvent, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if not _TRACING.enabled:
            return await publish(self, event, *args, **kwargs)
        batch = trace.get_current_span().get_span_context()
        with _span("relay publish", {"travelbuddy.event_id": event.metadata.event_id,
                                     "travelbuddy.event_type": event.type,
                                     "travelbuddy.stream_id": event.stream_id},
                   kind=SpanKind.PRODUCER, parent=_of_event(event.metadata),
                   links=[Link(batch)] if batch.is_valid else ()):
            return await publish(self, event, *args, **kwargs)

    return traced


@contextlib.contextmanager
def consuming(message: Message, name: str, start_time: int | None = None) -> Iterator[None]:
    """A span of handling a bus message, continuing the trace its headers carry."""
    if not _TRACING.enabled:
        yield
        return
    with _span(name, {"messaging.destination.name": message.topic,
                      "messaging.destination.partition.id": str(message.partition),
                      "messaging.kafka.offset": message.offset},
               kind=SpanKind.CONSUMER, parent=_of_message(message.headers),
               start_time=start_time):
        yield


def traced_message(
    name: str,
) -> Callable[[Callable[Concatenate[S, Message, P], Awaitable[R]]],
              Callable[Concatenate[S, Message, P], Awaitable[R]]]:
    """A `consuming` span around a method handling one message (the inbound consumer's)."""

    def decorate(
        handle: Callable[Concatenate[S, Message, P], Awaitable[R]],
    ) -> Callable[Concatenate[S, Message, P], Awaitable[R]]:
        @functools.wraps(handle)
        async def traced(self: S, message: Message, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with consuming(message, f"{name} {message.topic}"):
                return await handle(self, message, *args, **kwargs)

        return traced

    return decorate


# --- HTTP (GraphQL operations: graphql/operation_tracing.py) ------------------------


def tracing_recorded() -> bool:
    """Whether this process records spans (tracing on, and an exporter to send them to):
    the spans that serve nothing but a trace viewer are made only then."""
    return _TRACING.recording


def instrument_http(app: FastAPI) -> None:
    """FastAPI's instrumentation on the app (a span per request and websocket, continuing a
    client's valid `traceparent`), behind a guard that keeps it from answering 500; only
    when spans are recorded."""
    if not _TRACING.recording:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED_URLS,
                                       exclude_spans=["receive", "send"])
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: Utf8Headers(build())  # type: ignore[method-assign]


class Utf8Headers:
    """Replaces header values that are not UTF-8 before the instrumentation reads them.

    It decodes such a value as `unicode_escape`, which raises on some (`traceparent: \\xff\\`
    or the same `User-Agent`), and the request is answered 500. No value this service reads
    means anything when it is not UTF-8, so the replacement changes no answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope.get("headers")
        if headers and not all(value.isascii() for _, value in headers):
            scope = dict(scope, headers=[(name, value.decode("utf-8", "replace").encode())
                                         for name, value in headers])
        await self.app(scope, receive, send)
