"""Per-request GraphQL context: who is calling, and the application services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request, WebSocket
from strawberry.fastapi import BaseContext

from travelbuddy.application import Caller
from travelbuddy.graphql.authentication import Authenticator
from travelbuddy.security import InvalidToken


@dataclass
class GraphQLContext(BaseContext):
    """What resolvers get: the caller (None until authenticated), the wired services, and
    why the HTTP request's token was refused (the router answers 401 then)."""

    caller: Caller | None
    services: Any
    authenticator: Authenticator | None = None
    refusal: InvalidToken | None = None


def context_getter(services: Any) -> Any:
    """A strawberry context getter bound to the application's services. An HTTP request
    is authenticated from its `Authorization` header; a websocket later, from its
    connection_init payload (the router's `on_ws_connect`)."""
    authenticator = Authenticator(lambda: services.settings)

    async def get_context(request: Request = None, websocket: WebSocket = None) -> GraphQLContext:  # type: ignore[assignment]
        context = GraphQLContext(caller=None, services=services, authenticator=authenticator)
        if request is not None:
            try:
                context.caller = authenticator.caller(request.headers.get("authorization"))
            except InvalidToken as refusal:
                context.refusal = refusal
        return context

    return get_context
