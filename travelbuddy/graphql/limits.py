"""Abuse limits of both GraphQL schemas, built from the settings: depth, aliases, tokens,
introspection, batching, and the size of a request body (checked before any parsing)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig

from travelbuddy.config import Settings
from travelbuddy.graphql.errors import MaskInternalErrors

ExtensionFactory = Callable[[], SchemaExtension]


def default_settings() -> Settings:
    """The settings' defaults, without reading the environment (for the exported SDL)."""
    return Settings.model_construct()


def schema_extensions(settings: Settings) -> list[ExtensionFactory]:
    """The extensions each request runs with: error masking and the limits."""
    extensions: list[ExtensionFactory] = [
        lambda: MaskInternalErrors(debug=settings.debug),
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
    ]
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    return extensions


def schema_config(settings: Settings) -> StrawberryConfig:
    """Batching stays off unless `graphql_max_batch` allows some operations per request."""
    if settings.graphql_max_batch == 0:
        return StrawberryConfig()
    return StrawberryConfig(batching_config={"max_operations": settings.graphql_max_batch})


ASGIApp = Callable[..., Any]
GRAPHQL_PATH = "/graphql"


class BodySizeLimit:
    """ASGI middleware: a GraphQL request whose body is over `max_bytes` is answered 413
    before the application reads it, whether it says its length or streams it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GRAPHQL_PATH):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        messages: list[dict[str, Any]] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        body = json.dumps({"detail": f"The request body is over {self.max_bytes} bytes"})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body.encode()})
