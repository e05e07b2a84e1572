"""Perks, stay date changes and cancellation in the booking view."""

import datetime as dt

import pytest

from tests.unit.readmodels.readmodel_trip import (
    BOOKING_ID,
    OUTBOUND,
    REQUESTED_AT,
    RETURN,
    Trip,
    requested_trip,
    stored,
)
from travelbuddy.domain import PerkApplied, PerkDiscount, PriceBreakdown
from travelbuddy.readmodels.booking_view import apply_to_view

NEW_CHECK_IN = dt.date(2026, 12, 12)
NEW_CHECK_OUT = dt.date(2026, 12, 16)


def test_perk_is_listed_as_applied_with_the_price_breakdown_after_it() -> None:
    trip = requested_trip()
    trip.apply_perk("HTL-SAP-01-DISCOUNT")
    view = trip.view

    assert view["applied_perks"] == ["HTL-SAP-01-DISCOUNT"]
    assert view["price"] == {
        "base": 139_000,
        "discounts": [{"code": "HTL-SAP-01-DISCOUNT", "title": "5% off the stay", "amount": 1_950}],
        "total": 137_050,
        "currency": "JPY",
    }
    assert view["history"][-1]["description"] == "Perk applied: 5% off the stay (−¥1,950)"


def test_perk_without_a_discount_leaves_the_price_and_names_no_amount() -> None:
    trip = requested_trip()
    trip.apply_perk("HTL-SAP-01-BREAKFAST")
    view = trip.view

    assert view["applied_perks"] == ["HTL-SAP-01-BREAKFAST"]
    assert view["price"]["total"] == 139_000
    assert view["history"][-1]["description"] == ("Perk applied: Free breakfast with Hokkaido milk")


def test_perks_are_listed_in_the_order_they_were_applied() -> None:
    trip = requested_trip()
    trip.apply_perk("NH-062-CTS-HND-PREMIUM-DISCOUNT")
    trip.apply_perk("HTL-SAP-01-BREAKFAST")
    trip.apply_perk("HTL-SAP-01-DISCOUNT")
    view = trip.view

    assert view["applied_perks"] == [
        "NH-062-CTS-HND-PREMIUM-DISCOUNT",
        "HTL-SAP-01-BREAKFAST",
        "HTL-SAP-01-DISCOUNT",
    ]
    assert [d["amount"] for d in view["price"]["discounts"]] == [3_150, 1_950]
    assert view["price"]["total"] == 139_000 - 3_150 - 1_950


def test_perk_discount_in_another_currency_names_the_currency() -> None:
    view = requested_trip().view
    perk = PerkApplied(
        booking_id=BOOKING_ID,
        perk_code="HTL-SAP-01-DISCOUNT",
        title="5% off the stay",
        discount=1_950,
        price=PriceBreakdown(
            base=139_000,
            discounts=(PerkDiscount(code="HTL-SAP-01-DISCOUNT", title="5%", amount=1_950),),
            total=137_050,
            currency="EUR",
        ),
    )

    after = apply_to_view(view, stored(perk, 2, REQUESTED_AT))

    assert after["history"][-1]["description"] == "Perk applied: 5% off the stay (−1,950 EUR)"


def _confirmed_trip_with_stay_discount() -> Trip:
    trip = requested_trip()
    trip.apply_perk("HTL-SAP-01-DISCOUNT")
    trip.confirm_all()
    return trip


def test_stay_dates_change_sends_a_confirmed_stay_back_to_the_hotel() -> None:
    trip = _confirmed_trip_with_stay_discount()
    trip.change_dates(NEW_CHECK_IN, NEW_CHECK_OUT)
    view = trip.view

    assert view["status"] == "PENDING"
    assert view["hotel_stay"]["status"] == "PENDING"
    assert view["hotel_stay"]["confirmation_code"] is None
    # The flights keep their reservations; only the stay waits again.
    assert [flight["status"] for flight in view["flights"]] == ["RESERVED", "RESERVED"]


