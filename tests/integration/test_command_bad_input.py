"""Bad input to the command endpoint: a typed error or a GraphQL error, never a 500,
never a stack trace, and never an event stored."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, NoReturn

import httpx
import pytest
from test_command_graphql import (
    COMMAND_URL,
    HOTEL_DISCOUNT,
    OPERATIONS,
    PARTNER_ANSWERS,
    days_from_today,
    request_booking,
    stored_events,
    trip,
)

from tests.auth import agent_bearer, bearer
from travelbuddy.app import create_app
from travelbuddy.application import BookingCommands, StaticCatalog
from travelbuddy.bootstrap import Services

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)

Json = dict[str, Any]
ALICE = bearer("alice")
MEGABYTE = "x" * 1_000_000
# What a leaked exception looks like: a traceback, a source line, a Python exception class.
LEAK = re.compile(
    r"Traceback|File \"|\.py\b|\b(\w+Exception|ValueError|TypeError|KeyError|AttributeError"
    r"|AssertionError|IndexError|RuntimeError|DuplicateKeyError|ConcurrencyError|DomainError"
    r"|ValidationFailed|InvalidTransition|pydantic|pymongo)\b"
)


@dataclass(frozen=True)
class Expected:
    """A GraphQL error whose message holds `graphql_error`, a typed error (for a
    ValidationError: with a problem `code` at `path`), or a plain HTTP 400 whose body
    holds `http_400`."""

    graphql_error: str | None = None
    code: str | None = None
    path: list[str] | None = None
    http_400: str | None = None
    typename: str = "ValidationError"


REMOVED = object()


def request_with(path: tuple[str | int, ...], value: Any) -> Json:
    """The RequestBooking request for `trip()`, with `value` put in at `path` under
    "input" (or at "commandId"); REMOVED deletes the field."""
    variables: Json = {"input": trip()}
    *parents, last = path if path == ("commandId",) else ("input", *path)
    target: Any = variables
    for key in parents:
        target = target[key]
    if value is REMOVED:
        del target[last]
    else:
        target[last] = value
    return {"query": OPERATIONS, "operationName": "RequestBooking", "variables": variables}


def inline(arguments: str) -> Json:
    return {"query": f"mutation {{ requestBooking{arguments} {{ __typename }} }}"}


def invalid_value(field: str) -> Expected:
    return Expected(graphql_error=f"invalid value at .{field}")


def too_long(*path: str) -> Expected:
    return Expected(code="TOO_LONG", path=list(path))


REQUESTS: dict[str, tuple[Json | bytes, Expected]] = {
    "missing-travelers": (request_with(("travelers",), REMOVED),
                          Expected(graphql_error="required field 'travelers'")),
    "missing-hotel-id": (request_with(("hotelStay", "hotelId"), REMOVED),
                         Expected(graphql_error="required field 'hotelId'")),
    "null-travelers": (request_with(("travelers",), None), invalid_value("travelers")),
    "null-guests": (request_with(("hotelStay", "guests"), None),
                    invalid_value("hotelStay.guests")),
    "missing-input-argument": (inline(""), Expected(graphql_error="requestBooking(input:)")),
    "missing-field-in-literal": (inline('(input: {flights: []})'),
                                 Expected(graphql_error="travelers")),
    "string-for-int": (request_with(("flights", 0, "seats"), "two"),
                       invalid_value("flights[0].seats")),
    "string-for-int-literal": (inline('(input: {travelers: [{name: "A"}], hotelStay: {hotelId: '
                                      '"hotel-tokyo-2", roomType: "STD", checkIn: "2031-01-01", '
                                      'checkOut: "2031-01-02", guests: "2"}})'),
                               Expected(graphql_error="Int cannot represent")),
    "float-for-int": (request_with(("hotelStay", "guests"), 2.5),
                      invalid_value("hotelStay.guests")),
    "int-beyond-32-bits": (request_with(("hotelStay", "guests"), 2**40),
                           invalid_value("hotelStay.guests")),
    # GraphQL reads one well-formed object where a list is expected as a list of one
    # (input coercion in the spec); an object that is no FlightInput is refused.
    "object-for-list": (request_with(("flights",), {"flight": "JL-305-HND-FUK"}),
                        invalid_value("flights")),
    "string-for-list": (request_with(("travelers",), "Hanako"), invalid_value("travelers")),
    "list-for-object": (request_with(("hotelStay",), ["hotel-tokyo-2"]),
                        invalid_value("hotelStay")),
    "zero-guests": (request_with(("hotelStay", "guests"), 0),
                    Expected(code="GUESTS_OUT_OF_RANGE", path=["input", "hotelStay", "guests"])),
    "negative-seats": (request_with(("flights", 1, "seats"), -3),
                       Expected(code="SEATS_OUT_OF_RANGE",
                                path=["input", "flights", "1", "seats"])),
    "too-many-seats": (request_with(("flights", 0, "seats"), 10),
                       Expected(code="SEATS_OUT_OF_RANGE",
                                path=["input", "flights", "0", "seats"])),
    "check-in-in-the-past": (request_with(("hotelStay", "checkIn"), days_from_today(-3)),
                             Expected(code="CHECK_IN_IN_PAST",
                                      path=["input", "hotelStay", "checkIn"])),
    "unknown-hotel": (request_with(("hotelStay", "hotelId"), "hotel-nowhere"),
                      Expected(code="UNKNOWN_HOTEL", path=["input", "hotelStay", "hotelId"])),
    "unknown-flight": (request_with(("flights", 0, "flightId"), "ZZ-1-AAA-BBB"),
                       Expected(code="UNKNOWN_FLIGHT", path=["input", "flights", "0", "flightId"])),
    "month-13": (request_with(("hotelStay", "checkIn"), "2026-13-45"),
                 invalid_value("hotelStay.checkIn")),
    "date-in-words": (request_with(("flights", 0, "date"), "tomorrow"),
                      invalid_value("flights[0].date")),
    "empty-date": (request_with(("hotelStay", "checkOut"), ""),
                   invalid_value("hotelStay.checkOut")),
    "unknown-enum-value": (request_with(("flights", 0, "cabin"), "BUSINESS"),
                           invalid_value("flights[0].cabin")),
    "lower-case-enum-value": (request_with(("flights", 0, "cabin"), "economy"),
                              invalid_value("flights[0].cabin")),
    "megabyte-traveler-name": (request_with(("travelers", 0, "name"), MEGABYTE),
                               too_long("input", "travelers", "0", "name")),
    "megabyte-hotel-id": (request_with(("hotelStay", "hotelId"), MEGABYTE),
                          too_long("input", "hotelStay", "hotelId")),
    "megabyte-command-id": (request_with(("commandId",), MEGABYTE), too_long("commandId")),
    "nul-in-traveler-name": (request_with(("travelers", 1, "name"), "Taro\x00Yamada"),
                             Expected(code="INVALID_TEXT",
                                      path=["input", "travelers", "1", "name"])),
    "nul-in-hotel-id": (request_with(("hotelStay", "hotelId"), "hotel-tokyo-2\x00"),
                        Expected(code="INVALID_TEXT", path=["input", "hotelStay", "hotelId"])),
    "syntax-error": ({"query": "mutation { requestBooking("}, Expected(graphql_error="Syntax")),
    "unknown-field": (inline('(input: {travelers: [{name: "A"}], hotel: "x"})'),
                      Expected(graphql_error="'hotel'")),
    "malformed-json": (b'{"query": "mutation {', Expected(http_400="JSON")),
    "empty-body": (b"", Expected(http_400="JSON")),
    "json-list": (b"[]", Expected(http_400="Batching")),
    "no-query": ({"variables": {}}, Expected(http_400="No GraphQL query")),
    "variables-not-an-object": ({"query": OPERATIONS, "operationName": "RequestBooking",
                                 "variables": ["x"]}, Expected(http_400="variables")),
    "unknown-operation": ({"query": OPERATIONS, "operationName": "Book"},
                          Expected(http_400="Unknown operation")),
}  # fmt: skip


async def post(http: httpx.AsyncClient, body: Json | bytes) -> httpx.Response:
    if isinstance(body, bytes):
        headers = {**ALICE, "Content-Type": "application/json"}
        return await http.post(COMMAND_URL, content=body, headers=headers)
    # A partner's answer is sent as an agent records one: customers may not.
    headers = agent_bearer() if body.get("operationName") in PARTNER_ANSWERS else ALICE
    return await http.post(COMMAND_URL, json=body, headers=headers)


def assert_answered(response: httpx.Response, expected: Expected) -> None:
    assert response.status_code < 500, response.text[:500]
    assert not LEAK.search(response.text), response.text[:500]
    if expected.http_400 is not None:
        assert response.status_code == 400
        assert expected.http_400 in response.text
        return
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    if expected.graphql_error is not None:
        assert body["data"] is None, body
        assert any(expected.graphql_error in e["message"] for e in body["errors"]), body
        return
    [result] = body["data"].values()
    assert result["__typename"] == expected.typename, result
    if expected.typename == "ValidationError":
        problems = [(p["code"], p["path"]) for p in result["problems"]]
        assert (expected.code, expected.path) in problems, result
    else:
        assert result["code"] == expected.code, result


@pytest.mark.parametrize(("body", "expected"), REQUESTS.values(), ids=REQUESTS.keys())
async def test_bad_booking_request_is_answered_without_storing_anything(
    http: httpx.AsyncClient, services: Services, body: Json | bytes, expected: Expected
) -> None:
    response = await post(http, body)

    assert_answered(response, expected)
    assert await stored_events(services) == []


def follow_up(operation: str, **input: Any) -> Json:
    return {"query": OPERATIONS, "operationName": operation, "variables": {"input": input}}


BOOKING = "<the booking>"
FOLLOW_UPS: dict[str, tuple[Json, Expected]] = {
    "megabyte-booking-id": (follow_up("ApplyPerk", bookingId=MEGABYTE, perkCode=HOTEL_DISCOUNT),
                            too_long("input", "bookingId")),
    "megabyte-confirmation-code": (follow_up("ConfirmHotelReservation", bookingId=BOOKING,
                                             confirmationCode=MEGABYTE),
                                   too_long("input", "confirmationCode")),
    "nul-in-reason": (follow_up("CancelBooking", bookingId=BOOKING, reason="changed\x00"),
                      Expected(code="INVALID_TEXT", path=["input", "reason"])),
    "object-for-id": (follow_up("ApplyPerk", bookingId={"id": 1}, perkCode=HOTEL_DISCOUNT),
                      invalid_value("bookingId")),
    "missing-perk-code": (follow_up("ApplyPerk", bookingId=BOOKING),
                          Expected(graphql_error="required field 'perkCode'")),
    "unknown-perk": (follow_up("ApplyPerk", bookingId=BOOKING, perkCode="FREE-CHAMPAGNE"),
                     Expected(code="UNKNOWN_PERK", path=["input", "perkCode"])),
    "flight-not-in-booking": (follow_up("ConfirmFlightReservation", bookingId=BOOKING,
                                        flightId="NH-061-HND-CTS", confirmationCode="C"),
                              Expected(code="FLIGHT_NOT_IN_BOOKING",
                                       typename="InvalidTransitionError")),
    "month-13": (follow_up("ChangeStayDates", bookingId=BOOKING, checkIn="2026-13-45",
                           checkOut=days_from_today(33)), invalid_value("checkIn")),
    "check-out-before-check-in": (follow_up("ChangeStayDates", bookingId=BOOKING,
                                            checkIn=days_from_today(33),
                                            checkOut=days_from_today(30)),
                                  Expected(code="CHECK_OUT_NOT_AFTER_CHECK_IN",
                                           path=["input", "checkOut"])),
    "check-in-in-the-past": (follow_up("ChangeStayDates", bookingId=BOOKING,
                                       checkIn=days_from_today(-2), checkOut=days_from_today(3)),
                             Expected(code="CHECK_IN_IN_PAST", path=["input", "checkIn"])),
}  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), FOLLOW_UPS.values(), ids=FOLLOW_UPS.keys())
async def test_bad_follow_up_command_is_answered_without_storing_anything(
    http: httpx.AsyncClient, services: Services, body: Json, expected: Expected
) -> None:
    booking_id = await request_booking(http)
    input = body["variables"]["input"]
    if input.get("bookingId") == BOOKING:
        body = {**body, "variables": {"input": {**input, "bookingId": booking_id}}}

    response = await post(http, body)

    assert_answered(response, expected)
    assert [e["type"] for e in await stored_events(services)] == ["BookingRequested"]


@pytest.mark.parametrize("body", [b'"mutation"', b"42", b"null", b"true"])
async def test_json_body_that_is_not_an_object_is_a_bad_request(
    http: httpx.AsyncClient, services: Services, body: bytes
) -> None:
    response = await post(http, body)

    assert response.status_code == 400, response.text
    assert await stored_events(services) == []


class BrokenCommands(BookingCommands):
    async def handle(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("mongodb at db-7.internal:27017 refused the connection")


async def test_unexpected_failure_is_masked_and_stores_nothing(services: Services) -> None:
    broken = replace(services, commands=BrokenCommands(services.store, StaticCatalog()))
    transport = httpx.ASGITransport(app=create_app(services.settings, services=broken))

    async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as http:
        response = await post(http, request_with(("travelers", 0, "name"), "Hanako"))

    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["message"] == f"Internal server error (id {error['extensions']['error_id']})"
    assert "db-7" not in response.text
    assert not LEAK.search(response.text), response.text
    assert await stored_events(services) == []

