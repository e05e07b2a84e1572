"""Authentication at the GraphQL boundary: the bearer token of an HTTP request or of a
websocket's `connection_init` payload, verified into the application's Caller.

A request that proves no identity is refused here, before any resolver runs: HTTP 401
(403 for a valid token that names no customer) with a JSON body, or the websocket closed
with 4401 (4403). What a caller may see or change is decided further in, by the
application (`Caller`) and the query API (`Reader`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi.responses import JSONResponse
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)

from travelbuddy.application import Caller
from travelbuddy.config import Settings
from travelbuddy.security import Identity, InvalidToken, TokenVerifier, TokenWithoutCustomer

log = logging.getLogger(__name__)

UNAUTHORIZED_CLOSE_CODE = 4401
FORBIDDEN_CLOSE_CODE = 4403


def caller_of(identity: Identity) -> Caller:
    """The application's caller for a verified identity: agents act on any booking."""
    return Caller(customer_id=identity.customer_id, may_act_on_any_booking=identity.is_agent)


class Authenticator:
    """Turns an `Authorization` value into a Caller. The verifier is built on first use
    from the running services' settings (a generated secret is created then, once)."""

    def __init__(self, settings_of: Callable[[], Settings]) -> None:
        self._settings_of = settings_of
        self._verifier: TokenVerifier | None = None

    def caller(self, authorization: str | None) -> Caller:
        """The caller the bearer token names; raises InvalidToken with the reason."""
        if self._verifier is None:
            self._verifier = TokenVerifier.from_settings(self._settings_of())
        return caller_of(self._verifier.verify(bearer_token(authorization)))


def bearer_token(authorization: str | None) -> str:
    """The token of a `Bearer <token>` value; raises InvalidToken when there is none."""
    if not authorization or not authorization.strip():
        raise InvalidToken("missing bearer token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("authorization is not a bearer token")
    return token.strip()


def authorization_in(payload: Mapping[str, Any] | None) -> str | None:
    """The `Authorization` entry of a connection_init payload, whatever its case."""
    for key, value in (payload or {}).items():
        if key.lower() == "authorization" and isinstance(value, str):
            return value
    return None


def refusal_response(refusal: InvalidToken) -> JSONResponse:
    """HTTP 401 (403 for a token without a customer) with a JSON error a client can read."""
    forbidden = isinstance(refusal, TokenWithoutCustomer)
    log.info("event=request_refused reason=%r", refusal.reason)
    return JSONResponse(
        {"error": "forbidden" if forbidden else "unauthorized", "reason": refusal.reason},
        status_code=403 if forbidden else 401,
        headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"' if forbidden
                 else "Bearer"},
    )


class WebSocketRefused(Exception):
    """Raised by the router's `on_ws_connect`: close the connection with this code."""

    def __init__(self, refusal: InvalidToken) -> None:
        super().__init__(refusal.reason)
        self.reason = refusal.reason
        self.code = (FORBIDDEN_CLOSE_CODE if isinstance(refusal, TokenWithoutCustomer)
                     else UNAUTHORIZED_CLOSE_CODE)


class AuthenticatingTransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    """graphql-transport-ws with 4401/4403 for a refused `connection_init` (strawberry
    itself closes every rejection with 4403)."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except WebSocketRefused as refused:
            log.info("event=websocket_refused code=%d reason=%r", refused.code, refused.reason)
            await self.websocket.close(code=refused.code, reason=refused.reason)


class AuthenticatingLegacyWSHandler(BaseGraphQLWSHandler[Any, None]):
    """The older graphql-ws protocol, refusing the same way (it has no codes of its own)."""

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except WebSocketRefused as refused:
            log.info("event=websocket_refused code=%d reason=%r", refused.code, refused.reason)
            await self.send_message({"type": "connection_error",
                                     "payload": {"message": refused.reason}})
            await self.websocket.close(code=refused.code, reason=refused.reason)
