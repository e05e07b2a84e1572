"""Both schemas cache parsing and validation (see `travelbuddy.graphql.limits`): a document
sent again is neither parsed nor validated again, and every limit still refuses a document
each time it is sent, whichever app or schema cached it first."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from graphql.language.parser import Parser
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension

from tests.auth import bearer
from travelbuddy.graphql.limits import (
    CACHED_QUERY_CHARS,
    CachedValidation,
    default_settings,
    schema_extensions,
)

QUERY_URL, COMMAND_URL = "/graphql", "/graphql/command"
Json = dict[str, Any]


@pytest.fixture
def backend() -> str:
    """Parsing and validation do not depend on the stores: the embedded default is enough."""
    return "embedded"


async def ask(http: httpx.AsyncClient, query: str, url: str = QUERY_URL) -> Json:
    response = await http.post(url, json={"query": query}, headers=bearer("alice"))
    assert response.status_code == 200, response.text[:300]
    answer: Json = response.json()
    return answer


def refused(answer: Json, message: str) -> None:
    assert answer.get("data") is None, answer
    assert any(message in error["message"] for error in answer["errors"]), answer


def nested(selection: str, levels: int) -> str:
    for _ in range(levels):
        selection = f"hotelStay {{ {selection} }}"
    return f"{{ myBookings {{ edges {{ node {{ {selection} }} }} }} }}"


TOO_DEEP = nested("id", 14)
TOO_MANY_ALIASES = "{ " + " ".join(f"a{i}: schemaVersion" for i in range(16)) + " }"
# Short enough to be cached, more than 2000 tokens: each bracket is a token.
TOO_MANY_TOKENS = "{ schemaVersion(x: [" + "[]" * 1010 + "]) }"
INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_a_document_sent_twice_is_parsed_and_validated_once(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    alias = f"v{uuid.uuid4().hex}"
    query = f"{{ {alias}: schemaVersion }}"  # in no cache yet
    parsed: list[str] = []
    validated: list[str] = []
    parse_document = Parser.parse_document

    def counting_parse(parser: Parser) -> DocumentNode:
        parsed.append(parser._lexer.source.body)
        return parse_document(parser)

    def counting_validate(schema: GraphQLSchema, document: DocumentNode, *args: Any,
                          **kwargs: Any) -> list[GraphQLError]:
        validated.append(document.loc.source.body if document.loc else "")
        return validate(schema, document, *args, **kwargs)

    monkeypatch.setattr(Parser, "parse_document", counting_parse)
    # Both schemas validate (cached or not) through the name `validate` of the limits
    monkeypatch.setattr("travelbuddy.graphql.limits.validate", counting_validate)
    http = client()

    answers = [await ask(http, query, COMMAND_URL) for _ in range(3)]

    assert answers == [{"data": {alias: "1"}}] * 3
    assert (parsed.count(query), validated.count(query)) == (1, 1)


def test_rules_are_built_once_per_schema_and_extensions_once_per_request() -> None:
    settings = default_settings().model_copy(update={"graphql_introspection": False})
    factories = schema_extensions(settings)

    first, second = [make() for make in factories], [make() for make in factories]
    other_build = [make() for make in schema_extensions(settings)]

    def rules(extensions: list[SchemaExtension]) -> list[type[ASTValidationRule]]:
        return [rule for extension in extensions if isinstance(extension, CachedValidation)
                for rule in (*extension.first, *extension.last)]

    assert all(a is not b for a, b in zip(first, second, strict=True))
    assert rules(first) == rules(second) and len(rules(first)) == 3  # same class objects
    cost, literals, introspection = rules(other_build)
    assert (cost, literals) != tuple(rules(first)[:2])  # rebuilt: another build's own
    assert introspection is NoSchemaIntrospectionCustomRule


@pytest.mark.parametrize(("url", "query", "message"), [
    (QUERY_URL, TOO_DEEP, "exceeds maximum operation depth of 12"),
    (COMMAND_URL, TOO_MANY_ALIASES, "16 aliases found. Allowed: 15"),
    (COMMAND_URL, TOO_MANY_TOKENS, "more than 2000 tokens"),
    (COMMAND_URL, " ".join(["{", *["schemaVersion"] * 2001, "}"]), "more than 2000 tokens"),
    (COMMAND_URL, "{ schemaVersion(", "Syntax Error"),
    (QUERY_URL, "{ schemaVersion }", "Cannot query field 'schemaVersion'"),
], ids=["depth", "aliases", "tokens", "tokens-uncached-length", "syntax", "unknown-field"])
async def test_a_refused_document_is_refused_every_time(
    client: Any, url: str, query: str, message: str
) -> None:
    assert len(TOO_MANY_TOKENS) <= CACHED_QUERY_CHARS
    http = client()

    for _ in range(3):
        refused(await ask(http, query, url), message)


@pytest.mark.parametrize(("stricter", "url", "query", "message"), [
    ({"graphql_max_depth": 3}, QUERY_URL,
     "{ myBookings { edges { node { id hotelStay { hotelId } } } } }", "depth of 3"),
    ({"graphql_max_aliases": 0}, COMMAND_URL, "{ version: schemaVersion }",
     "1 aliases found. Allowed: 0"),
    ({"graphql_max_tokens": 5}, COMMAND_URL,
     "{ schemaVersion schemaVersion schemaVersion schemaVersion }", "more than 5 tokens"),
    ({"graphql_introspection": False}, QUERY_URL, INTROSPECTION, "introspection"),
    ({"graphql_introspection": False}, COMMAND_URL, INTROSPECTION, "introspection"),
], ids=["depth", "aliases", "tokens", "introspection-query", "introspection-command"])
async def test_a_document_one_app_admits_another_with_a_stricter_limit_refuses(
    client: Any, stricter: dict[str, Any], url: str, query: str, message: str
) -> None:
    lenient, strict = client(), client(**stricter)

    for _ in range(2):
        assert "errors" not in await ask(lenient, query, url)
        refused(await ask(strict, query, url), message)


async def test_the_two_schemas_do_not_share_validation(client: Any) -> None:
    http = client()

    for _ in range(2):
        assert await ask(http, "{ schemaVersion }", COMMAND_URL) == {
            "data": {"schemaVersion": "1"}}
        refused(await ask(http, "{ schemaVersion }", QUERY_URL),
                "Cannot query field 'schemaVersion'")
        assert await ask(http, "{ myBookings { edges { cursor } } }") == {
            "data": {"myBookings": {"edges": []}}}
        refused(await ask(http, "{ myBookings { edges { cursor } } }", COMMAND_URL),
                "Cannot query field 'myBookings'")


def operation(i: int) -> tuple[str, str, Json | str]:
    """The `i`th of the concurrent requests: its endpoint, document and answer (the data,
    or the message of the error it is refused with)."""
    match i % 5:
        case 0:
            return COMMAND_URL, f"{{ v{i}: schemaVersion }}", {f"v{i}": "1"}
        case 1:
            return (QUERY_URL, f"{{ b{i}: myBookings(first: {i}) {{ edges {{ cursor }} }} }}",
                    {f"b{i}": {"edges": []}})
        case 2:
            return (QUERY_URL, f'{{ t{i}: __type(name: "Booking") {{ name }} }}',
                    {f"t{i}": {"name": "Booking"}})
        case 3:
            return QUERY_URL, TOO_DEEP.replace("myBookings", f"d{i}: myBookings"), "depth of 12"
        case _:
            aliases = " ".join(f"a{i}x{n}: schemaVersion" for n in range(16))
            return COMMAND_URL, f"{{ {aliases} }}", "16 aliases found"


async def test_concurrent_requests_with_different_documents_get_their_own_answers(
    client: Any,
) -> None:
    http = client()
    calls = [operation(i) for i in range(20)]

    for _ in range(2):  # on empty caches, then from the caches
        answers = await asyncio.gather(*(ask(http, query, url) for url, query, _ in calls))

        for (_, query, expected), answer in zip(calls, answers, strict=True):
            if isinstance(expected, str):
                refused(answer, expected)
            else:
                assert answer == {"data": expected}, query
