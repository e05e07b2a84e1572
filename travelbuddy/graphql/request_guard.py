"""ASGI middleware in front of everything else: a GraphQL request that carries a body is
authenticated from its headers before one byte of the body is read, and no client takes
longer than `http_body_timeout_seconds` to send a body.

Without it, the body limit (`limits.BodySizeLimit`) buffered up to 1.1 MB of anybody's
body before the token was looked at: 200 unauthenticated bodies held one byte short took
the server from 92 to 293 MB. Now such a request is answered 401 (403) with the
connection closed, its body never read; an authenticated client that stalls is answered
408, also closing the connection. A client that goes away mid-body is simply forgotten.

The verified identity travels in the request's scope (`verified_identity`), so the
GraphQL context does not verify the same token twice. Requests without a body (GraphiQL's
page, queries over GET, health checks) pass untouched: the router refuses a GET query
without a token itself.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from travelbuddy.graphql.authentication import Authenticator, refusal_response
from travelbuddy.graphql.limits import GRAPHQL_PATH, answer_json
from travelbuddy.observability.logs import get_logger
from travelbuddy.security import Identity, InvalidToken

log = get_logger(__name__)

IDENTITY_KEY = "travelbuddy.identity"


def verified_identity(scope: Scope) -> Identity | None:
    """The identity `RequestGuard` verified for this request, if it did."""
    identity = (scope.get("state") or {}).get(IDENTITY_KEY)
    return identity if isinstance(identity, Identity) else None


class _BodyTimedOut(Exception):
    pass


class _ClientGone(Exception):
    pass


class RequestGuard:
    """Authentication before the body, and a deadline for the body (see the module doc)."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, body_timeout: float) -> None:
        self.app = app
        self.authenticator = authenticator
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(GRAPHQL_PATH):
            try:
                identity = await self.authenticator.identity(_header(scope, b"authorization"))
            except InvalidToken as refusal:
                await refusal_response(refusal, close=True)(scope, receive, send)
                return
            scope.setdefault("state", {})[IDENTITY_KEY] = identity
        await self._with_body_deadline(scope, receive, send)

    async def _with_body_deadline(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        body_complete = False
        response_started = False

        async def receive_in_time() -> Message:
            nonlocal body_complete
            if body_complete:  # later reads only wait for a disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _BodyTimedOut from None
            if message["type"] == "http.disconnect":
                raise _ClientGone
            body_complete = not message.get("more_body", False)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_in_time, tracked_send)
        except _BodyTimedOut:
            log.info("request_body_timeout", path=scope["path"], seconds=self.body_timeout)
            if not response_started:
                await answer_json(send, 408, f"The request body took over "
                                  f"{self.body_timeout:g} seconds", close=True)
        except _ClientGone:
            pass


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return (length is not None and length.strip() not in ("", "0")) or (
        _header(scope, b"transfer-encoding") is not None)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None

