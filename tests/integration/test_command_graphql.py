"""The command schema over HTTP: commands that break a rule are answered as typed data.

The helpers on top are shared by the other command tests: every mutation they send is
an example operation of graphql/operations/commands.graphql, so the examples are the
client code the tests exercise.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth import AGENT, agent_bearer, bearer
from travelbuddy.bootstrap import Services
from travelbuddy.eventstore.mongo import event_document
from travelbuddy.eventstore.port import NewEvent

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)

COMMAND_URL = "/graphql/command"
OPERATIONS_FILE = Path(__file__).resolve().parents[2] / "graphql/operations/commands.graphql"
OPERATIONS = OPERATIONS_FILE.read_text(encoding="utf-8")
FOLLOW_UP_OPERATIONS = (
    "ConfirmHotelReservation", "RejectHotelReservation", "ConfirmFlightReservation",
    "RejectFlightReservation", "ApplyPerk", "ChangeStayDates", "CancelBooking",
)  # fmt: skip
OUTBOUND, INBOUND = "JL-305-HND-FUK", "JL-306-FUK-HND"
HOTEL_DISCOUNT = "HTL-TYO-02-DISCOUNT"  # 10% off the stay at hotel-tokyo-2

Json = dict[str, Any]


def days_from_today(days: int) -> str:
    """An ISO date `days` after today in the service's calendar (UTC)."""
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)).isoformat()


def trip() -> Json:
    """A RequestBookingInput: two nights at hotel-tokyo-2 (22,000 JPY) and a round trip
    to Fukuoka for two (2 x 42,000 JPY)."""
    return copy.deepcopy({
        "hotelStay": {"hotelId": "hotel-tokyo-2", "roomType": "STD",
                      "checkIn": days_from_today(20), "checkOut": days_from_today(22),
                      "guests": 2},
        "flights": [
            {"flightId": OUTBOUND, "date": days_from_today(20), "seats": 2, "cabin": "ECONOMY"},
            {"flightId": INBOUND, "date": days_from_today(22), "seats": 2, "cabin": "ECONOMY"},
        ],
        "travelers": [{"name": "Hanako Yamada"}, {"name": "Taro Yamada"}],
    })  # fmt: skip


def follow_up_input(operation: str, booking_id: str) -> Json:
    """A valid input of a follow-up operation on a booking of `trip()`."""
    inputs: dict[str, Json] = {
        "ConfirmHotelReservation": {"confirmationCode": "TYO2-88412"},
        "RejectHotelReservation": {"reason": "The hotel is fully booked."},
        "ConfirmFlightReservation": {"flightId": OUTBOUND, "confirmationCode": "JL-Q7XK2P"},
        "RejectFlightReservation": {"flightId": INBOUND, "reason": "No seats left."},
        "ApplyPerk": {"perkCode": HOTEL_DISCOUNT},
        "ChangeStayDates": {"checkIn": days_from_today(30), "checkOut": days_from_today(33)},
        "CancelBooking": {"reason": "Plans changed."},
    }
    return {"bookingId": booking_id, **inputs[operation]}


PARTNER_ANSWERS = frozenset({"ConfirmHotelReservation", "RejectHotelReservation",
                             "ConfirmFlightReservation", "RejectFlightReservation"})
BY_WHOEVER_SENDS_IT = "(an agent for a partner's answer, else alice)"


def customer_header(customer: str | None) -> dict[str, str]:
    return {} if customer is None else bearer(customer)


def sender_header(operation: str, customer: str | None) -> dict[str, str]:
    """Who sends `operation` unless a test names the sender: a hotel's or airline's answer
    an agent (customers may not record one), anything else the customer alice."""
    if customer == BY_WHOEVER_SENDS_IT:
        return agent_bearer() if operation in PARTNER_ANSWERS else bearer("alice")
    return customer_header(customer)


