"""Which hotel nights a booking holds a room for, and the counts folded from events."""

import datetime as dt

from tests.unit.readmodels.readmodel_trip import HOTEL_ID, RETURN, requested_trip, sapporo_stay
from travelbuddy.readmodels.occupancy import night_key, occupancy_from_events, occupied_nights

BOOKED_NIGHTS = frozenset({"2026-12-10", "2026-12-11", "2026-12-12"})
OTHER_BOOKING = "0f0e0d0c-0b0a-4908-8706-050403020100"
THIRD_BOOKING = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f0a1b2c3d"


def test_requested_stay_holds_a_room_each_night_until_check_out() -> None:
    assert occupied_nights(requested_trip().view) == (HOTEL_ID, BOOKED_NIGHTS)


def test_confirmed_booking_keeps_holding_its_nights() -> None:
    trip = requested_trip()
    trip.confirm_all()

    assert occupied_nights(trip.view) == (HOTEL_ID, BOOKED_NIGHTS)


def test_rejected_stay_gives_its_nights_back() -> None:
    trip = requested_trip()
    trip.reject_hotel()

    assert occupied_nights(trip.view) is None


def test_booking_rejected_for_a_flight_gives_its_room_back() -> None:
    trip = requested_trip()
    trip.confirm_hotel()
    trip.reject_flight(RETURN)

    assert occupied_nights(trip.view) is None


def test_cancelled_booking_gives_its_nights_back() -> None:
    trip = requested_trip()
    trip.confirm_all()
    trip.cancel()

    assert occupied_nights(trip.view) is None


def test_moved_stay_holds_its_new_nights_while_the_hotel_confirms_again() -> None:
    trip = requested_trip()
    trip.confirm_all()
    trip.change_dates(dt.date(2026, 12, 12), dt.date(2026, 12, 14))

    assert occupied_nights(trip.view) == (HOTEL_ID, frozenset({"2026-12-12", "2026-12-13"}))


def test_booking_without_a_stay_or_a_view_holds_no_room() -> None:
    assert occupied_nights(requested_trip(hotel_stays=()).view) is None
    assert occupied_nights(None) is None


def test_night_key_names_the_hotel_and_the_night() -> None:
    assert night_key(HOTEL_ID, "2026-12-10") == "hotel-sapporo-1|2026-12-10"


def test_occupancy_counts_each_holding_booking_once_per_night() -> None:
    first = requested_trip()
    first.confirm_all()
    overlapping = requested_trip(
        OTHER_BOOKING,
        hotel_stays=(
            sapporo_stay(check_in=dt.date(2026, 12, 12), check_out=dt.date(2026, 12, 14)),
        ),
    )
    cancelled = requested_trip(THIRD_BOOKING)
    cancelled.cancel()
    # Streams interleave in the store's global order.
    events = [
        *overlapping.stored[:1],
        *first.stored[:2],
        *cancelled.stored,
        *first.stored[2:],
    ]

    assert occupancy_from_events(events) == {
        (HOTEL_ID, "2026-12-10"): 1,
        (HOTEL_ID, "2026-12-11"): 1,
        (HOTEL_ID, "2026-12-12"): 2,
        (HOTEL_ID, "2026-12-13"): 1,
    }


def test_occupancy_from_events_ignores_redelivered_events() -> None:
    trip = requested_trip()
    trip.confirm_hotel()
    trip.cancel()
    # At-least-once delivery: the request and the hotel's reply arrive again.
    events = [*trip.stored, trip.stored[0], trip.stored[1]]

    assert occupancy_from_events(events) == {}
