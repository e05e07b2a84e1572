"""Hostile input is data: NUL bytes, a megabyte of text, input nested hundreds deep,
impossible dates, and MongoDB operators inside strings never act as query operators,
never end in a 500, and never reveal another customer's booking."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.auth import bearer
from tests.integration.graphql_calls import trip_input
from travelbuddy.bootstrap import Services
from travelbuddy.readmodels.runner import ProjectorRunner

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)

QUERY_URL, COMMAND_URL = "/graphql", "/graphql/command"
MEGABYTE = "x" * 1_000_000
OPERATOR_STRINGS = ['{"$ne": null}', '{"$gt": ""}', "$where", '{"$where": "sleep(1000)"}',
                    "a.b", "$ne", "hotel-tokyo-2.$", "booking.customer_id"]
Json = dict[str, Any]

REQUEST = """mutation ($input: RequestBookingInput!) { requestBooking(input: $input) {
  __typename ... on CommandAccepted { bookingId version }
  ... on CommandError { code } ... on ValidationError { problems { code path } } } }"""
BOOKING = """query ($id: ID!, $v: Int) { booking(id: $id, minVersion: $v) {
  id travelers { name } } }"""
MY_BOOKINGS = "query ($after: String) { myBookings(after: $after) { edges { cursor } } }"


def caller_headers(customer: str) -> dict[str, str]:
    """How a test names its caller: the one place to change when authentication changes."""
    return bearer(customer)


async def post(http: httpx.AsyncClient, url: str, query: str, variables: Json | None = None,
               customer: str = "alice") -> Json:
    response = await http.post(url, json={"query": query, "variables": variables or {}},
                               headers=caller_headers(customer))
    assert response.status_code == 200, response.text[:500]
    body: Json = response.json()
    assert "Traceback" not in response.text and "Internal server error" not in response.text
    return body


async def book(http: httpx.AsyncClient, customer: str, **changes: Any) -> Json:
    trip = trip_input()
    trip.update(changes)
    body = await post(http, COMMAND_URL, REQUEST, {"input": trip}, customer)
    result: Json = body["data"]["requestBooking"]
    return result


def error_codes(body: Json) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def refused_by_graphql(body: Json, message: str) -> None:
    assert body["data"] is None, body
    assert any(message in e["message"] for e in body["errors"]), body


async def test_nul_bytes_in_strings_are_refused(
    http: httpx.AsyncClient, services: Services
) -> None:
    name = await book(http, "alice", travelers=[{"name": "Aiko\x00Tanaka"}])
    assert name["problems"] == [{"code": "INVALID_TEXT", "path": ["input", "travelers", "0",
                                                                  "name"]}]
    found = await post(http, QUERY_URL, BOOKING, {"id": "\x00"})
    assert error_codes(found) == ["BAD_USER_INPUT"] and found["data"] is None, found
    hotels = await post(http, QUERY_URL, 'query ($c: String!) { hotels(city: $c, '
                        'checkIn: "2031-01-01", checkOut: "2031-01-02") { id } }',
                        {"c": "Tokyo\x00"})
    assert error_codes(hotels) == ["BAD_USER_INPUT"] and hotels["data"] is None, hotels


QUERY_STRING_INPUTS = {
    "booking-id": ("query ($t: ID!) { booking(id: $t) { id } }", {"booking": None}),
    "hotel-occupancy-hotel-id": ('query ($t: String!) { hotelOccupancy(hotelId: $t, '
                                 'from: "2031-01-01", to: "2031-01-05") { rooms } }',
                                 {"hotelOccupancy": []}),
    "hotels-city": ('query ($t: String!) { hotels(city: $t, checkIn: "2031-01-01", '
                    'checkOut: "2031-01-02") { id } }', {"hotels": []}),
    "flights-from": ('query ($t: String!) { flights(from: $t, to: "FUK", date: "2031-01-01")'
                     " { id } }", {"flights": []}),
}


@pytest.mark.parametrize(("query", "answer"), QUERY_STRING_INPUTS.values(),
                         ids=QUERY_STRING_INPUTS.keys())
async def test_megabyte_of_text_in_a_query_string_input_finds_nothing(
    http: httpx.AsyncClient, services: Services, query: str, answer: Json
) -> None:
    assert await post(http, QUERY_URL, query, {"t": MEGABYTE}) == {"data": answer}


async def test_megabyte_of_text_as_a_cursor_is_a_bad_user_input(
    http: httpx.AsyncClient, services: Services
) -> None:
    body = await post(http, QUERY_URL, MY_BOOKINGS, {"after": MEGABYTE})

    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_input_object_nested_hundreds_deep_is_a_type_error(
    http: httpx.AsyncClient, services: Services
) -> None:
    nested: Any = {"name": "Aiko"}
    for _ in range(200):
        nested = {"name": nested}

    body = await post(http, COMMAND_URL, REQUEST, {"input": {**trip_input(),
                                                             "travelers": [nested]}})

    refused_by_graphql(body, "String cannot represent")


async def test_list_nested_hundreds_deep_is_a_type_error(
    http: httpx.AsyncClient, services: Services
) -> None:
    nested: Any = [{"name": "Aiko"}]
    for _ in range(200):
        nested = [nested]

    body = await post(http, COMMAND_URL, REQUEST, {"input": {**trip_input(),
                                                             "travelers": nested}})

    refused_by_graphql(body, "invalid value")


async def test_json_nested_beyond_the_parser_is_a_bad_request(
    http: httpx.AsyncClient, services: Services
) -> None:
    body = '{"query": "{ schemaVersion }", "variables": {"x": ' + "[" * 100_000 + "]" * 100_000

    response = await http.post(COMMAND_URL, content=body + "}}", headers={
        **caller_headers("alice"), "Content-Type": "application/json"})

    assert response.status_code == 400, response.text[:300]


async def test_selection_nested_deeper_than_the_limit_is_refused(
    http: httpx.AsyncClient, services: Services
) -> None:
    selection = "name"
    for _ in range(100):
        selection = f"travelers {{ {selection} }}"

    body = await post(http, QUERY_URL, f'{{ booking(id: "b") {{ {selection} }} }}')

    refused_by_graphql(body, "exceeds maximum operation depth")


@pytest.mark.parametrize("date", ["2026-02-30", "2031-13-01", "2031-00-10", "31-01-01",
                                  "2031-01-01T00:00:00", "２０３１-01-01"])
async def test_invalid_date_is_a_type_error_on_both_schemas(
    http: httpx.AsyncClient, services: Services, date: str
) -> None:
    stay = {**trip_input()["hotelStay"], "checkIn": date}
    command = await post(http, COMMAND_URL, REQUEST, {"input": {**trip_input(),
                                                                "hotelStay": stay}})
    occupancy = await post(http, QUERY_URL, 'query ($d: Date!) { hotelOccupancy(hotelId: '
                           '"hotel-sapporo-1", from: $d, to: "2031-01-02") { rooms } }',
                           {"d": date})

    refused_by_graphql(command, "invalid value")
    refused_by_graphql(occupancy, "Variable '$d'")


@pytest.mark.parametrize("booking_id", [*OPERATOR_STRINGS, MEGABYTE[:200]])
async def test_operator_looking_booking_id_finds_no_booking(
    http: httpx.AsyncClient, projector: ProjectorRunner, booking_id: str
) -> None:
    booked = await book(http, "bob")
    # The owner's own booking is in the view, so an operator acting as one would find it.
    mine = await post(http, QUERY_URL, BOOKING, {"id": booked["bookingId"],
                                                 "v": booked["version"]}, "bob")
    assert mine["data"]["booking"]["id"] == booked["bookingId"]

    for customer in ("bob", "alice"):
        found = await post(http, QUERY_URL, BOOKING, {"id": booking_id}, customer)
        assert found == {"data": {"booking": None}}


@pytest.mark.parametrize("value", [{"$ne": None}, {"$gt": ""}, ["$where"], 42.5])
async def test_json_object_where_an_id_is_expected_is_a_type_error(
    http: httpx.AsyncClient, services: Services, value: Any
) -> None:
    body = await post(http, QUERY_URL, BOOKING, {"id": value})

    refused_by_graphql(body, "Variable '$id'")


@pytest.mark.parametrize("name", ['{"$where": "sleep(1000)"}', "$where", "a.b.c",
                                  '{"$ne": null}', "$set", "Tanaka.$[]"])
async def test_operator_looking_traveler_name_is_stored_verbatim(
    http: httpx.AsyncClient, projector: ProjectorRunner, name: str
) -> None:
    booked = await book(http, "alice", travelers=[{"name": name}])
    assert booked["__typename"] == "CommandAccepted", booked

    read = await post(http, QUERY_URL, BOOKING, {"id": booked["bookingId"],
                                                 "v": booked["version"]})

    assert read["data"]["booking"]["travelers"] == [{"name": name}]


@pytest.mark.parametrize("hotel_id", ["$where", '{"$ne": null}', "hotel-tokyo-2.id",
                                      "$hotel-tokyo-2", "hotels.hotel-tokyo-2"])
async def test_operator_looking_hotel_id_is_an_unknown_hotel(
    http: httpx.AsyncClient, services: Services, hotel_id: str
) -> None:
    stay = {**trip_input()["hotelStay"], "hotelId": hotel_id}

    booked = await book(http, "alice", hotelStay=stay)

    assert booked["__typename"] == "ValidationError", booked
    assert booked["problems"] == [{"code": "UNKNOWN_HOTEL",
                                   "path": ["input", "hotelStay", "hotelId"]}]


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize("after", [
    '{"$ne": null}', cursor_of({"$gt": ""}), cursor_of([{"$gt": ""}, {"$ne": None}]),
    cursor_of(["2031-01-01", {"$ne": None}]), cursor_of([None, {"$where": "1"}]),
    cursor_of(["$where", "a.b"])[:-2], "$where",
])
async def test_operator_looking_cursor_is_a_bad_user_input(
    http: httpx.AsyncClient, projector: ProjectorRunner, after: str
) -> None:
    await book(http, "bob")

    body = await post(http, QUERY_URL, MY_BOOKINGS, {"after": after}, "alice")

    assert error_codes(body) == ["BAD_USER_INPUT"], body


async def test_cursor_with_operator_looking_strings_is_data(
    http: httpx.AsyncClient, projector: ProjectorRunner
) -> None:
    booked = await book(http, "alice")
    await post(http, QUERY_URL, BOOKING, {"id": booked["bookingId"], "v": booked["version"]})

    body = await post(http, QUERY_URL, MY_BOOKINGS, {"after": cursor_of(["$where", "a.b"])})

    # A well-formed cursor of strings is a position in the order: "$where" sorts before
    # every date, so the booking comes after it, and nothing else does.
    assert len(body["data"]["myBookings"]["edges"]) == 1, body
