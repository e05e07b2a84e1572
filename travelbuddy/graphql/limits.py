"""Abuse limits of both GraphQL schemas, built from the settings: depth, aliases, tokens,
introspection, batching, and the size of a request body (checked before any parsing).

Parsing and validating take most of a request's CPU, and clients send the same few
documents, so both are cached (strawberry's `ParserCache` and `ValidationCache`, shared by
every schema in the process). The caches are keyed so that no limit is lost:

- the parse cache by the text and the token limit: a document over the limit fails to
  parse, and a failure is never cached, so it is refused every time;
- the validation cache by the GraphQL schema, the document and the validation rules, its
  errors included: a document that failed validation fails again from the cache.

That is why the depth, alias and introspection rules are built once per schema build,
here: `QueryDepthLimiter` and `MaxAliasesLimiter` create a new rule class each time they
are constructed, and with new rules per request the validation cache would never hit.
Each request still gets its own extension instances (the factories below); only the
immutable rule classes are shared.

Only documents of up to `CACHED_QUERY_CHARS` characters are cached, at most
`CACHE_SIZE` of them: a parsed document takes up to ~0.3 KB per character, so distinct
documents cannot pin more than some tens of megabytes. Longer ones, and any document
that fails to parse, go through strawberry's own uncached parse and validation, with the
errors reported exactly as without the caches.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from travelbuddy.config import Settings
from travelbuddy.graphql.errors import MaskInternalErrors

ExtensionFactory = Callable[[], SchemaExtension]

CACHE_SIZE = 128
CACHED_QUERY_CHARS = 2_048  # the repository's operations are under 700 characters


def _cacheable(query: str | None) -> bool:
    return query is not None and len(query) <= CACHED_QUERY_CHARS


class CachedParse(ParserCache):
    """strawberry's `ParserCache` for documents of up to `CACHED_QUERY_CHARS`."""

    def __init__(self) -> None:
        super().__init__(maxsize=CACHE_SIZE)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if _cacheable(context.query):
            # A failure (syntax, too many tokens) leaves the document unset: strawberry
            # then parses it itself and reports the error as it would without the cache.
            with contextlib.suppress(Exception):
                context.graphql_document = self.cached_parse_document(
                    context.query, **context.parse_options)
        yield


class CachedValidation(ValidationCache):
    """strawberry's `ValidationCache` for documents of up to `CACHED_QUERY_CHARS`."""

    def __init__(self) -> None:
        super().__init__(maxsize=CACHE_SIZE)

    def on_validate(self) -> Iterator[None]:
        if _cacheable(self.execution_context.query):
            yield from super().on_validate()
        else:
            yield


def default_settings() -> Settings:
    """The settings' defaults, without reading the environment (for the exported SDL)."""
    return Settings.model_construct()


def schema_extensions(settings: Settings) -> list[ExtensionFactory]:
    """The extensions each request runs with: error masking, the limits and the caches.

    The validation rules are built once, here (see the module docstring); every factory
    makes a new extension per request, so no request shares one with another."""
    # Built only for their rule classes: these instances never run as extensions.
    limiters: list[AddValidationRules] = [
        QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
    ]
    if not settings.graphql_introspection:
        limiters.append(DisableIntrospection())
    rules = [rule for limiter in limiters for rule in limiter.validation_rules]
    return [
        lambda: MaskInternalErrors(debug=settings.debug),
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        CachedParse,
        CachedValidation,
    ]


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
