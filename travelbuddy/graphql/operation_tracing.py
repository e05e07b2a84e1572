"""GraphQL operations as spans: the schemas' tracing extension (observability/tracing.py
sets tracing up)."""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from strawberry.extensions import SchemaExtension

from travelbuddy.observability.metrics import ANONYMOUS, MAX_OPERATION_NAME_CHARS
from travelbuddy.observability.tracing import TRACER, tracing_recorded


class GraphQLTracing(SchemaExtension):
    """One span per GraphQL operation (queries, mutations, subscriptions), current while it
    executes, so the command it sends is its child. Neither the document nor the
    variables are recorded (they hold travelers' names)."""

    def on_operation(self) -> Iterator[None]:
        span = self._span = TRACER.start_span("graphql operation")
        try:
            yield
        finally:
            if span.is_recording():
                self._describe(span)
            span.end()

    def on_execute(self) -> Iterator[None]:
        # A subscription's execution hook covers only setting it up: its span stays open
        # for the subscription's life, current for none of its pushes.
        token = otel_context.attach(trace.set_span_in_context(self._span))
        try:
            yield
        finally:
            otel_context.detach(token)

    def _describe(self, span: Span) -> None:
        execution = self.execution_context
        try:
            kind: str = execution.operation_type.value
        except Exception:  # no document, or no such operation: graphql-core said so
            kind = "graphql"
        name = (execution.operation_name or ANONYMOUS)[:MAX_OPERATION_NAME_CHARS]
        span.update_name(f"{kind} {name}")
        span.set_attribute("graphql.operation.type", kind)
        span.set_attribute("graphql.operation.name", name)
        result = execution.result
        errors = (result.errors if result is not None else None) or execution.pre_execution_errors
        if errors:
            code = str((errors[0].extensions or {}).get("code", "GRAPHQL_ERROR"))
            span.set_attribute("travelbuddy.outcome", code)
            if code == "INTERNAL":
                span.set_status(Status(StatusCode.ERROR, code))


def graphql_extensions() -> list[type[SchemaExtension]]:
    """The schemas' tracing extension, when spans are recorded."""
    return [GraphQLTracing] if tracing_recorded() else []