def test_stay_dates_change_moves_the_nights_and_reprices_the_stay_and_booking() -> None:
    trip = _confirmed_trip_with_stay_discount()
    trip.change_dates(NEW_CHECK_IN, NEW_CHECK_OUT)
    view = trip.view

    stay = view["hotel_stay"]
    assert (stay["check_in"], stay["check_out"], stay["nights"]) == ("2026-12-12", "2026-12-16", 4)
    assert stay["price"] == 52_000
    assert view["check_in"] == "2026-12-12"
    assert view["price"] == {
        "base": 152_000,
        "discounts": [{"code": "HTL-SAP-01-DISCOUNT", "title": "5% off the stay", "amount": 2_600}],
        "total": 149_400,
        "currency": "JPY",
    }
    assert view["history"][-1]["description"] == (
        "Stay moved to 2026-12-12 – 2026-12-16; waiting for the hotel to confirm"
    )


def test_moved_stay_is_confirmed_again_by_the_hotel() -> None:
    trip = _confirmed_trip_with_stay_discount()
    trip.change_dates(NEW_CHECK_IN, NEW_CHECK_OUT)
    trip.confirm_hotel("ODP-9001")
    view = trip.view

    assert view["status"] == "CONFIRMED"
    assert view["hotel_stay"]["confirmation_code"] == "ODP-9001"


def test_cancellation_cancels_the_booking_and_keeps_its_reason() -> None:
    trip = _confirmed_trip_with_stay_discount()
    trip.cancel("change of plans")
    view = trip.view

    assert view["status"] == "CANCELLED"
    assert view["cancellation_reason"] == "change of plans"
    assert view["history"][-1]["description"] == "Booking cancelled: change of plans"


def test_cancellation_without_a_reason_says_only_that() -> None:
    trip = requested_trip()
    trip.cancel()
    view = trip.view

    assert view["status"] == "CANCELLED"
    assert view["cancellation_reason"] is None
    assert view["history"][-1]["description"] == "Booking cancelled"


def test_cancelled_booking_stays_cancelled_after_its_items_were_rejected() -> None:
    trip = requested_trip()
    trip.reject_hotel()
    trip.cancel()

    assert trip.view["status"] == "CANCELLED"
    assert trip.view["hotel_stay"]["status"] == "REJECTED"


def test_history_has_one_line_per_event_in_version_order() -> None:
    trip = _confirmed_trip_with_stay_discount()
    trip.change_dates(NEW_CHECK_IN, NEW_CHECK_OUT)
    trip.cancel()
    history = trip.view["history"]

    assert [line["version"] for line in history] == list(range(1, 8))
    assert [line["at"] for line in history] == [e.metadata.recorded_at for e in trip.stored]
    assert [line["type"] for line in history] == [e.type for e in trip.stored]


def _scenarios() -> dict[str, Trip]:
    def build(*steps: str) -> Trip:
        trip = requested_trip()
        for step in steps:
            match step:
                case "hotel":
                    trip.confirm_hotel()
                case "no hotel":
                    trip.reject_hotel()
                case "outbound":
                    trip.confirm_flight(OUTBOUND)
                case "no return":
                    trip.reject_flight(RETURN)
                case "return":
                    trip.confirm_flight(RETURN)
                case "move":
                    trip.change_dates(NEW_CHECK_IN, NEW_CHECK_OUT)
                case "cancel":
                    trip.cancel()
        return trip

    return {
        "requested": build(),
        "partly reserved": build("hotel", "outbound"),
        "all reserved": build("hotel", "outbound", "return"),
        "hotel rejected": build("no hotel"),
        "flight rejected": build("hotel", "no return"),
        "moved after confirmation": build("hotel", "outbound", "return", "move"),
        "cancelled when confirmed": build("hotel", "outbound", "return", "cancel"),
    }


@pytest.mark.parametrize("scenario", list(_scenarios()))
def test_view_status_agrees_with_the_domain(scenario: str) -> None:
    trip = _scenarios()[scenario]
    state, view = trip.state, trip.view

    assert view["status"] == state.status.value
    assert state.hotel_stay is not None
    assert view["hotel_stay"]["status"] == state.hotel_stay.status.value
    assert [f["status"] for f in view["flights"]] == [f.status.value for f in state.flights]
    assert view["version"] == state.version
