"""Every GraphQL operation counted by schema, operation name and outcome, and the
queries and mutations timed (`travelbuddy_graphql_operation*`). A subscription is
counted once it ends, with the outcome of its last result; its lifetime is not a latency.

Listed first among a schema's extensions, so its end of the operation runs last: it sees
the errors as the client gets them (an internal one masked to INTERNAL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from travelbuddy.graphql.errors import BAD_USER_INPUT
from travelbuddy.observability.metrics import (
    GRAPHQL_DURATION,
    GRAPHQL_OPERATIONS,
    OPERATION_NAMES,
)

if TYPE_CHECKING:
    from travelbuddy.config import Settings

OK = "ok"
UNCODED = "GRAPHQL_ERROR"
"""The outcome of an error without a code (graphql-core's validation, a variable of the
wrong type)."""


class OperationMetrics(SchemaExtension):
    """Counts and times the operations of one schema ("command" or "query")."""

    def __init__(self, schema: str) -> None:
        self.schema = schema

    @classmethod
    def of(cls, schema: str, settings: Settings) -> list[Callable[[], OperationMetrics]]:
        """The schema's extension list entry (a factory: one instance per request); none
        with metrics off."""
        return [lambda: cls(schema)] if settings.metrics_enabled else []

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        outcome: str | None = None
        try:
            yield
        except Exception:
            # No operation it may run (no query, an unknown operation name, a subscription
            # over HTTP): the client's error, answered 400 by the view.
            outcome = BAD_USER_INPUT
            raise
        finally:
            context = self.execution_context
            operation = OPERATION_NAMES.label(_name_of(context))
            GRAPHQL_OPERATIONS.labels(self.schema, operation,
                                      outcome or _outcome(context)).inc()
            if not _is_subscription(context):
                GRAPHQL_DURATION.labels(self.schema, operation).observe(
                    time.perf_counter() - started)


def _name_of(context: Any) -> str | None:
    try:
        name = context.operation_name
    except Exception:  # a document strawberry cannot look into: no name to go by
        return None
    return name if isinstance(name, str) else None


def _outcome(context: Any) -> str:
    result = context.result
    errors: list[GraphQLError] | None = (getattr(result, "errors", None) if result is not None
                                         else context.pre_execution_errors)
    if not errors:
        return OK
    code = (errors[0].extensions or {}).get("code")
    return code if isinstance(code, str) and code else UNCODED


def _is_subscription(context: Any) -> bool:
    try:
        return bool(context.operation_type is OperationType.SUBSCRIPTION)
    except Exception:  # not parsed, or no operation of that name
        return False
