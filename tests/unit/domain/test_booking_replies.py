"""The partners' replies (reserved / rejected) and the booking status they lead to."""

import pytest
from booking_scenario import (
    BOOKING_ID,
    CHECK_IN,
    CHECK_OUT,
    OUTBOUND,
    RETURN,
    all_reserved,
    booking_requested,
    cancelled,
    flight_rejected,
    flight_reserved,
    given,
    hotel_rejected,
    hotel_reserved,
    request_booking,
)

from travelbuddy.domain import (
    ApplyPerk,
    BookingNotFound,
    BookingStatus,
    CancelBooking,
    ChangeStayDates,
    Command,
    ConfirmFlightReservation,
    ConfirmHotelReservation,
    FlightReservationRejected,
    FlightReserved,
    HotelReservationRejected,
    HotelReserved,
    ItemStatus,
    RejectFlightReservation,
    RejectHotelReservation,
    fold,
    initial_state,
)
from travelbuddy.domain.errors import (
    BOOKING_NOT_FOUND,
    FLIGHT_NOT_IN_BOOKING,
    ITEM_NOT_PENDING,
    NO_HOTEL_STAY,
)

CONFIRM_HOTEL = ConfirmHotelReservation(booking_id=BOOKING_ID, confirmation_code="ODP-5521")
REJECT_HOTEL = RejectHotelReservation(booking_id=BOOKING_ID, reason="fully booked")


def confirm_flight(flight_id: str) -> ConfirmFlightReservation:
    return ConfirmFlightReservation(
        booking_id=BOOKING_ID, flight_id=flight_id, confirmation_code="PNR-7K2Q"
    )


def reject_flight(flight_id: str) -> RejectFlightReservation:
    return RejectFlightReservation(booking_id=BOOKING_ID, flight_id=flight_id, reason="sold out")


def test_the_hotel_confirming_reserves_the_stay() -> None:
    event = given(booking_requested()).when(CONFIRM_HOTEL)

    assert event == HotelReserved(booking_id=BOOKING_ID, confirmation_code="ODP-5521")


def test_the_hotel_rejecting_records_its_reason() -> None:
    event = given(booking_requested()).when(REJECT_HOTEL)

    assert event == HotelReservationRejected(booking_id=BOOKING_ID, reason="fully booked")


def test_a_flight_confirming_reserves_its_seats() -> None:
    event = given(booking_requested()).when(confirm_flight(RETURN))

    assert event == FlightReserved(
        booking_id=BOOKING_ID, flight_id=RETURN, confirmation_code="PNR-7K2Q"
    )


def test_a_flight_rejecting_records_its_reason() -> None:
    event = given(booking_requested()).when(reject_flight(OUTBOUND))

    assert event == FlightReservationRejected(
        booking_id=BOOKING_ID, flight_id=OUTBOUND, reason="sold out"
    )


def test_an_item_is_answered_only_once() -> None:
    booking = given(booking_requested(), hotel_reserved(), flight_rejected(RETURN))

    assert booking.refuses(CONFIRM_HOTEL).code == ITEM_NOT_PENDING
    assert booking.refuses(REJECT_HOTEL).code == ITEM_NOT_PENDING
    assert booking.refuses(confirm_flight(RETURN)).code == ITEM_NOT_PENDING


def test_replies_after_a_cancellation_are_not_accepted() -> None:
    booking = given(booking_requested(), cancelled())

    assert booking.refuses(CONFIRM_HOTEL).code == ITEM_NOT_PENDING
    assert booking.refuses(reject_flight(OUTBOUND)).code == ITEM_NOT_PENDING


def test_replies_after_the_booking_was_rejected_are_not_accepted() -> None:
    booking = given(booking_requested(), flight_rejected(OUTBOUND))

    assert booking.refuses(CONFIRM_HOTEL).code == ITEM_NOT_PENDING
    assert booking.refuses(confirm_flight(RETURN)).code == ITEM_NOT_PENDING


def test_a_reply_for_a_flight_outside_the_booking_is_refused() -> None:
    error = given(booking_requested()).refuses(confirm_flight("JL-305-HND-FUK"))

    assert error.code == FLIGHT_NOT_IN_BOOKING


def test_a_hotel_reply_for_a_flights_only_booking_is_refused() -> None:
    flights_only = booking_requested(request_booking(hotel_stays=()))

    assert given(flights_only).refuses(CONFIRM_HOTEL).code == NO_HOTEL_STAY


@pytest.mark.parametrize(
    "command",
    [
        CONFIRM_HOTEL,
        REJECT_HOTEL,
        confirm_flight(OUTBOUND),
        reject_flight(OUTBOUND),
        ApplyPerk(booking_id=BOOKING_ID, perk_code="HTL-SAP-01-BREAKFAST"),
        ChangeStayDates(booking_id=BOOKING_ID, check_in=CHECK_IN, check_out=CHECK_OUT),
        CancelBooking(booking_id=BOOKING_ID),
    ],
    ids=lambda command: type(command).__name__,
)
def test_only_a_request_can_start_a_booking(command: Command) -> None:
    error = given().refuses(command)

    assert isinstance(error, BookingNotFound)
    assert error.code == BOOKING_NOT_FOUND


def test_a_requested_booking_is_pending_with_every_item_pending() -> None:
    state = fold([booking_requested()])

    assert state.status is BookingStatus.PENDING
    assert state.item_statuses == (ItemStatus.PENDING,) * 3


def test_a_booking_stays_pending_while_some_items_await_a_reply() -> None:
    state = fold([booking_requested(), hotel_reserved(), flight_reserved(OUTBOUND)])

    assert state.status is BookingStatus.PENDING


def test_a_booking_is_confirmed_once_every_item_is_reserved() -> None:
    state = fold(all_reserved())

    assert state.status is BookingStatus.CONFIRMED
    assert state.hotel_stay is not None
    assert state.hotel_stay.confirmation_code == "ODP-5521"
    assert [flight.confirmation_code for flight in state.flights] == ["PNR-7K2Q"] * 2


def test_a_booking_is_rejected_as_soon_as_any_item_is_rejected() -> None:
    assert fold([booking_requested(), hotel_rejected()]).status is BookingStatus.REJECTED
    state = fold([booking_requested(), hotel_reserved(), flight_rejected(RETURN)])
    assert state.status is BookingStatus.REJECTED
    rejected = state.flight(RETURN)
    assert rejected is not None and rejected.rejection_reason == "sold out"


def test_a_cancelled_booking_is_cancelled_whatever_its_items() -> None:
    assert fold([*all_reserved(), cancelled()]).status is BookingStatus.CANCELLED
    assert fold([booking_requested(), hotel_rejected(), cancelled()]).status is (
        BookingStatus.CANCELLED
    )


def test_the_version_counts_the_events_of_the_stream() -> None:
    assert initial_state().version == 0
    assert not initial_state().exists
    assert fold(all_reserved()).version == 4
