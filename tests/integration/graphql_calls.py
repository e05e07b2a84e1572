"""Small helpers to call both GraphQL endpoints of the ASGI app in tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests.auth import agent_bearer, bearer

REQUEST_BOOKING = """
mutation Request($input: RequestBookingInput!) {
  requestBooking(input: $input) {
    __typename
    ... on CommandAccepted { bookingId version }
    ... on CommandError { code message }
  }
}"""

CONFIRM_HOTEL = """
mutation Confirm($input: ConfirmHotelReservationInput!) {
  confirmHotelReservation(input: $input) {
    __typename ... on CommandAccepted { bookingId version } ... on CommandError { code }
  }
}"""

CONFIRM_FLIGHT = """
mutation Confirm($input: ConfirmFlightReservationInput!) {
  confirmFlightReservation(input: $input) {
    __typename ... on CommandAccepted { bookingId version } ... on CommandError { code }
  }
}"""

FLIGHT_ID = "NH-061-HND-CTS"
HOTEL_ID = "hotel-sapporo-1"


def trip_input(days_ahead: int = 30, nights: int = 3, flights: bool = True) -> dict[str, Any]:
    check_in = dt.date.today() + dt.timedelta(days=days_ahead)
    return {
        "hotelStay": {
            "hotelId": HOTEL_ID, "roomType": "STD", "checkIn": check_in.isoformat(),
            "checkOut": (check_in + dt.timedelta(days=nights)).isoformat(), "guests": 2,
        },
        "flights": [{"flightId": FLIGHT_ID, "date": check_in.isoformat(), "seats": 2,
                     "cabin": "ECONOMY"}] if flights else [],
        "travelers": [{"name": "Aiko Tanaka"}, {"name": "Ken Tanaka"}],
    }


async def graphql(
    http: httpx.AsyncClient, path: str, query: str, variables: dict[str, Any] | None = None,
    customer: str = "alice", headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await http.post(
        path, json={"query": query, "variables": variables or {}},
        headers=headers or bearer(customer),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def command(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], customer: str = "alice"
) -> dict[str, Any]:
    data = await graphql(http, "/graphql/command", query, variables, customer)
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def answer(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """A hotel's or airline's answer (CONFIRM_HOTEL, CONFIRM_FLIGHT), recorded by an agent:
    customers may not record one."""
    data = await graphql(http, "/graphql/command", query, variables, headers=agent_bearer())
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def request_booking(http: httpx.AsyncClient, customer: str = "alice", **trip: Any) -> str:
    result = await command(http, REQUEST_BOOKING, {"input": trip_input(**trip)}, customer)
    assert result["__typename"] == "CommandAccepted", result
    booking_id: str = result["bookingId"]
    return booking_id
