"""ChangeStayDates: moving the stay to other nights before check-in."""

from datetime import date

from booking_scenario import (
    BOOKING_ID,
    CHECK_IN,
    OUTBOUND,
    all_reserved,
    booking_requested,
    cancelled,
    flight_rejected,
    given,
    problems_of,
    request_booking,
)

from travelbuddy.domain import (
    ApplyPerk,
    BookingStatus,
    ChangeStayDates,
    Event,
    ItemStatus,
    PerkApplied,
    StayDatesChanged,
    fold,
)
from travelbuddy.domain.errors import (
    BOOKING_CANCELLED,
    BOOKING_REJECTED,
    CHECK_IN_IN_PAST,
    CHECK_IN_PASSED,
    CHECK_OUT_NOT_AFTER_CHECK_IN,
    NO_HOTEL_STAY,
    STAY_TOO_LONG,
)

FLIGHTS = 37000 + 63000


def change_to(check_in: date, check_out: date) -> ChangeStayDates:
    return ChangeStayDates(booking_id=BOOKING_ID, check_in=check_in, check_out=check_out)


FOUR_NIGHTS_LATER = change_to(date(2026, 12, 17), date(2026, 12, 21))


def test_a_new_stay_is_priced_at_the_recorded_nightly_price() -> None:
    event = given(booking_requested()).when(FOUR_NIGHTS_LATER)

    assert isinstance(event, StayDatesChanged)
    assert (event.check_in, event.check_out) == (date(2026, 12, 17), date(2026, 12, 21))
    assert event.hotel_price == 4 * 13000
    assert event.price.base == 4 * 13000 + FLIGHTS
    assert event.price.total == event.price.base


def test_applied_hotel_discounts_are_recomputed_on_the_new_stay_price() -> None:
    history: list[Event] = [booking_requested()]
    for code in ("HTL-SAP-01-DISCOUNT", "NH-062-CTS-HND-PREMIUM-DISCOUNT"):
        applied = given(*history).when(ApplyPerk(booking_id=BOOKING_ID, perk_code=code))
        assert isinstance(applied, PerkApplied)
        history.append(applied)

    event = given(*history).when(FOUR_NIGHTS_LATER)

    assert isinstance(event, StayDatesChanged)
    # 5% of 52,000 for the stay; the fare's 5% of 63,000 does not move.
    assert [d.amount for d in event.price.discounts] == [2600, 3150]
    assert event.price.total == 52000 + FLIGHTS - 2600 - 3150


def test_a_confirmed_booking_waits_for_the_hotel_again_after_a_date_change() -> None:
    event = given(*all_reserved()).when(FOUR_NIGHTS_LATER)
    state = fold([*all_reserved(), event])

    assert state.status is BookingStatus.PENDING
    assert state.hotel_stay is not None
    assert state.hotel_stay.status is ItemStatus.PENDING
    assert state.hotel_stay.confirmation_code is None
    assert state.hotel_stay.stay.check_in == date(2026, 12, 17)
    assert state.hotel_stay.stay.nights == 4
    assert state.flights[0].status is ItemStatus.RESERVED


def test_a_booking_without_a_stay_has_no_dates_to_change() -> None:
    flights_only = booking_requested(request_booking(hotel_stays=()))

    assert given(flights_only).refuses(FOUR_NIGHTS_LATER).code == NO_HOTEL_STAY


def test_dates_cannot_change_on_or_after_check_in_day() -> None:
    booking = given(booking_requested())

    assert booking.on(CHECK_IN).refuses(FOUR_NIGHTS_LATER).code == CHECK_IN_PASSED
    assert booking.on(date(2026, 12, 11)).refuses(FOUR_NIGHTS_LATER).code == CHECK_IN_PASSED
    booking.on(date(2026, 12, 9)).when(FOUR_NIGHTS_LATER)


def test_cancelled_booking_cannot_change_dates() -> None:
    error = given(booking_requested(), cancelled()).refuses(FOUR_NIGHTS_LATER)

    assert error.code == BOOKING_CANCELLED


def test_rejected_booking_cannot_change_dates() -> None:
    error = given(booking_requested(), flight_rejected(OUTBOUND)).refuses(FOUR_NIGHTS_LATER)

    assert error.code == BOOKING_REJECTED


def test_new_dates_keep_the_stay_rules() -> None:
    booking = given(booking_requested())

    backwards = booking.refuses(change_to(date(2026, 12, 20), date(2026, 12, 18)))
    too_long = booking.refuses(change_to(date(2026, 12, 20), date(2027, 1, 20)))
    in_past = booking.refuses(change_to(date(2026, 11, 30), date(2026, 12, 3)))

    assert problems_of(backwards) == {"check_out": CHECK_OUT_NOT_AFTER_CHECK_IN}
    assert problems_of(too_long) == {"check_out": STAY_TOO_LONG}
    assert problems_of(in_past) == {"check_in": CHECK_IN_IN_PAST}
