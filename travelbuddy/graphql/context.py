"""Per-request GraphQL context: who is calling, and the application services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request, WebSocket
from strawberry.fastapi import BaseContext

from travelbuddy.application import Caller
from travelbuddy.graphql.authentication import Authenticator, caller_of
from travelbuddy.graphql.request_guard import verified_identity
from travelbuddy.security import InvalidToken


@dataclass
class GraphQLContext(BaseContext):
    """What resolvers get: the caller (None until authenticated), the wired services, and
    why the HTTP request's token was refused (the router answers 401 then). A websocket's
    context also carries its token's expiry and the customer whose socket it counts as."""

    caller: Caller | None
    services: Any
    authenticator: Authenticator | None = None
    refusal: InvalidToken | None = None
    token_expires_at: float | None = None
    admitted_customer: str | None = None


def context_getter(services: Any, authenticator: Authenticator | None = None) -> Any:
    """A strawberry context getter bound to the application's services. An HTTP request
    is authenticated from its `Authorization` header (already verified before its body was
    read, when it has one: see `request_guard`); a websocket later, from its
    connection_init payload (the router's `on_ws_connect`)."""
    authenticator = authenticator or Authenticator(lambda: services.settings)

    async def get_context(request: Request = None, websocket: WebSocket = None) -> GraphQLContext:  # type: ignore[assignment]
        context = GraphQLContext(caller=None, services=services, authenticator=authenticator)
        if request is not None:
            try:
                identity = verified_identity(request.scope) or await authenticator.identity(
                    request.headers.get("authorization"))
            except InvalidToken as refusal:
                context.refusal = refusal
            else:
                context.caller = caller_of(identity)
        return context

    return get_context