async def send(
    http: httpx.AsyncClient,
    operation: str,
    input: Json,
    *,
    customer: str | None = BY_WHOEVER_SENDS_IT,
    command_id: str | None = None,
) -> Json:
    """Run an example operation; the CommandResult it answered with."""
    variables: Json = {"input": input}
    if command_id is not None:
        variables["commandId"] = command_id
    response = await http.post(
        COMMAND_URL,
        json={"query": OPERATIONS, "operationName": operation, "variables": variables},
        headers=sender_header(operation, customer),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result: Json = body["data"][operation[0].lower() + operation[1:]]
    return result


async def request_booking(http: httpx.AsyncClient, customer: str = "alice") -> str:
    """Book `trip()` for `customer`; the booking id."""
    result = await send(http, "RequestBooking", trip(), customer=customer)
    assert result["__typename"] == "CommandAccepted", result
    return str(result["bookingId"])


async def stored_events(services: Services, booking_id: str | None = None) -> list[Json]:
    """The stored events (of one booking) in the store's document shape, in stream order."""
    events = [e async for e in services.store.read_all()
              if booking_id is None or e.stream_id == f"booking-{booking_id}"]
    events.sort(key=lambda e: (e.stream_id, e.version))
    return [event_document(e.stream_id, e.version, NewEvent(
        e.type, e.schema_version, e.data, e.metadata)) for e in events]


def problems(result: Json) -> list[tuple[str, list[str] | None]]:
    assert result["__typename"] == "ValidationError", result
    return [(p["code"], p["path"]) for p in result["problems"]]


# --- ValidationError: every broken input rule, at its GraphQL path ---


async def test_out_of_range_guests_and_seats_are_problems_at_their_paths(
    http: httpx.AsyncClient, services: Services
) -> None:
    request = trip()
    request["hotelStay"]["guests"] = 10
    request["flights"][1]["seats"] = 0

    result = await send(http, "RequestBooking", request)

    assert result["code"] == "VALIDATION_FAILED"
    assert problems(result) == [
        ("GUESTS_OUT_OF_RANGE", ["input", "hotelStay", "guests"]),
        ("SEATS_OUT_OF_RANGE", ["input", "flights", "1", "seats"]),
    ]
    assert "1 to 9 guests" in result["message"]
    assert await stored_events(services) == []


async def test_check_out_before_check_in_is_a_problem_at_check_out(
    http: httpx.AsyncClient, services: Services
) -> None:
    request = trip()
    request["hotelStay"]["checkOut"] = days_from_today(18)

    result = await send(http, "RequestBooking", request)

    assert problems(result) == [
        ("CHECK_OUT_NOT_AFTER_CHECK_IN", ["input", "hotelStay", "checkOut"])
    ]
    assert await stored_events(services) == []


async def test_unknown_hotel_room_type_and_flight_are_problems_at_their_ids(
    http: httpx.AsyncClient, services: Services
) -> None:
    unknown_hotel = trip()
    unknown_hotel["hotelStay"]["hotelId"] = "hotel-atlantis-1"
    unknown_hotel["flights"][0]["flightId"] = "XX-999-HND-NOW"
    unknown_room = trip()
    unknown_room["hotelStay"]["roomType"] = "PENTHOUSE"

    assert problems(await send(http, "RequestBooking", unknown_hotel)) == [
        ("UNKNOWN_HOTEL", ["input", "hotelStay", "hotelId"]),
        ("UNKNOWN_FLIGHT", ["input", "flights", "0", "flightId"]),
    ]
    assert problems(await send(http, "RequestBooking", unknown_room)) == [
        ("UNKNOWN_ROOM_TYPE", ["input", "hotelStay", "roomType"]),
    ]
    assert await stored_events(services) == []


async def test_unknown_perk_and_bad_new_dates_are_problems_of_follow_up_inputs(
    http: httpx.AsyncClient, services: Services
) -> None:
    booking_id = await request_booking(http)
    backwards = {"bookingId": booking_id,
                 "checkIn": days_from_today(30), "checkOut": days_from_today(29)}

    unknown_perk = await send(http, "ApplyPerk", {"bookingId": booking_id, "perkCode": "NOPE"})
    bad_dates = await send(http, "ChangeStayDates", backwards)

    assert problems(unknown_perk) == [("UNKNOWN_PERK", ["input", "perkCode"])]
    assert problems(bad_dates) == [("CHECK_OUT_NOT_AFTER_CHECK_IN", ["input", "checkOut"])]
    assert len(await stored_events(services)) == 1


# --- BookingNotFoundError: an unknown booking, or one of another customer ---


@pytest.mark.parametrize("operation", FOLLOW_UP_OPERATIONS)
async def test_command_on_an_unknown_booking_is_not_found(
    http: httpx.AsyncClient, services: Services, operation: str
) -> None:
    result = await send(http, operation, follow_up_input(operation, "no-such-booking"))

    assert result == {"__typename": "BookingNotFoundError", "code": "BOOKING_NOT_FOUND",
                      "message": "There is no booking no-such-booking.",
                      "bookingId": "no-such-booking"}  # fmt: skip
    assert await stored_events(services) == []


# A partner's answer from a customer is refused before any booking is looked at, whoever's
# it is (test_command_oracles.py).
@pytest.mark.parametrize("operation", [o for o in FOLLOW_UP_OPERATIONS
                                       if o not in PARTNER_ANSWERS])
async def test_command_on_another_customers_booking_is_not_found_and_changes_nothing(
    http: httpx.AsyncClient, services: Services, operation: str
) -> None:
    alices = await request_booking(http, customer="alice")

    result = await send(http, operation, follow_up_input(operation, alices), customer="bob")

    # Exactly the answer for a booking that does not exist: bob learns nothing.
    assert result == {"__typename": "BookingNotFoundError", "code": "BOOKING_NOT_FOUND",
                      "message": f"There is no booking {alices}.", "bookingId": alices}
    assert [e["type"] for e in await stored_events(services)] == ["BookingRequested"]


# --- NotAllowedError: a partner's answer is the partner's (or an agent's) to record ---


@pytest.mark.parametrize("operation", sorted(PARTNER_ANSWERS))
async def test_a_customer_may_not_record_a_partners_answer_even_for_their_own_booking(
    http: httpx.AsyncClient, services: Services, operation: str
) -> None:
    booking_id = await request_booking(http, customer="alice")

    result = await send(http, operation, follow_up_input(operation, booking_id),
                        customer="alice")

    assert result == {"__typename": "NotAllowedError", "code": "NOT_ALLOWED",
                      "message": "Only the hotel or airline (or an agent on their behalf) "
                                 "records its answer to a reservation.",
                      "bookingId": booking_id}  # fmt: skip
    assert [e["type"] for e in await stored_events(services)] == ["BookingRequested"]


async def test_an_agent_records_a_partners_answer_for_any_customers_booking(
    http: httpx.AsyncClient, services: Services
) -> None:
    booking_id = await request_booking(http, customer="alice")

    result = await send(http, "ConfirmHotelReservation",
                        follow_up_input("ConfirmHotelReservation", booking_id))

    assert (result["__typename"], result["version"]) == ("CommandAccepted", 2), result
    [_requested, reserved] = await stored_events(services)
    assert reserved["type"] == "HotelReserved"
    assert reserved["metadata"]["customer_id"] == "alice"  # still alice's booking
    assert reserved["metadata"]["issued_by"] == AGENT


# --- InvalidTransitionError: the booking's state forbids the command ---


@pytest.mark.parametrize(
    ("given", "operation", "code"),
    [
        (["CancelBooking"], "CancelBooking", "ALREADY_CANCELLED"),
        (["CancelBooking"], "ApplyPerk", "BOOKING_CANCELLED"),
        (["ConfirmHotelReservation"], "ConfirmHotelReservation", "ITEM_NOT_PENDING"),
        (["RejectFlightReservation"], "ChangeStayDates", "BOOKING_REJECTED"),
        (["ApplyPerk"], "ApplyPerk", "PERK_ALREADY_APPLIED"),
    ],
)
async def test_command_the_bookings_state_forbids_is_an_invalid_transition(
    http: httpx.AsyncClient, services: Services, given: list[str], operation: str, code: str
) -> None:
    booking_id = await request_booking(http)
    for earlier in given:
        accepted = await send(http, earlier, follow_up_input(earlier, booking_id))
        assert accepted["__typename"] == "CommandAccepted", accepted

    result = await send(http, operation, follow_up_input(operation, booking_id))

    assert result["__typename"] == "InvalidTransitionError", result
    assert (result["code"], result["bookingId"]) == (code, booking_id)
    assert result["message"]
    assert len(await stored_events(services)) == 1 + len(given)


# --- No valid bearer token: refused before the schema (401) ---


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer not-a-jwt", "Basic abc"],
                         ids=["absent", "empty", "no-token", "malformed", "not-bearer"])
@pytest.mark.parametrize("operation", ["RequestBooking", *FOLLOW_UP_OPERATIONS])
async def test_command_without_a_valid_token_is_refused_and_stores_nothing(
    http: httpx.AsyncClient, services: Services, operation: str, authorization: str | None
) -> None:
    booking_id = await request_booking(http) if operation != "RequestBooking" else ""
    input = trip() if operation == "RequestBooking" else follow_up_input(operation, booking_id)

    response = await http.post(
        COMMAND_URL,
        json={"query": OPERATIONS, "operationName": operation, "variables": {"input": input}},
        headers={} if authorization is None else {"Authorization": authorization},
    )

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert len(await stored_events(services)) == (0 if operation == "RequestBooking" else 1)
