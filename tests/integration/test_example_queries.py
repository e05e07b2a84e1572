"""The example operations in graphql/operations/queries.graphql run as written, over HTTP
(queries) and over graphql-transport-ws (subscriptions), on both backends."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from graphql import OperationDefinitionNode, OperationType, parse

from tests.auth import bearer
from tests.integration.graphql_calls import HOTEL_ID, graphql, request_booking
from travelbuddy.readmodels.runner import ProjectorRunner

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)

EXAMPLES = Path(__file__).resolve().parents[2] / "graphql" / "operations" / "queries.graphql"


def operations() -> dict[str, OperationType]:
    document = parse(EXAMPLES.read_text("utf-8"))
    return {d.name.value: d.operation for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name is not None}


def variables_for(name: str, booking_id: str) -> dict[str, Any]:
    day = dt.date.today() + dt.timedelta(days=30)
    examples: dict[str, dict[str, Any]] = {
        "Booking": {"id": booking_id, "minVersion": 1},
        "MyBookings": {"status": "PENDING"},
        "HotelOccupancy": {"hotelId": HOTEL_ID, "from": day.isoformat(),
                           "to": (day + dt.timedelta(days=5)).isoformat()},
        "SearchHotels": {"city": "Sapporo", "checkIn": day.isoformat(),
                         "checkOut": (day + dt.timedelta(days=2)).isoformat()},
        "SearchFlights": {"from": "HND", "to": "CTS", "date": day.isoformat()},
        "BookingUpdated": {"id": booking_id},
        "MyBookingUpdates": {},
    }
    return examples[name]


async def test_every_example_query_answers_with_data(
    http: httpx.AsyncClient, projector: ProjectorRunner
) -> None:
    booking_id = await request_booking(http)
    text = EXAMPLES.read_text("utf-8")
    answers: dict[str, Any] = {}
    for name, kind in operations().items():
        if kind is OperationType.QUERY:
            body = {"query": text, "operationName": name,
                    "variables": variables_for(name, booking_id)}
            response = await http.post("/graphql", json=body,
                                       headers=bearer("alice"))
            assert response.status_code == 200, response.text
            assert "errors" not in response.json(), response.json()
            answers[name] = response.json()["data"]

    assert answers["Booking"]["booking"]["id"] == booking_id
    assert [e["node"]["id"] for e in answers["MyBookings"]["myBookings"]["edges"]] == [booking_id]
    assert {n["rooms"] for n in answers["HotelOccupancy"]["hotelOccupancy"]} == {1}
    assert answers["SearchHotels"]["hotels"] and answers["SearchFlights"]["flights"]


async def test_every_example_subscription_sends_the_current_state_first(
    live_server: str, projector: ProjectorRunner
) -> None:
    transport = httpx.AsyncHTTPTransport()
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{live_server}") as http:
        booking_id = await request_booking(http)
        await graphql(http, "/graphql", "query ($id: ID!) { booking(id: $id, minVersion: 1)"
                      " { id } }", {"id": booking_id})
    text = EXAMPLES.read_text("utf-8")
    first: dict[str, Any] = {}
    for name, kind in operations().items():
        if kind is not OperationType.SUBSCRIPTION:
            continue
        client = Client(transport=WebsocketsTransport(
            url=f"ws://{live_server}/graphql", init_payload=bearer("alice"),
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL], close_timeout=1))
        async with client as session:
            updates = session.subscribe(GraphQLRequest(
                text, operation_name=name, variable_values=variables_for(name, booking_id)))
            first[name] = await asyncio.wait_for(anext(updates), timeout=5)

    assert first["BookingUpdated"]["bookingUpdated"]["id"] == booking_id
    assert first["MyBookingUpdates"]["myBookingUpdates"]["id"] == booking_id
