"""The booking view a BookingRequested starts, and the events it refuses."""

import copy
import datetime as dt
from typing import Any

import bson
import pytest
from bson.codec_options import CodecOptions

from tests.unit.readmodels.readmodel_trip import (
    BOOKING_ID,
    CHECK_IN,
    CUSTOMER_ID,
    HOTEL_ID,
    OUTBOUND,
    REQUESTED_AT,
    RETURN,
    outbound_flight,
    requested_trip,
    return_flight,
    sapporo_stay,
    stored,
)
from travelbuddy.domain import FlightReserved, HotelReserved, UnknownEventType
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.readmodels.booking_view import apply_to_view


def test_requested_booking_shows_every_item_waiting_for_its_partner() -> None:
    view = requested_trip().view

    assert view["status"] == "PENDING"
    assert view["hotel_stay"]["status"] == "PENDING"
    assert [flight["status"] for flight in view["flights"]] == ["PENDING", "PENDING"]
    items = [view["hotel_stay"], *view["flights"]]
    assert all(item["confirmation_code"] is None for item in items)
    assert all(item["rejection_reason"] is None for item in items)


def test_requested_booking_records_whose_it_is_when_and_what_it_costs() -> None:
    view = requested_trip().view

    assert view["_id"] == view["booking_id"] == BOOKING_ID
    assert view["customer_id"] == CUSTOMER_ID
    assert view["version"] == 1
    assert view["created_at"] == view["updated_at"] == REQUESTED_AT
    assert view["travelers"] == [{"name": "Aiko Tanaka"}, {"name": "Ken Tanaka"}]
    assert view["price"] == {"base": 139_000, "discounts": [], "total": 139_000, "currency": "JPY"}
    assert view["applied_perks"] == []
    assert view["cancellation_reason"] is None


def test_requested_stay_carries_its_names_nights_and_prices() -> None:
    assert requested_trip().view["hotel_stay"] == {
        "hotel_id": HOTEL_ID,
        "hotel_name": "Odori Park Hotel",
        "city": "Sapporo",
        "room_type": "STD",
        "room_name": "Standard Twin",
        "check_in": "2026-12-10",
        "check_out": "2026-12-13",
        "nights": 3,
        "guests": 2,
        "nightly_price": 13_000,
        "price": 39_000,
        "status": "PENDING",
        "confirmation_code": None,
        "rejection_reason": None,
    }


def test_requested_flight_carries_its_schedule_and_fare() -> None:
    assert requested_trip().view["flights"][0] == {
        "flight_id": OUTBOUND,
        "flight_number": "NH61",
        "airline": "ANA",
        "origin": "HND",
        "destination": "CTS",
        "date": "2026-12-10",
        "departure_time": "08:00",
        "arrival_time": "09:35",
        "seats": 2,
        "cabin": "ECONOMY",
        "unit_price": 18_500,
        "price": 37_000,
        "status": "PENDING",
        "confirmation_code": None,
        "rejection_reason": None,
    }


def test_offered_perks_name_the_item_offering_them() -> None:
    perks = {perk["code"]: perk for perk in requested_trip().view["offered_perks"]}

    assert perks["HTL-SAP-01-DISCOUNT"] == {
        "code": "HTL-SAP-01-DISCOUNT",
        "title": "5% off the stay",
        "kind": "DISCOUNT",
        "discount_percent": 5,
        "item": "hotel",
    }
    assert perks["NH-062-CTS-HND-PREMIUM-LOUNGE"]["item"] == RETURN


def test_booking_sorts_by_the_check_in_of_its_stay() -> None:
    assert requested_trip().view["check_in"] == CHECK_IN.isoformat()


def test_flights_only_booking_sorts_by_its_earliest_flight() -> None:
    trip = requested_trip(hotel_stays=(), flights=(return_flight(), outbound_flight()))

    assert trip.view["hotel_stay"] is None
    assert trip.view["check_in"] == "2026-12-10"


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({}, "Booking requested: Odori Park Hotel, 3 nights from 2026-12-10, and 2 flights"),
        ({"hotel_stays": ()}, "Booking requested: 2 flights"),
        ({"flights": ()}, "Booking requested: Odori Park Hotel, 3 nights from 2026-12-10"),
        (
            {
                "hotel_stays": (sapporo_stay(check_out=dt.date(2026, 12, 11)),),
                "flights": (outbound_flight(),),
            },
            "Booking requested: Odori Park Hotel, 1 night from 2026-12-10, and 1 flight",
        ),
    ],
)
def test_history_starts_with_the_request_in_plain_words(
    changes: dict[str, Any], description: str
) -> None:
    assert requested_trip(**changes).view["history"] == [
        {
            "version": 1,
            "at": REQUESTED_AT,
            "type": "BookingRequested",
            "description": description,
        }
    ]


def test_event_before_its_booking_was_requested_is_refused() -> None:
    reply = stored(
        HotelReserved(booking_id=BOOKING_ID, confirmation_code="ODP-5521"), 1, REQUESTED_AT
    )

    with pytest.raises(ValueError, match="no view yet"):
        apply_to_view(None, reply)


def test_event_of_another_booking_is_refused() -> None:
    view = requested_trip().view
    other = requested_trip("0f0e0d0c-0b0a-4908-8706-050403020100")
    reply = other.confirm_hotel()

    with pytest.raises(ValueError, match="cannot be applied to the view of booking"):
        apply_to_view(view, reply)


def test_event_of_an_unknown_type_is_refused() -> None:
    view = requested_trip().view
    unknown = StoredEvent(
        stream_id=f"booking-{BOOKING_ID}",
        version=2,
        type="HotelTeleported",
        schema_version=1,
        data={"booking_id": BOOKING_ID},
        metadata=requested_trip().stored[0].metadata,
    )

    with pytest.raises(UnknownEventType):
        apply_to_view(view, unknown)


def test_reply_for_a_flight_the_booking_does_not_have_is_refused() -> None:
    view = requested_trip().view
    reply = FlightReserved(booking_id=BOOKING_ID, flight_id="JL-305-HND-FUK", confirmation_code="X")

    with pytest.raises(ValueError, match="has no flight JL-305-HND-FUK"):
        apply_to_view(view, stored(reply, 2, REQUESTED_AT))


def test_reply_for_a_stay_the_booking_does_not_have_is_refused() -> None:
    view = requested_trip(hotel_stays=()).view
    reply = HotelReserved(booking_id=BOOKING_ID, confirmation_code="ODP-5521")

    with pytest.raises(ValueError, match="has no hotel stay"):
        apply_to_view(view, stored(reply, 2, REQUESTED_AT))


def test_redelivered_request_starts_afresh_at_version_one() -> None:
    trip = requested_trip()
    first_view = trip.view
    trip.confirm_hotel()
    newer_view = trip.view

    again = apply_to_view(newer_view, trip.stored[0])

    # The runner keeps the stored view: the result is not newer than it.
    assert again == first_view
    assert again["version"] < newer_view["version"]


def test_view_survives_a_round_trip_through_bson_unchanged() -> None:
    trip = requested_trip()
    trip.apply_perk("HTL-SAP-01-DISCOUNT")
    trip.confirm_all()
    view = trip.view

    options: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=dt.UTC)
    assert bson.decode(bson.encode(copy.deepcopy(view)), codec_options=options) == view
