"""Errors the client sees: GraphQL's own (syntax, validation, variables) as they are;
anything unexpected masked, so no internal message or stack trace leaves the service.

A masked error carries an id that is also in the log line holding its traceback, so a
client's report leads to the log.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

log = logging.getLogger(__name__)

INTERNAL = "INTERNAL"


def _is_internal(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def _error_id(error: GraphQLError) -> str:
    """The error's id, given (and its traceback logged) the first time it is asked for."""
    extensions = error.extensions if error.extensions is not None else {}
    error.extensions = extensions
    if "error_id" not in extensions:
        extensions["error_id"] = uuid.uuid4().hex[:12]
        log.error("event=internal_error error_id=%s path=%s", extensions["error_id"],
                  ".".join(str(p) for p in error.path or ()), exc_info=error.original_error)
    return str(extensions["error_id"])


class ServiceSchema(strawberry.Schema):
    """A strawberry schema that logs an internal error once, with its id, and the errors
    clients cause (syntax, validation, limits) at INFO: a client cannot fill the error log."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        for error in errors:
            if _is_internal(error):
                _error_id(error)
            else:
                log.info("event=graphql_error message=%r", error.message)


class MaskInternalErrors(MaskErrors):
    """Replaces an unexpected exception with "Internal server error (id …)", the id of the
    log line with its traceback; in debug mode the client sees the original message."""

    def __init__(self, debug: bool = False) -> None:
        super().__init__(should_mask_error=_is_internal)
        self.debug = debug

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
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
