"""A customer's journey, then /metrics: every counter moved by exactly what happened, on
MongoDB with Kafka and on the embedded default (SQLite, the SQLite bus), with every worker
in the process as `travelbuddy serve` runs them, served by uvicorn on a real socket.

The test waits by scraping /metrics (or reading the stores), never through GraphQL, whose
operations it counts. Kafka is a broker of this module's own: on the session's broker the
fixed consumer groups of the partners and the inbound consumer would find other tests'
messages.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.websockets import WebsocketsTransport

from tests.auth import bearer
from tests.integration.background import working
from tests.integration.booking_traffic import eventually
from tests.integration.graphql_calls import REQUEST_BOOKING, command, graphql, trip_input
from tests.integration.metrics_scrape import Scrape, key, moved, scrape, value
from tests.integration.served import served
from tests.services.testbed import KafkaTestServer
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.domain.sample_catalog import SAMPLE_FLIGHTS, SAMPLE_HOTELS
from travelbuddy.integration.inbound import DEFAULT_GROUP_ID
from travelbuddy.integration.topics import BOOKINGS, FLIGHT_REPLIES, HOTEL_REPLIES, TOPICS
from travelbuddy.observability.metrics import OPERATION_NAMES

BOOKING = """query Booking($id: ID!) { booking(id: $id, minVersion: 3) { status version } }"""
CANCEL = """mutation Cancel($input: CancelBookingInput!, $commandId: ID) {
  cancelBooking(input: $input, commandId: $commandId) {
    __typename ... on CommandAccepted { version replayed } ... on CommandError { code }
  }
}"""
UPDATES = gql("subscription Updates($id: ID!) { bookingUpdated(bookingId: $id) "
              "{ status version } }")

COUNTED = {
    "travelbuddy_commands_total", "travelbuddy_command_duration_seconds_count",
    "travelbuddy_graphql_operations_total", "travelbuddy_graphql_operation_duration_seconds_count",
    "travelbuddy_follower_handled_total", "travelbuddy_follower_parked_total",
    "travelbuddy_partner_replies_total", "travelbuddy_kafka_publish_duration_seconds_count",
    "travelbuddy_kafka_publish_errors_total", "travelbuddy_subscription_pushes_total",
    "travelbuddy_subscribers_dropped_total", "travelbuddy_websockets_open",
    "travelbuddy_subscriptions_open",
}
"""The counters (and counts of the histograms, and the open gauges) the journey moves."""


def commands(outcomes: dict[tuple[str, str], int]) -> dict[Any, float]:
    counted: dict[Any, float] = {}
    for (kind, outcome), times in outcomes.items():
        counted[key("travelbuddy_commands_total", command=kind, outcome=outcome)] = times
        duration = key("travelbuddy_command_duration_seconds_count", command=kind)
        counted[duration] = counted.get(duration, 0) + times
    return counted


def operations(outcomes: dict[tuple[str, str, bool], int]) -> dict[Any, float]:
    """The counts of (schema, operation name, whether it is timed): ok, `times` times."""
    counted: dict[Any, float] = {}
    for (schema, name, timed), times in outcomes.items():
        # The name is the label unless the process has seen too many names already (other
        # tests' operations): then it is "other", like every name after the first hundred.
        operation = OPERATION_NAMES.label(name)
        samples = [key("travelbuddy_graphql_operations_total", schema=schema,
                       operation=operation, outcome="ok")]
        if timed:
            samples.append(key("travelbuddy_graphql_operation_duration_seconds_count",
                               schema=schema, operation=operation))
        for sample in samples:
            counted[sample] = counted.get(sample, 0) + times
    return counted


def expected() -> dict[Any, float]:
    return {**EXPECTED, **operations({
        ("command", "Request", True): 1, ("command", "Cancel", True): 3,
        ("query", "Booking", True): 1,
        ("query", "Updates", False): 1,  # a subscription: counted when it ends, not timed
    })}


EXPECTED = {
    **commands({
        ("RequestBooking", "accepted"): 1,
        ("ConfirmHotelReservation", "accepted"): 1,  # the partners' replies, from inbound
        ("ConfirmFlightReservation", "accepted"): 1,
        ("CancelBooking", "accepted"): 1,
        ("CancelBooking", "replayed"): 1,  # the same command id again
        ("CancelBooking", "BOOKING_NOT_FOUND"): 1,
    }),
    key("travelbuddy_follower_handled_total", follower="projector"): 4,
    key("travelbuddy_follower_handled_total", follower="relay"): 4,
    key("travelbuddy_follower_handled_total", follower="inbound"): 2,
    key("travelbuddy_partner_replies_total", partner="hotel", outcome="reserved"): 1,
    key("travelbuddy_partner_replies_total", partner="flight", outcome="reserved"): 1,
    key("travelbuddy_kafka_publish_duration_seconds_count", topic=BOOKINGS): 4,
    key("travelbuddy_kafka_publish_duration_seconds_count", topic=HOTEL_REPLIES): 1,
    key("travelbuddy_kafka_publish_duration_seconds_count", topic=FLIGHT_REPLIES): 1,
    key("travelbuddy_subscription_pushes_total"): 2,  # CONFIRMED, then CANCELLED
}


@pytest.fixture(scope="module")
def private_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaTestServer]:
    server = KafkaTestServer(tmp_path_factory.mktemp("kafka"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["mongodb-kafka", "embedded"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "embedded":
        return Settings(mongodb_url=None, kafka_bootstrap_servers=None,
                        data_dir=tmp_path / "data", partner_latency=0.01)
    kafka: KafkaTestServer = request.getfixturevalue("private_kafka")
    return Settings(mongodb_url=request.getfixturevalue("mongodb_url"),
                    mongodb_database=request.getfixturevalue("database_name"),
                    kafka_bootstrap_servers=kafka.bootstrap_servers,
                    data_dir=tmp_path / "data", partner_latency=0.01)


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Services, str]]:
    """Every worker and the API in this process, the API on a loopback port."""
    services = await build_services(settings)
    try:
        async with working(services), served(create_app(settings, services=services)) as base:
            yield services, base
    finally:
        await services.close()


def caught_up(scraped: Scrape) -> bool:
    return all(value(scraped, "travelbuddy_follower_lag_events", follower=follower) == 0
               for follower in ("projector", "relay", "catalog", "inbound"))


async def test_a_journey_moves_every_counter_by_exactly_what_happened(settings: Settings) -> None:
    async with serving(settings) as (services, base), httpx.AsyncClient(
            base_url=f"http://{base}") as http:
        catalog = (len(SAMPLE_HOTELS), len(SAMPLE_FLIGHTS))
        await eventually(services.read_models.catalog.count, lambda n: n == catalog, 60,
                         "the catalog is projected")
        before = await eventually(lambda: scrape(http), caught_up, 60, "the followers idle")

        booking_id = (await command(http, REQUEST_BOOKING, {"input": trip_input()}))["bookingId"]
        confirmed = await eventually(
            lambda: scrape(http), lambda now: moved(before, now, COUNTED).get(key(
                "travelbuddy_follower_handled_total", follower="projector")) == 3,
            60, "the partners' confirmations are projected")
        assert (await graphql(http, "/graphql", BOOKING, {"id": booking_id}))["booking"] == {
            "status": "CONFIRMED", "version": 3}

        async with Client(transport=WebsocketsTransport(
                url=f"ws://{base}/graphql", init_payload=bearer("alice"), close_timeout=1,
                subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])) as session:
            updates = session.subscribe(GraphQLRequest(UPDATES, variable_values={
                "id": booking_id}))
            assert (await anext(updates))["bookingUpdated"]["version"] == 3
            listening = await scrape(http)
            assert moved(confirmed, listening, {"travelbuddy_websockets_open",
                                                "travelbuddy_subscriptions_open"}) == {
                key("travelbuddy_websockets_open"): 1, key("travelbuddy_subscriptions_open"): 1}
            cancel = {"input": {"bookingId": booking_id}, "commandId": f"cancel-{uuid.uuid4()}"}
            assert (await command(http, CANCEL, cancel))["replayed"] is False
            assert (await command(http, CANCEL, cancel))["replayed"] is True
            assert (await anext(updates))["bookingUpdated"] == {"status": "CANCELLED",
                                                               "version": 4}
            await updates.aclose()
        missing = {"input": {"bookingId": str(uuid.uuid4())}}
        assert (await command(http, CANCEL, missing))["code"] == "BOOKING_NOT_FOUND"

        async def unexpected() -> tuple[bool, dict[Any, tuple[float, float]]]:
            """Whether every follower caught up, and each (moved, expected) that differ."""
            now, wanted = await scrape(http), expected()
            changes = moved(before, now, COUNTED)
            return caught_up(now), {sample: (changes.get(sample, 0), wanted.get(sample, 0))
                                    for sample in changes.keys() | wanted.keys()
                                    if changes.get(sample) != wanted.get(sample)}

        await eventually(unexpected, lambda seen: seen == (True, {}), 60,
                         "every follower caught up, every counter moved as expected")
        after = await scrape(http)

    assert moved(before, after, COUNTED) == expected()
    for follower in ("projector", "relay", "catalog"):
        assert value(after, "travelbuddy_follower_lease_held", follower=follower) == 1
    for follower in ("projector", "relay", "catalog", "inbound"):
        assert value(after, "travelbuddy_follower_lag_seconds", follower=follower) == 0
    replies = sum(topic.partitions for topic in TOPICS
                  if topic.name in {HOTEL_REPLIES, FLIGHT_REPLIES})
    assert value(after, "travelbuddy_kafka_partitions_assigned", group=DEFAULT_GROUP_ID) == replies
    assert value(after, "process_cpu_seconds_total") is not None  # the default collectors
