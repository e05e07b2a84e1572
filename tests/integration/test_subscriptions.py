"""Live booking status through an independent GraphQL client over graphql-transport-ws."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from tests.auth import agent_bearer, bearer
from travelbuddy.bootstrap import Services
from travelbuddy.readmodels.runner import ProjectorRunner

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)

REQUEST = gql("""
mutation Request($input: RequestBookingInput!) {
  requestBooking(input: $input) { __typename ... on CommandAccepted { bookingId version } }
}""")
CONFIRM_HOTEL = gql("""
mutation ($input: ConfirmHotelReservationInput!) {
  confirmHotelReservation(input: $input) { __typename }
}""")
CONFIRM_FLIGHT = gql("""
mutation ($input: ConfirmFlightReservationInput!) {
  confirmFlightReservation(input: $input) { __typename }
}""")
BOOKING_UPDATED = gql("""
subscription ($id: ID!) { bookingUpdated(bookingId: $id) { id status version } }
""")
MY_UPDATES = gql("subscription { myBookingUpdates { id status version } }")


def with_vars(request: GraphQLRequest, variables: dict[str, Any]) -> GraphQLRequest:
    return GraphQLRequest(request, variable_values=variables)


def websocket(base: str, customer: str) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=f"ws://{base}/graphql",
        init_payload=bearer(customer),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        close_timeout=1,
    )


def commands(base: str, customer: str = "alice") -> Client:
    transport = HTTPXAsyncTransport(
        url=f"http://{base}/graphql/command", headers=bearer(customer)
    )
    return Client(transport=transport)


def agent_commands(base: str) -> Client:
    """A session of an agent, who records the hotel's and the airline's answers."""
    return Client(transport=HTTPXAsyncTransport(url=f"http://{base}/graphql/command",
                                                headers=agent_bearer()))


async def next_within(updates: Any, seconds: float = 2.0) -> dict[str, Any]:
    result: dict[str, Any] = await asyncio.wait_for(anext(updates), timeout=seconds)
    return result


async def request_trip(base: str, trip: dict[str, Any], customer: str = "alice") -> str:
    async with commands(base, customer) as session:
        result = await session.execute(with_vars(REQUEST, {"input": trip}))
    assert result["requestBooking"]["__typename"] == "CommandAccepted"
    booking_id: str = result["requestBooking"]["bookingId"]
    return booking_id


@pytest.fixture
def trip() -> dict[str, Any]:
    from tests.integration.graphql_calls import trip_input

    return trip_input()


async def test_subscriber_sees_pending_then_confirmed_each_within_two_seconds(
    live_server: str, projector: ProjectorRunner, trip: dict[str, Any]
) -> None:
    from tests.integration.graphql_calls import FLIGHT_ID

    booking_id = await request_trip(live_server, trip)
    async with Client(transport=websocket(live_server, "alice")) as ws:
        updates = ws.subscribe(with_vars(BOOKING_UPDATED, {"id": booking_id}))
        first = await next_within(updates, 5.0)  # the projector may still be catching up
        assert first["bookingUpdated"]["status"] == "PENDING"

        async with agent_commands(live_server) as session:
            await session.execute(with_vars(CONFIRM_HOTEL,
                {"input": {"bookingId": booking_id, "confirmationCode": "H-1"}}))
            still_pending = await next_within(updates)
            await session.execute(with_vars(CONFIRM_FLIGHT,
                {"input": {"bookingId": booking_id, "flightId": FLIGHT_ID,
                           "confirmationCode": "F-1"}}))
            confirmed = await next_within(updates)

    assert still_pending["bookingUpdated"] == {
        "id": booking_id, "status": "PENDING", "version": 2}
    assert confirmed["bookingUpdated"] == {"id": booking_id, "status": "CONFIRMED", "version": 3}


async def test_a_reconnecting_client_gets_the_current_state_first(
    live_server: str, projector: ProjectorRunner, trip: dict[str, Any]
) -> None:
    booking_id = await request_trip(live_server, trip)
    async with agent_commands(live_server) as session:
        await session.execute(with_vars(CONFIRM_HOTEL,
            {"input": {"bookingId": booking_id, "confirmationCode": "H-1"}}))
    async with Client(transport=websocket(live_server, "alice")) as ws:
        updates = ws.subscribe(with_vars(BOOKING_UPDATED, {"id": booking_id}))
        current = await next_within(updates, 5.0)
        if current["bookingUpdated"]["version"] < 2:  # the view may lag the mutation
            current = await next_within(updates)

    assert current["bookingUpdated"]["version"] == 2


async def test_my_booking_updates_covers_only_the_callers_bookings(
    live_server: str, projector: ProjectorRunner, trip: dict[str, Any]
) -> None:
    async with Client(transport=websocket(live_server, "carol")) as ws:
        updates = ws.subscribe(MY_UPDATES)
        subscribed = asyncio.create_task(next_within(updates, 5.0))
        await request_trip(live_server, trip, customer="dave")
        carols = await request_trip(live_server, trip, customer="carol")
        first = await subscribed

    assert first["myBookingUpdates"]["id"] == carols


async def test_another_customers_booking_cannot_be_watched(
    live_server: str, projector: ProjectorRunner, trip: dict[str, Any]
) -> None:
    booking_id = await request_trip(live_server, trip, customer="alice")
    async with Client(transport=websocket(live_server, "mallory")) as ws:
        updates = ws.subscribe(with_vars(BOOKING_UPDATED, {"id": booking_id}))
        with pytest.raises(TimeoutError):
            await next_within(updates, 1.0)



async def test_many_subscriptions_share_the_process_feed_and_each_gets_its_own_change(
    live_server: str, services: Services, projector: ProjectorRunner, trip: dict[str, Any]
) -> None:
    bookings = [await request_trip(live_server, trip) for _ in range(12)]
    async with (Client(transport=websocket(live_server, "alice")) as first,
                Client(transport=websocket(live_server, "alice")) as second):
        streams = [(first if n % 2 else second).subscribe(
            with_vars(BOOKING_UPDATED, {"id": booking})) for n, booking in enumerate(bookings)]
        for updates in streams:  # the current state first
            assert (await next_within(updates, 5.0))["bookingUpdated"]["version"] == 1
        assert services.updates.subscribers == len(bookings)
        assert services.updates.running  # one feed task for all of them
        async with agent_commands(live_server) as session:
            for booking in bookings:
                await session.execute(with_vars(CONFIRM_HOTEL,
                    {"input": {"bookingId": booking, "confirmationCode": "H-1"}}))
        changed = [(await next_within(updates))["bookingUpdated"] for updates in streams]

    assert changed == [{"id": b, "status": "PENDING", "version": 2} for b in bookings]
