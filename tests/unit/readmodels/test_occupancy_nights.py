"""Which hotel nights a booking holds a room for, and the counts folded from events."""

import dataclasses
import datetime as dt

import pytest

from tests.unit.readmodels.readmodel_trip import HOTEL_ID, RETURN, requested_trip, sapporo_stay
from travelbuddy.domain.serialization import UnknownEventType
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.readmodels.occupancy import next_hold, occupancy_from_events, occupied_nights
from travelbuddy.readmodels.ports import StayHold

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


# -- the occupancy projection's own fold: nights from the hold before, not from a view ----


def hold_after(stored: list[StoredEvent]) -> StayHold | None:
    hold: StayHold | None = None
    for event in stored:
        hold = next_hold(hold, event)
    return hold


def nights_of(hold: StayHold | None) -> tuple[str, frozenset[str]] | None:
    if hold is None or not hold.nights or hold.hotel_id is None:
        return None
    return hold.hotel_id, hold.nights


def test_the_hold_claims_a_requested_stay_and_keeps_it_through_confirmations() -> None:
    trip = requested_trip()
    assert nights_of(hold_after(trip.stored)) == (HOTEL_ID, BOOKED_NIGHTS)
    trip.confirm_all()
    hold = hold_after(trip.stored)
    assert nights_of(hold) == (HOTEL_ID, BOOKED_NIGHTS)
    assert hold is not None and hold.version == len(trip.stored)


@pytest.mark.parametrize("ending", ["reject_hotel", "reject_flight", "cancel"])
def test_the_hold_gives_the_nights_back_when_the_booking_ends(ending: str) -> None:
    trip = requested_trip()
    if ending == "reject_flight":
        trip.confirm_hotel()
        trip.reject_flight(RETURN)
    else:
        getattr(trip, ending)()

    assert nights_of(hold_after(trip.stored)) is None
    assert occupied_nights(trip.view) is None  # the view-based count agrees


def test_the_hold_moves_with_the_stay_dates() -> None:
    trip = requested_trip()
    trip.confirm_all()
    trip.change_dates(dt.date(2026, 12, 12), dt.date(2026, 12, 14))

    assert nights_of(hold_after(trip.stored)) == occupied_nights(trip.view) == (
        HOTEL_ID, frozenset({"2026-12-12", "2026-12-13"}))


def test_a_flights_only_booking_has_a_hold_of_no_nights() -> None:
    hold = hold_after(requested_trip(hotel_stays=()).stored)

    assert hold is not None and (hold.hotel_id, hold.nights, hold.version) == (None, frozenset(), 1)


def test_the_hold_cannot_start_with_anything_but_a_request() -> None:
    trip = requested_trip()
    trip.confirm_hotel()

    with pytest.raises(ValueError, match="never requested"):
        next_hold(None, trip.stored[1])


def test_the_hold_refuses_an_event_type_it_does_not_know() -> None:
    trip = requested_trip()
    hold = hold_after(trip.stored)
    unknown = dataclasses.replace(trip.stored[0], type="HotelUpgraded", version=2)

    with pytest.raises(UnknownEventType):
        next_hold(hold, unknown)


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
