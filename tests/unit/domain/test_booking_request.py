"""RequestBooking: what a request records, and every rule it must keep."""

from datetime import date, timedelta

from booking_scenario import (
    BOOKING_ID,
    CHECK_IN,
    CHECK_OUT,
    CUSTOMER_ID,
    OUTBOUND,
    RETURN,
    TODAY,
    booking_requested,
    given,
    outbound_flight,
    problems_of,
    request_booking,
    return_flight,
    sapporo_stay,
)

from travelbuddy.domain import (
    HOTEL_ITEM,
    BookingAlreadyExists,
    BookingRequested,
    Cabin,
    FlightRequest,
    HotelStay,
    PerkKind,
    PriceBreakdown,
    Traveler,
)
from travelbuddy.domain.errors import (
    BOOKING_ALREADY_EXISTS,
    CHECK_IN_IN_PAST,
    CHECK_OUT_NOT_AFTER_CHECK_IN,
    DUPLICATE_FLIGHT,
    FLIGHT_IN_PAST,
    GUESTS_OUT_OF_RANGE,
    NO_ITEMS,
    NO_TRAVELERS,
    SEATS_OUT_OF_RANGE,
    STAY_TOO_LONG,
    TOO_MANY_FLIGHTS,
    TOO_MANY_STAYS,
    UNKNOWN_CABIN,
    UNKNOWN_FLIGHT,
    UNKNOWN_HOTEL,
    UNKNOWN_ROOM_TYPE,
    VALIDATION_FAILED,
)


def test_a_request_records_the_stay_as_priced_by_the_catalog() -> None:
    event = given().when(request_booking())

    assert isinstance(event, BookingRequested)
    assert event.booking_id == BOOKING_ID
    assert event.customer_id == CUSTOMER_ID
    assert event.hotel_stay == HotelStay(
        hotel_id="hotel-sapporo-1",
        hotel_name="Odori Park Hotel",
        city="Sapporo",
        room_type="STD",
        room_name="Standard Twin",
        check_in=CHECK_IN,
        check_out=CHECK_OUT,
        guests=2,
        nightly_price=13000,
        price=39000,
    )
    assert event.travelers == (Traveler(name="Aiko Tanaka"), Traveler(name="Ken Tanaka"))


def test_a_request_records_each_flight_priced_per_seat() -> None:
    event = booking_requested()

    outbound, back = event.flights
    assert (outbound.flight_number, outbound.origin, outbound.destination) == ("NH61", "HND", "CTS")
    assert (outbound.date, outbound.departure_time, outbound.cabin) == (
        CHECK_IN,
        "08:00",
        Cabin.ECONOMY,
    )
    assert (outbound.unit_price, outbound.seats, outbound.price) == (18500, 2, 37000)
    assert (back.flight_id, back.cabin, back.unit_price, back.price) == (
        RETURN,
        Cabin.PREMIUM,
        31500,
        63000,
    )


def test_the_base_price_is_the_stay_plus_the_flights_and_nothing_is_discounted_yet() -> None:
    assert booking_requested().price == PriceBreakdown(
        base=39000 + 37000 + 63000, discounts=(), total=139000, currency="JPY"
    )


def test_a_request_records_the_perks_of_the_hotel_and_of_each_booked_fare() -> None:
    offered = {(perk.code, perk.item) for perk in booking_requested().offered_perks}

    assert offered == {
        ("HTL-SAP-01-BREAKFAST", HOTEL_ITEM),
        ("HTL-SAP-01-DISCOUNT", HOTEL_ITEM),
        ("HTL-SAP-01-LATE", HOTEL_ITEM),
        ("NH-061-HND-CTS-ECONOMY-MILES", OUTBOUND),
        ("NH-062-CTS-HND-PREMIUM-LOUNGE", RETURN),
        ("NH-062-CTS-HND-PREMIUM-DISCOUNT", RETURN),
    }
    discount = next(p for p in booking_requested().offered_perks if p.code.endswith("DISCOUNT"))
    assert (discount.kind, discount.discount_percent) == (PerkKind.DISCOUNT, 5)


