"""Errors the client sees: GraphQL's own (syntax, validation, variables) as they are;
anything unexpected masked, so no internal message or stack trace leaves the service."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

log = logging.getLogger(__name__)


def _is_internal(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    log.error("event=internal_error path=%s", error.path, exc_info=original)
    return True


def mask_internal_errors() -> MaskErrors:
    """The schema extension that hides unexpected exceptions behind a generic message."""
    return MaskErrors(should_mask_error=_is_internal, error_message="Internal server error.")
