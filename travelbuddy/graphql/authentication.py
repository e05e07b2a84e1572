"""Authentication at the GraphQL boundary: the bearer token of an HTTP request or of a
websocket's `connection_init` payload, verified into the application's Caller.

A request that proves no identity is refused here, before any resolver runs (and before
its body is read: see `request_guard`): HTTP 401 (403 for a valid token that names no
customer) with a JSON body, or the websocket closed with 4401 (4403; see
`websocket_handlers`). What a caller may see or change is decided further in, by the
application (`Caller`) and the query API (`Reader`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi.responses import JSONResponse

from travelbuddy.application import Caller
from travelbuddy.config import Settings
from travelbuddy.observability.logs import get_logger
from travelbuddy.security import Identity, InvalidToken, TokenVerifier, TokenWithoutCustomer

log = get_logger(__name__)

UNAUTHORIZED_CLOSE_CODE = 4401
FORBIDDEN_CLOSE_CODE = 4403


def caller_of(identity: Identity) -> Caller:
    """The application's caller for a verified identity: agents act on any booking."""
    return Caller(customer_id=identity.customer_id, may_act_on_any_booking=identity.is_agent)


class Authenticator:
    """Turns an `Authorization` value into an Identity. The verifier is built on first use
    from the running services' settings (a generated secret is created then, once), and
    shared by both endpoints, their websockets and the check before a body is read."""

    def __init__(self, settings_of: Callable[[], Settings]) -> None:
        self._settings_of = settings_of
        self._verifier: TokenVerifier | None = None

    async def identity(self, authorization: str | None) -> Identity:
        """Who the bearer token names; raises InvalidToken with the reason. Only a JWKS URL
        makes this wait (for keys fetched in a worker thread); other keys are at hand."""
        if self._verifier is None:
            self._verifier = TokenVerifier.from_settings(self._settings_of())
        token = bearer_token(authorization)
        await self._verifier.prepare_keys(token)
        return self._verifier.verify(token)


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


def refusal_response(refusal: InvalidToken, *, close: bool = False) -> JSONResponse:
    """HTTP 401 (403 for a token without a customer) with a JSON error a client can read.
    With `close`, the connection is closed after it (a body left unread is not waited for)."""
    forbidden = isinstance(refusal, TokenWithoutCustomer)
    log.info("request_refused", reason=refusal.reason)
    headers = {"WWW-Authenticate": 'Bearer error="insufficient_scope"' if forbidden
               else "Bearer"}
    if close:
        headers["Connection"] = "close"
    return JSONResponse(
        {"error": "forbidden" if forbidden else "unauthorized", "reason": refusal.reason},
        status_code=403 if forbidden else 401, headers=headers,
    )


class WebSocketRefused(Exception):
    """Raised by the router's `on_ws_connect`: close the connection with this code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    @classmethod
    def for_token(cls, refusal: InvalidToken) -> WebSocketRefused:
        """4403 for a valid token without a usable customer, 4401 for any other refusal."""
        forbidden = isinstance(refusal, TokenWithoutCustomer)
        return cls(FORBIDDEN_CLOSE_CODE if forbidden else UNAUTHORIZED_CLOSE_CODE,
                   refusal.reason)
