"""Text at the boundary: a lone UTF-16 surrogate or a control character in any text a
client sends is refused with a typed error and stores nothing. The command schema answers
a ValidationError (INVALID_TEXT at the field's path); the query schema a GraphQL error
BAD_USER_INPUT; a bad operationName a JSON 400. Never INTERNAL, never an ERROR log line.

(A stored event holding such text stopped the embedded read side for good: SQLite cannot
encode a lone surrogate. See also tests/unit/domain/test_text.py for the partners' side.)
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import httpx
import pytest
from test_command_graphql import (
    COMMAND_URL,
    OPERATIONS,
    PARTNER_ANSWERS,
    follow_up_input,
    request_booking,
    stored_events,
    trip,
)

from tests.auth import agent_bearer, bearer
from travelbuddy.bootstrap import Services

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)

QUERY_URL = "/graphql"
Json = dict[str, Any]
BAD_TEXT = {"lone-surrogate": "Aiko \ud800 Tanaka", "nul": "Aiko\x00", "escape": "\x1b[31mred",
            "c1-control": "next\x85line", "low-surrogate-alone": "\udfff"}
REQUEST_FIELDS: list[tuple[str | int, ...]] = [
    ("hotelStay", "hotelId"), ("hotelStay", "roomType"), ("flights", 0, "flightId"),
    ("travelers", 0, "name"), ("travelers", 1, "name"),
]
FOLLOW_UP_FIELDS: dict[str, tuple[str, ...]] = {
    "ConfirmHotelReservation": ("bookingId", "confirmationCode"),
    "RejectHotelReservation": ("bookingId", "reason"),
    "ConfirmFlightReservation": ("bookingId", "flightId", "confirmationCode"),
    "RejectFlightReservation": ("bookingId", "flightId", "reason"),
    "ApplyPerk": ("bookingId", "perkCode"),
    "ChangeStayDates": ("bookingId",),
    "CancelBooking": ("bookingId", "reason"),
}


def encoded(body: Json) -> bytes:
    """The body as a client sends it: a lone surrogate as a JSON escape ("\\ud800")."""
    return json.dumps(body).encode("ascii")


async def post(http: httpx.AsyncClient, url: str, body: Json,
               headers: dict[str, str] | None = None) -> httpx.Response:
    return await http.post(url, content=encoded(body), headers={
        **(headers or bearer("alice")), "Content-Type": "application/json"})


def no_internal_error(response: httpx.Response, caplog: pytest.LogCaptureFixture) -> None:
    assert response.status_code < 500, response.text[:300]
    assert "INTERNAL" not in response.text and "Traceback" not in response.text, response.text
    # The service's log: another test's Kafka clients may still be logging reconnects.
    logged = [r for r in caplog.records if (r.levelno >= logging.ERROR or r.exc_info)
              and not r.name.startswith("aiokafka")]
    assert not logged, [r.getMessage() for r in logged]


def invalid_text_at(response: httpx.Response, path: list[str]) -> None:
    assert response.status_code == 200, response.text[:300]
    [result] = response.json()["data"].values()
    assert result["__typename"] == "ValidationError", result
    assert [(p["code"], p["path"]) for p in result["problems"]] == [("INVALID_TEXT", path)]


def graphql_refusal(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert body["data"] is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body


# --- the command schema: a typed ValidationError, nothing appended ---


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
@pytest.mark.parametrize("field", REQUEST_FIELDS, ids=lambda f: ".".join(map(str, f)))
async def test_invalid_text_in_a_booking_request_is_refused_and_stores_nothing(
    http: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture,
    field: tuple[str | int, ...], text: str,
) -> None:
    request: Any = trip()
    *parents, last = field
    target = request
    for key in parents:
        target = target[key]
    target[last] = text

    response = await post(http, COMMAND_URL, {"query": OPERATIONS, "operationName":
                                              "RequestBooking", "variables": {"input": request}})

    invalid_text_at(response, ["input", *map(str, field)])
    no_internal_error(response, caplog)
    assert await stored_events(services) == []


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
@pytest.mark.parametrize(("operation", "field"), [
    (operation, field) for operation, fields in FOLLOW_UP_FIELDS.items() for field in fields
], ids=lambda value: value)
async def test_invalid_text_in_a_follow_up_command_is_refused_and_appends_nothing(
    http: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture,
    operation: str, field: str, text: str,
) -> None:
    booking_id = await request_booking(http)
    input = {**follow_up_input(operation, booking_id), field: text}
    # A partner's answer as an agent sends one: a customer's is refused whatever it holds.
    headers = agent_bearer() if operation in PARTNER_ANSWERS else bearer("alice")

    response = await post(http, COMMAND_URL, {"query": OPERATIONS, "operationName": operation,
                                              "variables": {"input": input}}, headers)

    invalid_text_at(response, ["input", field])
    no_internal_error(response, caplog)
    assert [e["type"] for e in await stored_events(services)] == ["BookingRequested"]


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
@pytest.mark.parametrize("operation", ["RequestBooking", "CancelBooking"])
async def test_invalid_text_as_a_command_id_is_refused_and_stores_nothing(
    http: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture,
    operation: str, text: str,
) -> None:
    booking_id = await request_booking(http) if operation != "RequestBooking" else None
    input = trip() if booking_id is None else follow_up_input(operation, booking_id)

    response = await post(http, COMMAND_URL, {"query": OPERATIONS, "operationName": operation,
                                              "variables": {"input": input, "commandId": text}})

    invalid_text_at(response, ["commandId"])
    no_internal_error(response, caplog)
    assert len(await stored_events(services)) == (0 if booking_id is None else 1)


@pytest.mark.parametrize("escape", ["\\u0000", "\\u001b", "\\u0085"])
async def test_control_character_written_as_a_literal_escape_is_refused_too(
    http: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture,
    escape: str,
) -> None:
    booking_id = await request_booking(http)
    query = (f'mutation {{ cancelBooking(input: {{bookingId: "{booking_id}", reason: '
             f'"changed{escape}"}}) {{ __typename ... on ValidationError {{ problems {{ code '
             f'path }} }} }} }}')

    response = await post(http, COMMAND_URL, {"query": query})

    invalid_text_at(response, ["input", "reason"])
    no_internal_error(response, caplog)
    assert len(await stored_events(services)) == 1


@pytest.mark.parametrize("query", [
    'mutation { cancelBooking(input: {bookingId: "b", reason: "\\ud800"}) { __typename } }',
    'mutation { cancelBooking(input: {bookingId: "b", reason: "\ud800"}) { __typename } }',
    'mutation { cancelBooking(input: {bookingId: "b", reason: """\ud800"""}) { __typename } }',
    "mutation \ud800 { cancelBooking(input: {bookingId: \"b\"}) { __typename } }",
], ids=["escaped", "raw", "raw-in-block-string", "raw-outside-a-string"])
async def test_a_lone_surrogate_in_the_document_is_a_syntax_error(
    http: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    response = await post(http, COMMAND_URL, {"query": query})

    assert response.status_code == 200, response.text
    [error] = response.json()["errors"]
    assert "Syntax Error" in error["message"], response.text
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}, response.text
    no_internal_error(response, caplog)
    assert await stored_events(services) == []


@pytest.mark.parametrize("query", ['{ booking(id: "\\ud800") { id } }',
                                   '{ booking(id: "\ud800") { id } }'], ids=["escaped", "raw"])
async def test_a_lone_surrogate_in_a_query_literal_is_a_bad_user_input(
    http: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    response = await post(http, QUERY_URL, {"query": query})

    graphql_refusal(response)
    no_internal_error(response, caplog)


# --- the query schema: BAD_USER_INPUT ---


QUERIES = {
    "booking-id": ("query ($t: ID!) { booking(id: $t) { id } }", None),
    "booking-min-version": ("query ($t: ID!) { booking(id: $t, minVersion: 1) { id } }", None),
    "hotels-city": ('query ($t: String!) { hotels(city: $t, checkIn: "2031-01-01", '
                    'checkOut: "2031-01-02") { id } }', None),
    "flights-from": ('query ($t: String!) { flights(from: $t, to: "FUK", date: "2031-01-01") '
                     "{ id } }", None),
    "occupancy-hotel-id": ('query ($t: String!) { hotelOccupancy(hotelId: $t, from: '
                           '"2031-01-01", to: "2031-01-05") { rooms } }', None),
    "cursor": ("query ($t: String) { myBookings(after: $t) { edges { cursor } } }", None),
}


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
@pytest.mark.parametrize("query", [q for q, _ in QUERIES.values()], ids=QUERIES.keys())
async def test_invalid_text_in_a_query_variable_is_a_bad_user_input(
    http: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture,
    query: str, text: str,
) -> None:
    response = await post(http, QUERY_URL, {"query": query, "variables": {"t": text}})

    graphql_refusal(response)
    no_internal_error(response, caplog)


@pytest.mark.parametrize("literal", ["\\u0000", "\\u0007", "x\\u009b"])
async def test_control_character_in_a_query_literal_is_a_bad_user_input(
    http: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture,
    literal: str,
) -> None:
    response = await post(http, QUERY_URL, {"query": f'{{ booking(id: "{literal}") {{ id }} }}'})

    graphql_refusal(response)
    no_internal_error(response, caplog)


@pytest.mark.parametrize("pair", [["2031-01-01", "\ud800"], ["\udbff", "b-1"],
                                  [None, "b\x00"]], ids=["id", "check-in", "nul"])
async def test_a_cursor_carrying_invalid_text_in_its_json_is_a_bad_user_input(
    http: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture,
    pair: list[str | None],
) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(pair).encode("ascii")).decode()  # ASCII

    response = await post(http, QUERY_URL, {"query": QUERIES["cursor"][0],
                                            "variables": {"t": cursor}})

    graphql_refusal(response)
    no_internal_error(response, caplog)


@pytest.mark.parametrize("url", [QUERY_URL, COMMAND_URL])
@pytest.mark.parametrize("name", ["\ud800", "Book\x00", "\udc00Book"])
async def test_invalid_text_as_operation_name_is_a_json_bad_request(
    http: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture,
    url: str, name: str,
) -> None:
    response = await post(http, url, {"query": "query Book { __typename }",
                                      "operationName": name})

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "bad_request", response.text
    assert "operationName" in response.json()["reason"]
    no_internal_error(response, caplog)


async def test_text_that_is_valid_unicode_is_still_accepted(
    http: httpx.AsyncClient, services: Services
) -> None:
    request = trip()
    request["travelers"] = [{"name": "山田 花子"}, {"name": "Zoë 😀 O'Brien-Łukasz"}]

    response = await post(http, COMMAND_URL, {"query": OPERATIONS, "operationName":
                                              "RequestBooking", "variables": {"input": request}})
    found = await post(http, QUERY_URL, {"query": QUERIES["hotels-city"][0],
                                         "variables": {"t": "東京 😀"}})

    assert response.json()["data"]["requestBooking"]["__typename"] == "CommandAccepted"
    assert found.json() == {"data": {"hotels": []}}
