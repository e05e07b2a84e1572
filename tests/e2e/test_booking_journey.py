"""A customer's journey against `travelbuddy serve` (embedded default) through an
independent GraphQL client: book, watch it confirm live, read it, cancel it; then the
process restarts and every booking reads back the same."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from gql import Client, GraphQLRequest, gql
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from tests.auth import bearer
from tests.e2e.conftest import RunningService, start_service, stop_service

HEADERS = bearer("e2e-customer")
REQUEST = gql("""
mutation ($input: RequestBookingInput!) {
  requestBooking(input: $input) { __typename ... on CommandAccepted { bookingId version } }
}""")
CANCEL = gql("""
mutation ($id: ID!) {
  cancelBooking(input: {bookingId: $id, reason: "plans changed"}) {
    __typename ... on CommandAccepted { version }
  }
}""")
WATCH = gql("subscription ($id: ID!) { bookingUpdated(bookingId: $id) { status version } }")
BOOKING = gql("""
query ($id: ID!, $v: Int) {
  booking(id: $id, minVersion: $v) {
    id status version behind hotelStay { status confirmationCode } flights { status }
    price { total } history { type description }
  }
}""")
MINE = gql("{ myBookings(first: 50) { edges { node { id status version } } } }")


def trip() -> dict[str, Any]:
    day = (dt.date.today() + dt.timedelta(days=21)).isoformat()
    leave = (dt.date.today() + dt.timedelta(days=24)).isoformat()
    return {
        "hotelStay": {"hotelId": "hotel-sapporo-1", "roomType": "STD", "checkIn": day,
                      "checkOut": leave, "guests": 2},
        "flights": [{"flightId": "NH-061-HND-CTS", "date": day, "seats": 2,
                     "cabin": "ECONOMY"}],
        "travelers": [{"name": "Hanako Yamada"}, {"name": "Taro Yamada"}],
    }


def http(service: RunningService, path: str) -> Client:
    return Client(transport=HTTPXAsyncTransport(url=service.base_url + path, headers=HEADERS))


def websocket(service: RunningService) -> Client:
    return Client(transport=WebsocketsTransport(
        url=f"{service.ws_url}/graphql", init_payload=HEADERS, close_timeout=1,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL]))


def request(document: GraphQLRequest, variables: dict[str, Any]) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


async def journey(service: RunningService) -> str:
    async with http(service, "/graphql/command") as commands:
        accepted = (await commands.execute(request(REQUEST, {"input": trip()})))["requestBooking"]
    assert accepted["__typename"] == "CommandAccepted"
    booking_id: str = accepted["bookingId"]

    seen: list[str] = []
    async with websocket(service) as live:
        async for update in live.subscribe(request(WATCH, {"id": booking_id})):
            seen.append(update["bookingUpdated"]["status"])
            if seen[-1] != "PENDING":
                break
    assert seen[0] == "PENDING" or seen == ["CONFIRMED"]
    assert seen[-1] == "CONFIRMED"

    async with http(service, "/graphql") as queries:
        booking = (await queries.execute(request(BOOKING, {"id": booking_id})))["booking"]
    assert booking["status"] == "CONFIRMED"
    assert booking["hotelStay"]["confirmationCode"]
    assert [f["status"] for f in booking["flights"]] == ["RESERVED"]

    async with http(service, "/graphql/command") as commands:
        cancelled = (await commands.execute(request(CANCEL, {"id": booking_id})))
    version = cancelled["cancelBooking"]["version"]
    async with http(service, "/graphql") as queries:
        after = (await queries.execute(request(BOOKING, {"id": booking_id, "v": version})))
    assert after["booking"]["status"] == "CANCELLED"
    assert after["booking"]["behind"] is False
    return booking_id


async def test_book_watch_confirm_read_cancel_then_restart_keeps_every_booking(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    service = await asyncio.to_thread(start_service, data)
    try:
        await asyncio.wait_for(journey(service), timeout=60)
        async with http(service, "/graphql/command") as commands:
            second = (await commands.execute(request(REQUEST, {"input": trip()})))
        async with http(service, "/graphql") as queries:
            # Snapshot once the partners have answered: nothing changes after it.
            confirmed = {"id": second["requestBooking"]["bookingId"], "v": 3}
            settled = await queries.execute(request(BOOKING, confirmed))
            assert settled["booking"]["behind"] is False
            before = (await queries.execute(MINE))["myBookings"]["edges"]
            details = [(await queries.execute(request(BOOKING, {"id": e["node"]["id"]})))
                       for e in before]
    finally:
        await asyncio.to_thread(stop_service, service)

    restarted = await asyncio.to_thread(start_service, data)
    try:
        async with http(restarted, "/graphql") as queries:
            after = (await queries.execute(MINE))["myBookings"]["edges"]
            details_after = [
                await queries.execute(
                    request(BOOKING, {"id": e["node"]["id"], "v": e["node"]["version"]}))
                for e in before]
    finally:
        await asyncio.to_thread(stop_service, restarted)

    assert len(before) == 2
    assert after == before
    assert details_after == details
