"""Operations generated from each schema by hypothesis-graphql, valid ones and ones with a
schema violation, posted through the ASGI app: none ends in a 5xx or in an exception in
the logs."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import httpx
import pytest
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
                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    response = await http.post(url, json={"query": operation}, headers=caller_headers("alice"))

    assert response.status_code < 500, (operation, response.text[:500])
    assert "Internal server error" not in response.text, (operation, response.text[:500])
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not failures, (operation, [r.getMessage() for r in failures])


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
