"""Operations generated from each schema by hypothesis-graphql, valid ones and ones with a
schema violation, posted through the ASGI app: none ends in a 5xx or in an exception in
the logs. Nor do hostile variants built from them: invalid Unicode (lone surrogates,
control characters) in the document, the operationName and the variables; chains and
doublings of fragments around generated selections; lists of thousands of items."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse, print_ast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from tests.auth import bearer
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.graphql import command_schema, query_schema
from travelbuddy.readmodels.queries import BookingQueries

EXAMPLES = 500
MONGODB_EXAMPLES = 200  # a subset on MongoDB, where each request takes longer
HOSTILE_EXAMPLES = 150  # each kind of hostile variant
# Generous, for a loaded CI machine: what it catches is work that grows exponentially
# (2^29 fragment spreads took hours), not milliseconds. Timing targets live in bench/.
REQUEST_SECONDS = 2.0

# Dates the service can book (near today) and ones it cannot (far off, impossible).
DATES = st.one_of(
    st.dates(dt.date.today(), dt.date.today() + dt.timedelta(days=400)),
    st.dates(),
).map(nodes.String) | st.sampled_from(["2026-02-30", "2031-13-01", "", "tomorrow"]).map(
    nodes.String
)
SCALARS = {"Date": DATES, "DateTime": st.datetimes().map(lambda d: nodes.String(d.isoformat()))}


def operations(
    generate: Callable[..., st.SearchStrategy[str]], sdl: str
) -> st.SearchStrategy[str]:
    """Valid operations (`queries` or `mutations` of the schema) and ones with one violation."""
    return st.one_of(*(generate(sdl, custom_scalars=SCALARS, mode=mode)
                       for mode in (Mode.POSITIVE, Mode.NEGATIVE)))


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def caller_headers(customer: str) -> dict[str, str]:
    """How a test names its caller: the one place to change when authentication changes."""
    return bearer(customer)


@pytest.fixture
def backend() -> str:
    """The embedded default keeps 1,000 operations within seconds."""
    return "embedded"


@pytest.fixture
async def fuzzed(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the embedded default, with `booking(minVersion)` not waiting."""
    quick = replace(services, queries=BookingQueries(services.read_models, wait_timeout=0.0))
    transport = httpx.ASGITransport(app=create_app(services.settings, services=quick),
                                    raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as client:
        yield client


async def answer_of(http: httpx.AsyncClient, url: str, operation: str,
                    caplog: pytest.LogCaptureFixture, **fields: Any) -> None:
    """Post the operation (with more body fields, e.g. variables); the answer is no 5xx,
    not INTERNAL, JSON, and within a generous bound of time; no ERROR line is logged."""
    caplog.clear()
    body = json.dumps({"query": operation, **fields})  # a lone surrogate as "\ud800"
    started = time.perf_counter()
    response = await http.post(url, content=body.encode("ascii"), headers={
        **caller_headers("alice"), "Content-Type": "application/json"})
    seconds = time.perf_counter() - started

    assert response.status_code < 500, (operation, response.text[:500])
    assert "Internal server error" not in response.text, (operation, response.text[:500])
    assert response.headers["content-type"] == "application/json", response.text[:500]
    # The service's log: another test's Kafka clients may still be logging reconnects.
    failures = [r for r in caplog.records if (r.levelno >= logging.ERROR or r.exc_info)
              and not r.name.startswith("aiokafka")]
    assert not failures, (operation, [r.getMessage() for r in failures])
    assert seconds < REQUEST_SECONDS, (operation[:500], seconds)


@FUZZ
@given(operation=operations(queries, str(query_schema.schema)))
async def test_generated_queries_are_answered_without_server_errors(
    fuzzed: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, operation: str
) -> None:
    await answer_of(fuzzed, "/graphql", operation, caplog)


@FUZZ
@given(operation=operations(mutations, str(command_schema.schema)))
async def test_generated_mutations_are_answered_without_server_errors(
    fuzzed: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, operation: str
) -> None:
    await answer_of(fuzzed, "/graphql/command", operation, caplog)


@pytest.fixture
async def fuzzed_on_mongodb(
    mongodb_url: str, database_name: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the test MongoDB, with `booking(minVersion)` not waiting."""
    built = await build_services(Settings(mongodb_url=mongodb_url, mongodb_database=database_name,
                                          kafka_bootstrap_servers=None,
                                          read_your_writes_timeout=0.0))
    transport = httpx.ASGITransport(app=create_app(built.settings, services=built),
                                    raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as client:
        yield client
    await built.close()


@settings(FUZZ, max_examples=MONGODB_EXAMPLES)
@given(call=st.one_of(
    operations(queries, str(query_schema.schema)).map(lambda op: ("/graphql", op)),
    operations(mutations, str(command_schema.schema)).map(lambda op: ("/graphql/command", op)),
))
async def test_generated_operations_on_mongodb_are_answered_without_server_errors(
    fuzzed_on_mongodb: httpx.AsyncClient, caplog: pytest.LogCaptureFixture,
    call: tuple[str, str],
) -> None:
    await answer_of(fuzzed_on_mongodb, *call, caplog)


# --- hostile variants of the generated operations ---

INVALID_TEXT = st.text(
    st.one_of(
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates
        st.characters(max_codepoint=0x1F), st.characters(min_codepoint=0x7F,
                                                           max_codepoint=0x9F),
        st.characters(codec="utf-8"),
    ),
    min_size=1, max_size=12,
).filter(lambda text: any(c < " " or "\x7f" <= c <= "\x9f" or "\ud800" <= c <= "\udfff"
                          for c in text))
QUERIES = operations(queries, str(query_schema.schema))
MUTATIONS = operations(mutations, str(command_schema.schema))
CALLS = st.one_of(QUERIES.map(lambda op: ("/graphql", op)),
                  MUTATIONS.map(lambda op: ("/graphql/command", op)))


@st.composite
def with_invalid_text(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """A generated operation with invalid text put in: in a string of the document (raw,
    or as a GraphQL escape), in the operationName, or in an unused variable."""
    url, operation = draw(CALLS)
    text = draw(INVALID_TEXT)
    where = draw(st.sampled_from(["document", "escape", "operation-name", "variable"]))
    if where == "document":
        at = draw(st.integers(0, len(operation)))
        return url, operation[:at] + text + operation[at:], {}
    if where == "escape":
        escaped = "".join(f"\\u{ord(c):04x}" for c in text)
        return url, operation.replace('"', '"' + escaped, 1), {}
    if where == "operation-name":
        return url, operation, {"operationName": text}
    return url, operation, {"variables": {"unused": text}}


@settings(FUZZ, max_examples=HOSTILE_EXAMPLES)
@given(call=with_invalid_text())
async def test_generated_operations_with_invalid_text_are_answered_without_server_errors(
    fuzzed: httpx.AsyncClient, caplog: pytest.LogCaptureFixture,
    call: tuple[str, str, dict[str, Any]],
) -> None:
    url, operation, fields = call
    await answer_of(fuzzed, url, operation, caplog, **fields)


EXAMPLE_OPERATIONS = {
    "/graphql": (Path(__file__).resolve().parents[2] / "graphql/operations/queries.graphql"),
    "/graphql/command": (Path(__file__).resolve().parents[2]
                         / "graphql/operations/commands.graphql"),
}
NEAR = (dt.date.today() + dt.timedelta(days=30)).isoformat()
EXAMPLE_VARIABLES: dict[str, dict[str, Any]] = {
    "Booking": {"id": "b-1", "minVersion": 1},
    "MyBookings": {"first": 5, "after": None, "status": "PENDING"},
    "HotelOccupancy": {"hotelId": "hotel-tokyo-2", "from": NEAR, "to": NEAR},
    "SearchHotels": {"city": "Tokyo", "checkIn": NEAR, "checkOut": NEAR},
    "SearchFlights": {"from": "HND", "to": "FUK", "date": NEAR},
    "RequestBooking": {"input": {
        "hotelStay": {"hotelId": "hotel-tokyo-2", "roomType": "STD", "checkIn": NEAR,
                      "checkOut": NEAR, "guests": 1},
        "flights": [{"flightId": "JL-305-HND-FUK", "date": NEAR, "seats": 1,
                     "cabin": "ECONOMY"}],
        "travelers": [{"name": "Hanako"}]}, "commandId": "c-1"},
    "CancelBooking": {"input": {"bookingId": "b-1", "reason": "Plans changed."},
                      "commandId": "c-2"},
    "RejectHotelReservation": {"input": {"bookingId": "b-1", "reason": "Full."}},
    "ApplyPerk": {"input": {"bookingId": "b-1", "perkCode": "HTL-TYO-02-DISCOUNT"}},
}


def string_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in string_paths(item, (*path, key))]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in string_paths(item, (*path, i))]
    return []


@st.composite
def example_with_invalid_variable(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """An example operation of graphql/operations with well-formed variables, one string
    of which is invalid text: it reaches the checks of the field it is for."""
    name = draw(st.sampled_from(sorted(EXAMPLE_VARIABLES)))
    url = "/graphql/command" if "input" in EXAMPLE_VARIABLES[name] else "/graphql"
    variables = json.loads(json.dumps(EXAMPLE_VARIABLES[name]))
    *parents, last = draw(st.sampled_from(string_paths(variables)))
    target = variables
    for key in parents:
        target = target[key]
    target[last] = draw(INVALID_TEXT)
    return url, EXAMPLE_OPERATIONS[url].read_text(encoding="utf-8"), {
        "operationName": name, "variables": variables}


@settings(FUZZ, max_examples=HOSTILE_EXAMPLES)
@given(call=example_with_invalid_variable())
async def test_example_operations_with_invalid_text_in_a_variable_store_nothing(
    fuzzed: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture,
    call: tuple[str, str, dict[str, Any]],
) -> None:
    url, operation, fields = call
    await answer_of(fuzzed, url, operation, caplog, **fields)
    assert [e async for e in services.store.read_all()] == []


def selection_of(operation: str) -> str | None:
    """The selection set of a generated operation, to put in a fragment."""
    try:
        [definition] = parse(operation).definitions
    except Exception:  # a generated violation may not parse: nothing to build on
        return None
    assert isinstance(definition, OperationDefinitionNode)
    return print_ast(definition.selection_set)


@st.composite
def fragment_chains(draw: st.DrawFn) -> tuple[str, str]:
    """Fragments around a generated selection, each spreading the previous one 1 to 3
    times (a chain, a doubling, a tripling), up to 40 deep, some into a cycle."""
    url, operation = draw(CALLS)
    selection = selection_of(operation)
    if selection is None:
        return url, operation
    on = "Query" if url == "/graphql" or not operation.lstrip().startswith("mutation") \
        else "Mutation"
    levels, spreads = draw(st.integers(1, 40)), draw(st.integers(1, 3))
    fragments = [f"fragment F0 on {on} {selection}"] + [
        f"fragment F{i} on {on} {{ {' '.join([f'...F{i - 1}'] * spreads)} }}"
        for i in range(1, levels)]
    if draw(st.booleans()):  # close a cycle
        fragments[0] = f"fragment F0 on {on} {{ ...F{levels - 1} }}"
    keyword = "mutation" if on == "Mutation" else "query"
    return url, f"{keyword} {{ ...F{levels - 1} }} " + " ".join(fragments)


@settings(FUZZ, max_examples=HOSTILE_EXAMPLES)
@given(call=fragment_chains())
async def test_fragment_chains_around_generated_selections_are_answered_quickly(
    fuzzed: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, call: tuple[str, str]
) -> None:
    await answer_of(fuzzed, *call, caplog)


@st.composite
def oversized_lists(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """requestBooking with up to 20,000 flights or travelers, as a variable or (within the
    token limit) as a literal."""
    items = draw(st.integers(0, 20_000))
    field = draw(st.sampled_from(["flights", "travelers"]))
    item = ({"flightId": "JL-305-HND-FUK", "date": NEAR, "seats": 1, "cabin": "ECONOMY"}
            if field == "flights" else {"name": "Hanako"})
    request = json.loads(json.dumps(EXAMPLE_VARIABLES["RequestBooking"]["input"]))
    if draw(st.booleans()):
        request[field] = [item] * items
        return "/graphql/command", EXAMPLE_OPERATIONS["/graphql/command"].read_text(
            encoding="utf-8"), {"operationName": "RequestBooking",
                                "variables": {"input": request}}
    literal = "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in item.items()) + "}"
    literal = literal.replace('"ECONOMY"', "ECONOMY")
    listed = ", ".join([literal] * min(items, 150))
    other = "travelers: [{name: \"H\"}]" if field == "flights" else ""
    return "/graphql/command", (f"mutation {{ requestBooking(input: {{{field}: [{listed}] "
                                f"{other}}}) {{ __typename }} }}"), {}


@settings(FUZZ, max_examples=HOSTILE_EXAMPLES)
@given(call=oversized_lists())
async def test_oversized_lists_are_answered_quickly_without_server_errors(
    fuzzed: httpx.AsyncClient, caplog: pytest.LogCaptureFixture,
    call: tuple[str, str, dict[str, Any]],
) -> None:
    url, operation, fields = call
    await answer_of(fuzzed, url, operation, caplog, **fields)