def test_a_trip_may_be_flights_only_or_a_stay_only() -> None:
    flights_only = given().when(request_booking(hotel_stays=()))
    stay_only = given().when(request_booking(flights=()))

    assert isinstance(flights_only, BookingRequested) and flights_only.hotel_stay is None
    assert isinstance(stay_only, BookingRequested) and stay_only.flights == ()
    assert stay_only.price.total == 39000


def test_a_booking_id_can_be_requested_only_once() -> None:
    error = given(booking_requested()).refuses(request_booking())

    assert isinstance(error, BookingAlreadyExists)
    assert error.code == BOOKING_ALREADY_EXISTS


def test_check_out_must_be_after_check_in() -> None:
    stay = sapporo_stay(check_out=CHECK_IN)
    error = given().refuses(request_booking(hotel_stays=(stay,)))

    assert error.code == VALIDATION_FAILED
    assert problems_of(error) == {"hotel_stays[0].check_out": CHECK_OUT_NOT_AFTER_CHECK_IN}


def test_a_stay_lasts_at_most_thirty_nights() -> None:
    thirty_nights = sapporo_stay(check_out=CHECK_IN + timedelta(days=30))
    thirty_one_nights = sapporo_stay(check_out=CHECK_IN + timedelta(days=31))

    given().when(request_booking(hotel_stays=(thirty_nights,)))
    error = given().refuses(request_booking(hotel_stays=(thirty_one_nights,)))
    assert problems_of(error) == {"hotel_stays[0].check_out": STAY_TOO_LONG}


def test_check_in_cannot_be_in_the_past_but_may_be_today() -> None:
    yesterday = sapporo_stay(check_in=TODAY - timedelta(days=1))

    given().when(request_booking(hotel_stays=(sapporo_stay(check_in=TODAY),)))
    error = given().refuses(request_booking(hotel_stays=(yesterday,)))
    assert problems_of(error) == {"hotel_stays[0].check_in": CHECK_IN_IN_PAST}


def test_a_stay_is_for_one_to_nine_guests() -> None:
    for guests in (0, 10):
        stay = sapporo_stay(guests=guests)
        error = given().refuses(request_booking(hotel_stays=(stay,)))
        assert problems_of(error) == {"hotel_stays[0].guests": GUESTS_OUT_OF_RANGE}
    given().when(request_booking(hotel_stays=(sapporo_stay(guests=9),)))


def test_a_flight_is_for_one_to_nine_seats() -> None:
    for seats in (0, 10):
        flights = (outbound_flight(), return_flight(seats=seats))
        error = given().refuses(request_booking(flights=flights))
        assert problems_of(error) == {"flights[1].seats": SEATS_OUT_OF_RANGE}


def test_a_booking_needs_a_stay_or_a_flight() -> None:
    error = given().refuses(request_booking(hotel_stays=(), flights=()))

    assert problems_of(error) == {None: NO_ITEMS}


def test_a_booking_has_at_most_one_hotel_stay() -> None:
    error = given().refuses(request_booking(hotel_stays=(sapporo_stay(), sapporo_stay())))

    assert problems_of(error) == {"hotel_stays": TOO_MANY_STAYS}


def test_a_booking_has_at_most_four_flights() -> None:
    five = tuple(
        FlightRequest(flight_id=flight_id, date=CHECK_IN, seats=1, cabin=Cabin.ECONOMY)
        for flight_id in (OUTBOUND, RETURN, "JL-305-HND-FUK", "JL-306-FUK-HND", "NH-471-HND-OKA")
    )

    given().when(request_booking(flights=five[:4]))
    error = given().refuses(request_booking(flights=five))
    assert problems_of(error) == {"flights": TOO_MANY_FLIGHTS}


