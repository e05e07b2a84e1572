"""The partners' replies in the booking view: item status, codes, reasons, booking status."""

import copy
import datetime as dt
from collections.abc import Callable

import pytest

from tests.unit.readmodels.readmodel_trip import (
    OUTBOUND,
    REQUESTED_AT,
    RETURN,
    Trip,
    requested_trip,
)
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.readmodels.booking_view import apply_to_view


def test_hotel_confirmation_reserves_the_stay_with_its_code() -> None:
    trip = requested_trip()
    trip.confirm_hotel("ODP-5521")
    view = trip.view

    assert view["hotel_stay"]["status"] == "RESERVED"
    assert view["hotel_stay"]["confirmation_code"] == "ODP-5521"
    # The flights still wait for their replies.
    assert view["status"] == "PENDING"


def test_flight_confirmation_reserves_only_that_flight() -> None:
    trip = requested_trip()
    trip.confirm_flight(RETURN, "PNR-RET")
    flights = {flight["flight_id"]: flight for flight in trip.view["flights"]}

    assert flights[RETURN]["status"] == "RESERVED"
    assert flights[RETURN]["confirmation_code"] == "PNR-RET"
    assert flights[OUTBOUND]["status"] == "PENDING"
    assert flights[OUTBOUND]["confirmation_code"] is None


def test_booking_is_confirmed_once_every_item_is_reserved() -> None:
    trip = requested_trip()
    trip.confirm_all()

    assert trip.view["status"] == "CONFIRMED"


def test_hotel_rejection_rejects_the_booking_with_the_hotels_reason() -> None:
    trip = requested_trip()
    trip.reject_hotel("fully booked")
    view = trip.view

    assert view["status"] == "REJECTED"
    assert view["hotel_stay"]["status"] == "REJECTED"
    assert view["hotel_stay"]["rejection_reason"] == "fully booked"
    assert view["hotel_stay"]["confirmation_code"] is None


def test_flight_rejection_rejects_the_booking_even_with_the_rest_reserved() -> None:
    trip = requested_trip()
    trip.confirm_hotel()
    trip.confirm_flight(OUTBOUND)
    trip.reject_flight(RETURN, "sold out")
    view = trip.view

    assert view["status"] == "REJECTED"
    assert [(f["status"], f["rejection_reason"]) for f in view["flights"]] == [
        ("RESERVED", None),
        ("REJECTED", "sold out"),
    ]


def test_view_carries_the_version_and_time_of_the_last_event() -> None:
    trip = requested_trip()
    trip.confirm_hotel()
    last = trip.confirm_flight(OUTBOUND)
    view = trip.view

    assert view["version"] == last.version == 3
    assert view["updated_at"] == last.metadata.recorded_at == REQUESTED_AT + dt.timedelta(minutes=2)
    assert view["created_at"] == REQUESTED_AT


def test_history_tells_each_reply_in_plain_words() -> None:
    trip = requested_trip()
    trip.confirm_hotel("ODP-5521")
    trip.confirm_flight(OUTBOUND, "PNR-7K2Q")
    trip.reject_flight(RETURN, "sold out")

    assert [(line["version"], line["type"], line["description"]) for line in trip.view["history"]][
        1:
    ] == [
        (2, "HotelReserved", "Odori Park Hotel confirmed the stay (code ODP-5521)"),
        (3, "FlightReserved", "Flight NH61 HND→CTS on 2026-12-10 confirmed (code PNR-7K2Q)"),
        (
            4,
            "FlightReservationRejected",
            "Flight NH62 CTS→HND on 2026-12-13 could not be confirmed: sold out",
        ),
    ]


def test_history_tells_a_hotel_rejection_with_its_reason() -> None:
    trip = requested_trip()
    trip.reject_hotel("fully booked")

    assert trip.view["history"][-1]["description"] == (
        "Odori Park Hotel could not confirm the stay: fully booked"
    )


def _confirm_hotel(trip: Trip) -> StoredEvent:
    return trip.confirm_hotel()


def _reject_flight(trip: Trip) -> StoredEvent:
    return trip.reject_flight(RETURN)


def _apply_perk(trip: Trip) -> StoredEvent:
    return trip.apply_perk("HTL-SAP-01-DISCOUNT")


def _change_dates(trip: Trip) -> StoredEvent:
    return trip.change_dates(dt.date(2026, 12, 12), dt.date(2026, 12, 15))


def _cancel(trip: Trip) -> StoredEvent:
    return trip.cancel("change of plans")


@pytest.mark.parametrize(
    "next_event", [_confirm_hotel, _reject_flight, _apply_perk, _change_dates, _cancel]
)
def test_applying_an_event_leaves_the_given_view_untouched(
    next_event: Callable[[Trip], StoredEvent],
) -> None:
    trip = requested_trip()
    trip.confirm_flight(OUTBOUND)
    view = trip.view
    before = copy.deepcopy(view)

    after = apply_to_view(view, next_event(trip))

    assert view == before
    assert after != before
    assert after["history"] is not view["history"]
    assert after["flights"][0] is not view["flights"][0]
