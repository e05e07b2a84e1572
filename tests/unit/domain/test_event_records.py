"""Events to stored records and back, and upcasting records written by older code."""

import json
from datetime import date
from typing import Any

import pytest
from booking_scenario import (
    BOOKING_ID,
    OUTBOUND,
    booking_requested,
    cancelled,
    flight_rejected,
    flight_reserved,
    given,
    hotel_rejected,
    hotel_reserved,
)

from travelbuddy.domain import (
    EVENT_TYPES,
    ApplyPerk,
    BookingCancelled,
    ChangeStayDates,
    Event,
    UnknownEventType,
    UnsupportedSchemaVersion,
    event_from_record,
    event_to_record,
)
from travelbuddy.domain.serialization import Upcasters


def one_of_each_event() -> list[Event]:
    requested = booking_requested()
    booking = given(requested)
    perk = booking.when(ApplyPerk(booking_id=BOOKING_ID, perk_code="HTL-SAP-01-DISCOUNT"))
    later = ChangeStayDates(
        booking_id=BOOKING_ID, check_in=date(2026, 12, 17), check_out=date(2026, 12, 21)
    )
    new_dates = given(requested, perk).when(later)
    return [
        requested,
        hotel_reserved(),
        hotel_rejected(),
        flight_reserved(OUTBOUND),
        flight_rejected(OUTBOUND),
        perk,
        new_dates,
        cancelled(),
        BookingCancelled(booking_id=BOOKING_ID, reason=None),
    ]


def test_the_examples_cover_every_event_type() -> None:
    assert {type(event).__name__ for event in one_of_each_event()} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", one_of_each_event(), ids=lambda event: type(event).__name__)
def test_every_event_survives_a_round_trip_through_json(event: Event) -> None:
    type_name, schema_version, data = event_to_record(event)
    stored = json.loads(json.dumps(data))

    assert type_name == type(event).__name__
    assert schema_version == 1
    assert event_from_record(type_name, schema_version, stored) == event


def test_money_is_stored_as_whole_yen_and_dates_as_iso_strings() -> None:
    _, _, data = event_to_record(booking_requested())

    assert data["price"] == {"base": 139000, "discounts": [], "total": 139000, "currency": "JPY"}
    assert data["hotel_stay"]["check_in"] == "2026-12-10"
    assert data["flights"][0]["cabin"] == "ECONOMY"


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(UnknownEventType):
        event_from_record("BookingTeleported", 1, {"booking_id": BOOKING_ID})
    assert issubclass(UnknownEventType, ValueError)


def test_an_old_record_is_upcast_to_the_current_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    # Suppose BookingCancelled v1 called the reason "why" and v2 renamed it to "reason".
    monkeypatch.setattr(BookingCancelled, "schema_version", 2)
    upcasters = Upcasters()

    @upcasters.register("BookingCancelled", from_version=1)
    def rename_why_to_reason(data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        return data | {"reason": data.pop("why")}

    event = event_from_record(
        "BookingCancelled", 1, {"booking_id": BOOKING_ID, "why": "ill"}, upcasters
    )

    assert event == BookingCancelled(booking_id=BOOKING_ID, reason="ill")
    assert event_to_record(event)[1] == 2


def test_a_current_record_is_not_upcast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BookingCancelled, "schema_version", 2)
    upcasters = Upcasters()
    upcasters.register("BookingCancelled", from_version=1)(lambda data: {})

    current = {"booking_id": BOOKING_ID, "reason": None}

    event = event_from_record("BookingCancelled", 2, current, upcasters)

    assert event == BookingCancelled(booking_id=BOOKING_ID, reason=None)


def test_an_old_record_without_an_upcaster_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BookingCancelled, "schema_version", 2)

    with pytest.raises(UnsupportedSchemaVersion):
        event_from_record("BookingCancelled", 1, {"booking_id": BOOKING_ID}, Upcasters())


def test_a_record_from_newer_code_is_refused() -> None:
    with pytest.raises(UnsupportedSchemaVersion):
        event_from_record("BookingCancelled", 2, {"booking_id": BOOKING_ID, "reason": None})


def test_one_step_has_one_upcaster() -> None:
    upcasters = Upcasters()
    upcasters.register("BookingCancelled", from_version=1)(lambda data: data)

    with pytest.raises(ValueError):
        upcasters.register("BookingCancelled", from_version=1)(lambda data: data)
