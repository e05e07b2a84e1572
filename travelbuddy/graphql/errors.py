"""Errors the client sees: GraphQL's own (syntax, validation, variables) as they are; a
store that cannot be reached as UNAVAILABLE with `retryable: true`; anything unexpected
masked, so no internal message or stack trace leaves the service.

A masked error carries an id that is also in the log line holding its traceback, so a
client's report leads to the log.
"""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types.graphql import OperationType

from travelbuddy.eventstore.port import StoreUnavailable
from travelbuddy.observability.logs import get_logger

log = get_logger(__name__)

INTERNAL = "INTERNAL"
BAD_USER_INPUT = "BAD_USER_INPUT"
UNAVAILABLE = "UNAVAILABLE"
UNAVAILABLE_MESSAGE = "The booking store is unavailable right now; retry shortly"


# What strawberry raises for a request that names no operation it may run (over a
# websocket it wraps them as if unexpected): the client's errors, not the service's.
_CLIENT_EXCEPTIONS = (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError)


def _is_internal(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, *_CLIENT_EXCEPTIONS))


def _is_clients(error: GraphQLError) -> bool:
    """A syntax error, or no operation to run: what the client sent is not a request."""
    return (isinstance(error, GraphQLSyntaxError)
            or isinstance(error.original_error, _CLIENT_EXCEPTIONS))


def _is_outage(error: GraphQLError) -> bool:
    return isinstance(error.original_error, StoreUnavailable)


def _error_id(error: GraphQLError) -> str:
    """The error's id, given (and its traceback logged) the first time it is asked for."""
    extensions = error.extensions if error.extensions is not None else {}
    error.extensions = extensions
    if "error_id" not in extensions:
        extensions["error_id"] = uuid.uuid4().hex[:12]
        log.error("internal_error", error_id=extensions["error_id"],
                  path=".".join(str(p) for p in error.path or ()), exc_info=error.original_error)
    return str(extensions["error_id"])


class ServiceSchema(strawberry.Schema):
    """A strawberry schema that logs an internal error once, with its id, and the errors
    clients cause (syntax, validation, limits) at INFO: a client cannot fill the error log.

    `execute` answers one result, so it runs no subscription: a subscription sent over plain
    HTTP is refused (the HTTP view answers 400) instead of failing inside graphql-core.
    Websockets subscribe through `subscribe`, which this leaves alone. A syntax error
    (an invalid character, a lone surrogate in a string) and an operation name the
    document does not define get the client's code, BAD_USER_INPUT."""

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        allowed = kwargs.get("allowed_operation_types") or DEFAULT_ALLOWED_OPERATION_TYPES
        kwargs["allowed_operation_types"] = set(allowed) - {OperationType.SUBSCRIPTION}
        return await super().execute(*args, **kwargs)

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        for error in errors:
            if _is_outage(error):
                log.warning("store_unavailable", path=".".join(str(p) for p in error.path or ()),
                            error=str(error.original_error))
            elif _is_internal(error):
                _error_id(error)
            else:
                if _is_clients(error):
                    error.extensions = {"code": BAD_USER_INPUT, **(error.extensions or {})}
                    # Over a websocket strawberry would close the socket with the text of
                    # this exception, which quotes the client's operation name: too long
                    # for a close frame, or not encodable. An error of the operation.
                    error.original_error = None
                log.info("graphql_error", message=error.message)


class MaskInternalErrors(MaskErrors):
    """Replaces an unexpected exception with "Internal server error (id …)", the id of the
    log line with its traceback; in debug mode the client sees the original message."""

    def __init__(self, debug: bool = False) -> None:
        super().__init__(should_mask_error=_is_internal)
        self.debug = debug

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if _is_outage(error):  # not a bug: the client may retry (the command id makes it safe)
            return GraphQLError(
                message=UNAVAILABLE_MESSAGE, nodes=error.nodes, source=error.source,
                positions=error.positions, path=error.path, original_error=None,
                extensions={"code": UNAVAILABLE, "retryable": True},
            )
        error_id = _error_id(error)
        message = error.message if self.debug else f"Internal server error (id {error_id})"
        return GraphQLError(
            message=message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": INTERNAL, "error_id": error_id},
        )
