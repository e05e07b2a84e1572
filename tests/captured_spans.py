"""The test session's tracing: the process's one TracerProvider, installed before any test
runs (a provider can be set once per process, and PyMongo's listener reaches only clients
made after it), with an in-memory exporter that is emptied around every test.

Spans of another test's background work may still end during a test; a test asserts on
the spans of its own traces (`spans.of_trace(trace_id)`), never on all of them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from travelbuddy.config import Settings
from travelbuddy.observability.tracing import configure_tracing


class CapturedSpans(InMemorySpanExporter):
    """The finished spans of this process, as the OTLP exporter would have sent them."""

    def of_trace(self, trace_id: int) -> list[ReadableSpan]:
        return [span for span in self.get_finished_spans()
                if span.context is not None and span.context.trace_id == trace_id]


CAPTURED = CapturedSpans()


@pytest.fixture(scope="session", autouse=True)
def tracing_provider() -> None:
    configure_tracing(Settings(tracing_enabled=True), "tests",
                      span_processor=SimpleSpanProcessor(CAPTURED))


@pytest.fixture(autouse=True)
def spans(tracing_provider: None) -> Iterator[CapturedSpans]:
    """The spans that ended while the test ran."""
    CAPTURED.clear()
    yield CAPTURED
    CAPTURED.clear()
