"""Per-request GraphQL context: who is calling, and the application services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request, WebSocket
from strawberry.fastapi import BaseContext

from travelbuddy.application import Caller

CUSTOMER_HEADER = "x-customer-id"
MAX_CUSTOMER_ID_LENGTH = 100


@dataclass
class GraphQLContext(BaseContext):
    """What resolvers get: the caller (None when anonymous) and the wired services."""

    caller: Caller | None
    services: Any


def caller_from_headers(headers: Any) -> Caller | None:
    """The caller named by the `X-Customer-Id` header (until token authentication lands)."""
    customer_id = (headers.get(CUSTOMER_HEADER) or "").strip()
    if not customer_id or len(customer_id) > MAX_CUSTOMER_ID_LENGTH:
        return None
    return Caller(customer_id=customer_id)


def context_getter(services: Any) -> Any:
    """A strawberry context getter bound to the application's services."""

    async def get_context(request: Request = None, websocket: WebSocket = None) -> GraphQLContext:  # type: ignore[assignment]
        connection = request if request is not None else websocket
        headers = connection.headers if connection is not None else {}
        return GraphQLContext(caller=caller_from_headers(headers), services=services)

    return get_context
