"""CancelBooking: calling the trip off before it starts."""

from datetime import date

from booking_scenario import (
    BOOKING_ID,
    CHECK_IN,
    all_reserved,
    booking_requested,
    cancelled,
    given,
    hotel_rejected,
    outbound_flight,
    request_booking,
    return_flight,
)

from travelbuddy.domain import BookingCancelled, CancelBooking, fold
from travelbuddy.domain.errors import ALREADY_CANCELLED, CHECK_IN_PASSED

CANCEL = CancelBooking(booking_id=BOOKING_ID, reason="change of plans")


def test_a_pending_booking_can_be_cancelled_with_a_reason() -> None:
    event = given(booking_requested()).when(CANCEL)

    assert event == BookingCancelled(booking_id=BOOKING_ID, reason="change of plans")


def test_a_reason_is_optional() -> None:
    event = given(booking_requested()).when(CancelBooking(booking_id=BOOKING_ID))

    assert event == BookingCancelled(booking_id=BOOKING_ID, reason=None)


def test_a_confirmed_or_rejected_booking_can_be_cancelled() -> None:
    given(*all_reserved()).when(CANCEL)
    given(booking_requested(), hotel_rejected()).when(CANCEL)


def test_a_booking_is_cancelled_only_once() -> None:
    error = given(booking_requested(), cancelled()).refuses(CANCEL)

    assert error.code == ALREADY_CANCELLED


def test_a_booking_cannot_be_cancelled_on_or_after_check_in_day() -> None:
    booking = given(booking_requested())

    assert booking.on(CHECK_IN).refuses(CANCEL).code == CHECK_IN_PASSED
    assert booking.on(date(2026, 12, 12)).refuses(CANCEL).code == CHECK_IN_PASSED
    booking.on(date(2026, 12, 9)).when(CANCEL)


def test_a_flights_only_booking_cannot_be_cancelled_from_its_first_flight_day() -> None:
    flights = (return_flight(date=date(2026, 12, 20)), outbound_flight(date=date(2026, 12, 5)))
    booking = given(booking_requested(request_booking(hotel_stays=(), flights=flights)))

    assert booking.on(date(2026, 12, 5)).refuses(CANCEL).code == CHECK_IN_PASSED
    booking.on(date(2026, 12, 4)).when(CANCEL)


def test_a_trip_flying_out_before_check_in_cannot_be_cancelled_once_in_the_air() -> None:
    # The trip starts with its earliest item: here the flight the day before check-in.
    day_before = (outbound_flight(date=date(2026, 12, 9)),)
    booking = given(booking_requested(request_booking(flights=day_before)))

    assert booking.on(date(2026, 12, 9)).refuses(CANCEL).code == CHECK_IN_PASSED


def test_a_cancellation_is_remembered_with_its_reason() -> None:
    state = fold([booking_requested(), cancelled()])

    assert state.cancelled
    assert state.cancellation_reason == "change of plans"
