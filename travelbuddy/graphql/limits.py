"""Abuse limits of both GraphQL schemas, built from the settings: what an operation may
cost (fields, depth, aliases, repeated fields, counted in linear time: `operation_cost`),
tokens, introspection, batching, list and text input (`input_checks`), and the size of a
request body (checked before any parsing).

Parsing and validating take most of a request's CPU, and clients send the same few
documents, so both are cached (strawberry's `ParserCache`, and `CachedValidation` here,
shared by every schema in the process). The caches are keyed so that no limit is lost:

- the parse cache by the text and the token limit: a document over the limit fails to
  parse, and a failure is never cached, so it is refused every time;
- the validation cache by the GraphQL schema, the document, the validation rules and
  whether suggestions are hidden, its errors included: a document that failed validation
  fails again from the cache.

That is why the rules are built once per schema build, here: with new rule classes per
request the validation cache would never hit. Each request still gets its own extension
instances (the factories below); only the immutable rule classes are shared.

The operation-cost rule runs first and aborts the validation of a document over a limit,
so no other rule (some are quadratic in repeated fields) walks it. With introspection off,
no error carries graphql-core's "Did you mean ..." suggestions, which would name the
schema's fields and types.

Only documents of up to `CACHED_QUERY_CHARS` characters are cached, at most
`CACHE_SIZE` of them: a parsed document takes up to ~0.3 KB per character, so distinct
documents cannot pin more than some tens of megabytes. Longer ones, and any document
that fails to parse, go through strawberry's own uncached parse and an uncached
validation, with the errors reported exactly as with the caches.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxTokensLimiter, ParserCache, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from travelbuddy.config import Settings
from travelbuddy.graphql.errors import MaskInternalErrors
from travelbuddy.graphql.input_checks import input_literals_rule, request_problem
from travelbuddy.graphql.operation_cost import CostLimits, operation_cost_rule
from travelbuddy.graphql.operation_tracing import graphql_extensions

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


Rules = tuple[type[ASTValidationRule], ...]
# What strawberry's own validation adds to the rules (its `validate_document`).
STRAWBERRY_RULES: Rules = (MaybeNullValidationRule, OneOfInputValidationRule)


def _validate(schema: GraphQLSchema, document: DocumentNode, rules: Rules,
              hide_suggestions: bool) -> list[GraphQLError]:
    return validate(schema, document, rules, hide_suggestions=hide_suggestions)


_cached_validate = functools.lru_cache(maxsize=CACHE_SIZE)(_validate)


class CachedValidation(SchemaExtension):
    """The validation of every document, in place of strawberry's: `first` rules before
    the spec's, `last` after them, suggestions hidden or not; cached for documents of up
    to `CACHED_QUERY_CHARS`. A valid document's request is then checked for what no rule
    sees (`input_checks.request_problem`), uncached: the variables differ each time."""

    def __init__(self, first: Rules, last: Rules, hide_suggestions: bool,
                 check_text: bool) -> None:
        self.first, self.last, self.hide_suggestions = first, last, hide_suggestions
        self.check_text = check_text

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            context.validation_rules = (*self.first, *context.validation_rules, *self.last)
            run = _cached_validate if _cacheable(context.query) else _validate
            # Set, even when empty: strawberry then validates no second time.
            errors = run(context.schema._schema, context.graphql_document,
                         (*context.validation_rules, *STRAWBERRY_RULES), self.hide_suggestions)
            if not errors and (problem := request_problem(
                    context, check_text=self.check_text)) is not None:
                errors = [problem]  # a new list: the cached one is shared
            context.pre_execution_errors = errors
        yield


def default_settings() -> Settings:
    """The settings' defaults, without reading the environment (for the exported SDL)."""
    return Settings.model_construct()


def schema_extensions(settings: Settings, *, check_text: bool = False
                      ) -> list[ExtensionFactory]:
    """The extensions each request runs with: error masking, the limits and the caches;
    with `check_text`, text input the domain refuses is a GraphQL error (the query schema).

    The validation rules are built once, here (see the module docstring); every factory
    makes a new extension per request, so no request shares one with another."""
    cost = operation_cost_rule(CostLimits(
        max_fields=settings.graphql_max_fields, max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_repeats=settings.graphql_max_field_repeats))
    last: Rules = (input_literals_rule(check_text=check_text),)
    if not settings.graphql_introspection:
        last = (*last, NoSchemaIntrospectionCustomRule)
    hide_suggestions = not settings.graphql_introspection
    return [
        *graphql_extensions(),  # first: its span holds the others' work, sees masked errors
        lambda: MaskInternalErrors(debug=settings.debug),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        CachedParse,
        lambda: CachedValidation((cost,), last, hide_suggestions, check_text),
    ]


class ExecutionWithoutSuggestions(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution, with graphql-core's "Did you mean ..." left out of the
    errors in the variables (an enum value, an input field), which validation cannot see."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        return super().build(*args, **{**kwargs, "hide_suggestions": True})


def execution_context_class(settings: Settings) -> type[ExecutionWithoutSuggestions] | None:
    """The execution of a schema: suggestions are left out while introspection is off."""
    return None if settings.graphql_introspection else ExecutionWithoutSuggestions


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
        await answer_json(send, 413, f"The request body is over {self.max_bytes} bytes")


async def answer_json(send: Any, status: int, detail: str, *, close: bool = False) -> None:
    """Answer `{"detail": ...}` with `status` straight from an ASGI middleware; with
    `close`, the connection is closed after it."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