def test_the_same_flight_cannot_be_booked_twice_in_one_booking() -> None:
    # Partners reply by flight id, so even on another date the flight would be ambiguous.
    for date_of_second in (CHECK_IN, CHECK_OUT):
        flights = (outbound_flight(), return_flight(), outbound_flight(date=date_of_second))
        error = given().refuses(request_booking(flights=flights))
        assert problems_of(error) == {"flights[2].flight_id": DUPLICATE_FLIGHT}


def test_a_flight_cannot_be_in_the_past() -> None:
    flights = (outbound_flight(date=date(2026, 11, 30)),)

    error = given().refuses(request_booking(hotel_stays=(), flights=flights))
    assert problems_of(error) == {"flights[0].date": FLIGHT_IN_PAST}


def test_a_booking_needs_at_least_one_traveler() -> None:
    error = given().refuses(request_booking(travelers=()))

    assert problems_of(error) == {"travelers": NO_TRAVELERS}


def test_every_traveler_needs_a_name() -> None:
    travelers = (Traveler(name="Aiko Tanaka"), Traveler(name="   "))
    error = given().refuses(request_booking(travelers=travelers))

    assert problems_of(error) == {"travelers[1].name": NO_TRAVELERS}


def test_a_booking_has_at_most_nine_travelers() -> None:
    ten = tuple(Traveler(name=f"Traveler {n}") for n in range(10))

    given().when(request_booking(travelers=ten[:9]))
    error = given().refuses(request_booking(travelers=ten))
    assert problems_of(error) == {"travelers": NO_TRAVELERS}


def test_the_hotel_must_be_in_the_catalog() -> None:
    stay = sapporo_stay(hotel_id="hotel-atlantis-1")
    error = given().refuses(request_booking(hotel_stays=(stay,)))

    assert problems_of(error) == {"hotel_stays[0].hotel_id": UNKNOWN_HOTEL}


def test_the_room_type_must_be_one_the_hotel_sells() -> None:
    stay = sapporo_stay(room_type="PENTHOUSE")
    error = given().refuses(request_booking(hotel_stays=(stay,)))

    assert problems_of(error) == {"hotel_stays[0].room_type": UNKNOWN_ROOM_TYPE}


def test_the_flight_must_be_in_the_catalog() -> None:
    flights = (outbound_flight(flight_id="ZZ-999-HND-XXX"),)
    error = given().refuses(request_booking(flights=flights))

    assert problems_of(error) == {"flights[0].flight_id": UNKNOWN_FLIGHT}


def test_the_cabin_must_be_one_the_flight_sells() -> None:
    flights = (outbound_flight(cabin=Cabin.FIRST),)
    error = given().refuses(request_booking(flights=flights))

    assert problems_of(error) == {"flights[0].cabin": UNKNOWN_CABIN}


def test_every_problem_of_a_request_is_reported_at_once_with_its_field() -> None:
    command = request_booking(
        hotel_stays=(
            sapporo_stay(check_in=date(2026, 11, 20), check_out=date(2026, 11, 18), guests=0),
        ),
        flights=(
            outbound_flight(seats=12),
            return_flight(flight_id="ZZ-999-HND-XXX"),
            outbound_flight(flight_id="JL-305-HND-FUK", cabin=Cabin.FIRST, date=date(2026, 11, 1)),
        ),
        travelers=(Traveler(name=""),),
    )

    error = given().refuses(command)

    assert problems_of(error) == {
        "hotel_stays[0].check_out": CHECK_OUT_NOT_AFTER_CHECK_IN,
        "hotel_stays[0].check_in": CHECK_IN_IN_PAST,
        "hotel_stays[0].guests": GUESTS_OUT_OF_RANGE,
        "flights[0].seats": SEATS_OUT_OF_RANGE,
        "flights[1].flight_id": UNKNOWN_FLIGHT,
        "flights[2].date": FLIGHT_IN_PAST,
        "flights[2].cabin": UNKNOWN_CABIN,
        "travelers[0].name": NO_TRAVELERS,
    }
    assert "Check-out (2026-11-18) must be after check-in (2026-11-20)." in error.message
