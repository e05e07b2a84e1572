"""The read side end to end: mutation -> event -> change stream -> view -> query."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.graphql_calls import (
    CONFIRM_FLIGHT,
    CONFIRM_HOTEL,
    FLIGHT_ID,
    HOTEL_ID,
    answer,
    graphql,
    request_booking,
)
from travelbuddy.readmodels.runner import ProjectorRunner

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)

BOOKING = """
query Booking($id: ID!, $minVersion: Int) {
  booking(id: $id, minVersion: $minVersion) {
    id status version behind
    hotelStay { hotelId status confirmationCode nights }
    flights { flightId status }
    price { base total currency }
    history { version type description }
  }
}"""


async def read_booking(
    http: httpx.AsyncClient, booking_id: str, min_version: int | None = None,
    customer: str = "alice",
) -> Any:
    data = await graphql(
        http, "/graphql", BOOKING, {"id": booking_id, "minVersion": min_version}, customer
    )
    return data["booking"]


async def test_a_confirmed_trip_reads_back_confirmed_with_its_history(
    http: httpx.AsyncClient, projector: ProjectorRunner
) -> None:
    booking_id = await request_booking(http)
    hotel = await answer(http, CONFIRM_HOTEL, {"input": {
        "bookingId": booking_id, "confirmationCode": "HTL-42"}})
    flight = await answer(http, CONFIRM_FLIGHT, {"input": {
        "bookingId": booking_id, "flightId": FLIGHT_ID, "confirmationCode": "NH-7"}})
    assert (hotel["version"], flight["version"]) == (2, 3)

    booking = await read_booking(http, booking_id, min_version=3)

    assert booking["behind"] is False
    assert booking["status"] == "CONFIRMED"
    assert booking["version"] == 3
    assert booking["hotelStay"] == {
        "hotelId": HOTEL_ID, "status": "RESERVED", "confirmationCode": "HTL-42", "nights": 3}
    assert booking["flights"] == [{"flightId": FLIGHT_ID, "status": "RESERVED"}]
    assert [h["type"] for h in booking["history"]] == [
        "BookingRequested", "HotelReserved", "FlightReserved"]
    assert booking["price"]["total"] == booking["price"]["base"] > 0


async def test_min_version_returns_the_new_state_right_after_a_mutation(
    http: httpx.AsyncClient, projector: ProjectorRunner
) -> None:
    booking_id = await request_booking(http)
    for _ in range(3):
        await read_booking(http, booking_id, min_version=1)  # warm: the view exists
    result = await answer(http, CONFIRM_HOTEL, {"input": {
        "bookingId": booking_id, "confirmationCode": "HTL-1"}})

    booking = await read_booking(http, booking_id, min_version=result["version"])

    assert booking["version"] == result["version"] == 2
    assert booking["hotelStay"]["status"] == "RESERVED"
    assert booking["behind"] is False


async def test_a_view_that_cannot_reach_min_version_answers_behind(
    http: httpx.AsyncClient, projector: ProjectorRunner
) -> None:
    booking_id = await request_booking(http)

    booking = await read_booking(http, booking_id, min_version=99)

    assert booking["behind"] is True
    assert booking["version"] == 1


async def test_another_customers_booking_is_not_found(
    http: httpx.AsyncClient, projector: ProjectorRunner
) -> None:
    booking_id = await request_booking(http, customer="alice")
    await read_booking(http, booking_id, min_version=1)


    assert await read_booking(http, booking_id, customer="bob") is None
