"""Every mutation of the command schema, over HTTP: accepted, and its event stored.

Also: a repeated command id changes nothing, and the example operations in
graphql/operations/commands.graphql run as written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse
from test_command_graphql import (
    FOLLOW_UP_OPERATIONS,
    HOTEL_DISCOUNT,
    INBOUND,
    OPERATIONS,
    OUTBOUND,
    days_from_today,
    follow_up_input,
    request_booking,
    send,
    stored_events,
    trip,
)

from travelbuddy.bootstrap import Services
from travelbuddy.graphql import command_schema

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)

Json = dict[str, Any]


def assert_recorded(
    event: Json, booking_id: str, version: int, type_name: str, command_id: str
) -> None:
    """The stored document of an event, with the metadata the handler adds."""
    assert event["stream_id"] == f"booking-{booking_id}"
    assert (event["version"], event["type"], event["schema_version"]) == (version, type_name, 1)
    assert event["data"]["booking_id"] == booking_id
    metadata = event["metadata"]
    assert uuid.UUID(metadata["event_id"])
    assert metadata["command_id"] == command_id
    assert metadata["correlation_id"] == command_id  # a command id starts a correlation
    assert metadata["customer_id"] == "alice"
    recorded_at: dt.datetime = metadata["recorded_at"]
    assert abs(dt.datetime.now(dt.UTC) - recorded_at) < dt.timedelta(minutes=1)


async def test_request_booking_records_the_trip_priced_from_the_catalog(
    http: httpx.AsyncClient, services: Services
) -> None:
    result = await send(http, "RequestBooking", trip(), command_id="request-1")

    assert result["__typename"] == "CommandAccepted", result
    assert (result["version"], result["replayed"]) == (1, False)
    booking_id = result["bookingId"]
    [event] = await stored_events(services)
    assert_recorded(event, booking_id, 1, "BookingRequested", "request-1")
    data = event["data"]
    assert data["customer_id"] == "alice"
    assert data["hotel_stay"]["hotel_id"] == "hotel-tokyo-2"
    assert (data["hotel_stay"]["check_in"], data["hotel_stay"]["price"]) == (
        days_from_today(20), 22000)
    assert [(f["flight_id"], f["price"]) for f in data["flights"]] == [
        (OUTBOUND, 42000), (INBOUND, 42000)]
    assert data["travelers"] == [{"name": "Hanako Yamada"}, {"name": "Taro Yamada"}]
    assert HOTEL_DISCOUNT in {perk["code"] for perk in data["offered_perks"]}
    assert data["price"] == {"base": 106000, "discounts": [], "total": 106000, "currency": "JPY"}


@dataclass(frozen=True)
class FollowUp:
    operation: str
    event: str
    data: Json
    given: list[str] = field(default_factory=list)


FOLLOW_UPS = [
    FollowUp("ConfirmHotelReservation", "HotelReserved", {"confirmation_code": "TYO2-88412"}),
    FollowUp("RejectHotelReservation", "HotelReservationRejected",
             {"reason": "The hotel is fully booked."}),
    FollowUp("ConfirmFlightReservation", "FlightReserved",
             {"flight_id": OUTBOUND, "confirmation_code": "JL-Q7XK2P"}),
    FollowUp("RejectFlightReservation", "FlightReservationRejected",
             {"flight_id": INBOUND, "reason": "No seats left."}),
    FollowUp("ApplyPerk", "PerkApplied",
             {"perk_code": HOTEL_DISCOUNT, "title": "10% off the stay", "discount": 2200,
              "price": {"base": 106000, "total": 103800, "currency": "JPY", "discounts": [
                  {"code": HOTEL_DISCOUNT, "title": "10% off the stay", "amount": 2200}]}}),
    FollowUp("ChangeStayDates", "StayDatesChanged",
             {"check_in": days_from_today(30), "check_out": days_from_today(33),
              "hotel_price": 33000,
              "price": {"base": 117000, "discounts": [], "total": 117000, "currency": "JPY"}},
             given=["ConfirmHotelReservation"]),
    FollowUp("CancelBooking", "BookingCancelled", {"reason": "Plans changed."},
             given=["ConfirmHotelReservation", "ApplyPerk"]),
]  # fmt: skip


def test_every_follow_up_mutation_has_a_case() -> None:
    assert [case.operation for case in FOLLOW_UPS] == list(FOLLOW_UP_OPERATIONS)


@pytest.mark.parametrize("case", FOLLOW_UPS, ids=lambda case: case.operation)
async def test_follow_up_mutation_is_accepted_and_its_event_stored(
    http: httpx.AsyncClient, services: Services, case: FollowUp
) -> None:
    booking_id = await request_booking(http)
    for earlier in case.given:
        await send(http, earlier, follow_up_input(earlier, booking_id))
    version = 2 + len(case.given)

    result = await send(
        http, case.operation, follow_up_input(case.operation, booking_id), command_id="cmd-1"
    )

    assert result == {"__typename": "CommandAccepted", "bookingId": booking_id,
                      "version": version, "replayed": False}  # fmt: skip
    events = await stored_events(services, booking_id)
    assert [e["version"] for e in events] == list(range(1, version + 1))
    assert_recorded(events[-1], booking_id, version, case.event, "cmd-1")
    assert events[-1]["data"] == {"booking_id": booking_id, **case.data}


# --- idempotency: a command id sent again answers the first outcome ---


async def test_request_booking_sent_twice_with_one_command_id_books_once(
    http: httpx.AsyncClient, services: Services
) -> None:
    first = await send(http, "RequestBooking", trip(), command_id="retry-me")
    second = await send(http, "RequestBooking", trip(), command_id="retry-me")

    assert first["replayed"] is False
    assert second == {**first, "replayed": True}
    assert len(await stored_events(services)) == 1


async def test_follow_up_sent_twice_with_one_command_id_is_recorded_once(
    http: httpx.AsyncClient, services: Services
) -> None:
    booking_id = await request_booking(http)
    perk = follow_up_input("ApplyPerk", booking_id)

    first = await send(http, "ApplyPerk", perk, command_id="perk-once")
    second = await send(http, "ApplyPerk", perk, command_id="perk-once")

    # Without the command id the second would be PERK_ALREADY_APPLIED.
    assert first == {"__typename": "CommandAccepted", "bookingId": booking_id,
                     "version": 2, "replayed": False}  # fmt: skip
    assert second == {**first, "replayed": True}
    assert [e["type"] for e in await stored_events(services)] == ["BookingRequested",
                                                                  "PerkApplied"]


async def test_one_command_id_sent_concurrently_is_recorded_once(
    http: httpx.AsyncClient, services: Services
) -> None:
    results = await asyncio.gather(
        *(send(http, "RequestBooking", trip(), command_id="double-click") for _ in range(3))
    )

    assert len({(r["bookingId"], r["version"]) for r in results}) == 1
    assert sorted(r["replayed"] for r in results) == [False, True, True]
    assert len(await stored_events(services)) == 1


# --- the example operations ---


def example_operations() -> list[str]:
    document = parse(OPERATIONS)
    return [
        d.name.value for d in document.definitions
        if isinstance(d, OperationDefinitionNode) and d.name is not None
    ]  # fmt: skip


def test_examples_name_one_operation_per_mutation() -> None:
    mutation = command_schema.schema._schema.mutation_type
    assert mutation is not None

    assert sorted(name[0].lower() + name[1:] for name in example_operations()) == sorted(
        mutation.fields
    )


async def test_every_example_operation_runs_as_written(http: httpx.AsyncClient) -> None:
    booking_id = await request_booking(http)
    other_id = await request_booking(http)
    # One booking goes through the customer's story; the other gets a flight rejected.
    story = [
        (booking_id, "ConfirmHotelReservation"), (booking_id, "ConfirmFlightReservation"),
        (booking_id, "ApplyPerk"), (booking_id, "ChangeStayDates"),
        (booking_id, "RejectHotelReservation"), (booking_id, "CancelBooking"),
        (other_id, "RejectFlightReservation"),
    ]  # fmt: skip
    ran = ["RequestBooking"]
    for target, operation in story:
        result = await send(http, operation, follow_up_input(operation, target),
                            command_id=str(uuid.uuid4()))
        assert result["__typename"] == "CommandAccepted", (operation, result)
        ran.append(operation)

    assert sorted(ran) == sorted(example_operations())


async def test_command_id_reused_by_another_customer_reveals_nothing(
    http: httpx.AsyncClient, services: Services
) -> None:

    alices = await send(http, "RequestBooking", trip(), command_id="shared-id")

    bobs = await send(http, "RequestBooking", trip(), customer="bob", command_id="shared-id")

    assert alices["bookingId"] not in bobs.values()
