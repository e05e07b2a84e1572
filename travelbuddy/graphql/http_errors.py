"""HTTP errors of the GraphQL endpoints as JSON, like the 401s of `authentication`:
`{"error": ..., "reason": ...}`, never strawberry's plain text; and the checks of a request
body that only the HTTP view sees (its bytes, its `operationName`)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from cross_web import HTTPException
from fastapi.responses import JSONResponse

from travelbuddy.domain.text import text_fault
from travelbuddy.observability.logs import get_logger

log = get_logger(__name__)


def error_response(error: HTTPException) -> JSONResponse:
    """The HTTP view's refusal (400, 404, 405, ...) as a JSON body a client can read."""
    # A reason may quote what the client sent; a lone surrogate must not break the answer.
    reason = error.reason.encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        name = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_")
    except ValueError:
        name = "bad_request"
    log.info("request_refused", status=error.status_code, reason=reason)
    return JSONResponse({"error": name, "reason": reason}, status_code=error.status_code)


def operation_name_problem(name: Any) -> str | None:
    """Why a request's `operationName` cannot name an operation, or None."""
    if name is None:
        return None
    if not isinstance(name, str):
        return "The operationName must be a string or null"
    if (fault := text_fault(name)) is not None:
        return f"The operationName contains {fault}"
    return None
