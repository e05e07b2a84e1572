"""ApplyPerk: using a perk of the booked hotel or fares, and what it takes off the price."""

from booking_scenario import (
    BOOKING_ID,
    RETURN,
    TODAY,
    all_reserved,
    booking_requested,
    cancelled,
    given,
    hotel_rejected,
    problems_of,
)

from travelbuddy.domain import (
    HOTEL_ITEM,
    ApplyPerk,
    DecisionContext,
    InMemoryCatalog,
    OfferedPerk,
    PerkApplied,
    PerkDiscount,
    PerkKind,
    PriceBreakdown,
    decide,
    fold,
)
from travelbuddy.domain.errors import (
    BOOKING_CANCELLED,
    BOOKING_REJECTED,
    PERK_ALREADY_APPLIED,
    PERK_NOT_OFFERED,
    UNKNOWN_PERK,
)
from travelbuddy.domain.pricing import perk_discount, price_breakdown

BASE = 139000
HOTEL_DISCOUNT = ApplyPerk(booking_id=BOOKING_ID, perk_code="HTL-SAP-01-DISCOUNT")
FARE_DISCOUNT = ApplyPerk(booking_id=BOOKING_ID, perk_code="NH-062-CTS-HND-PREMIUM-DISCOUNT")
BREAKFAST = ApplyPerk(booking_id=BOOKING_ID, perk_code="HTL-SAP-01-BREAKFAST")


def test_a_hotel_discount_takes_its_share_of_the_stay_price_off_the_total() -> None:
    event = given(booking_requested()).when(HOTEL_DISCOUNT)

    # 5% of the 39,000 stay.
    assert event == PerkApplied(
        booking_id=BOOKING_ID,
        perk_code="HTL-SAP-01-DISCOUNT",
        title="5% off the stay",
        discount=1950,
        price=PriceBreakdown(
            base=BASE,
            discounts=(
                PerkDiscount(code="HTL-SAP-01-DISCOUNT", title="5% off the stay", amount=1950),
            ),
            total=BASE - 1950,
        ),
    )


def test_a_fare_discount_applies_to_that_flight_with_all_its_seats() -> None:
    event = given(booking_requested()).when(FARE_DISCOUNT)

    # 5% of 2 premium seats at 31,500.
    assert isinstance(event, PerkApplied)
    assert event.discount == 3150
    assert event.price.total == BASE - 3150


def test_discounts_of_several_perks_add_up() -> None:
    event = given(booking_requested(), perk_applied(HOTEL_DISCOUNT)).when(FARE_DISCOUNT)

    assert isinstance(event, PerkApplied)
    assert [d.amount for d in event.price.discounts] == [1950, 3150]
    assert event.price.total == BASE - 1950 - 3150


def test_a_perk_without_a_discount_leaves_the_price_as_it_was() -> None:
    event = given(booking_requested()).when(BREAKFAST)

    assert isinstance(event, PerkApplied)
    assert event.discount == 0
    assert event.price == booking_requested().price


def test_an_applied_perk_is_remembered_with_the_new_price() -> None:
    applied = perk_applied(HOTEL_DISCOUNT)
    state = fold([booking_requested(), applied])

    assert state.applied_perk_codes == ("HTL-SAP-01-DISCOUNT",)
    assert state.price == applied.price


def test_perks_may_be_applied_to_a_confirmed_booking() -> None:
    event = given(*all_reserved()).when(BREAKFAST)

    assert isinstance(event, PerkApplied)


def test_a_perk_code_must_exist_in_the_catalog() -> None:
    unknown = ApplyPerk(booking_id=BOOKING_ID, perk_code="FREE-GOLD")

    error = given(booking_requested()).refuses(unknown)

    assert problems_of(error) == {"perk_code": UNKNOWN_PERK}


def test_only_perks_of_the_booked_hotel_and_fares_can_be_applied() -> None:
    kyoto_breakfast = ApplyPerk(booking_id=BOOKING_ID, perk_code="HTL-KYO-01-BREAKFAST")
    economy_perk_of_a_premium_flight = ApplyPerk(
        booking_id=BOOKING_ID, perk_code="NH-062-CTS-HND-ECONOMY-MILES"
    )

    booking = given(booking_requested())
    assert booking.refuses(kyoto_breakfast).code == PERK_NOT_OFFERED
    assert booking.refuses(economy_perk_of_a_premium_flight).code == PERK_NOT_OFFERED


def test_a_perk_can_be_applied_only_once() -> None:
    error = given(booking_requested(), perk_applied(HOTEL_DISCOUNT)).refuses(HOTEL_DISCOUNT)

    assert error.code == PERK_ALREADY_APPLIED


def test_a_cancelled_booking_takes_no_perks() -> None:
    assert given(booking_requested(), cancelled()).refuses(BREAKFAST).code == BOOKING_CANCELLED


def test_a_rejected_booking_takes_no_perks() -> None:
    assert given(booking_requested(), hotel_rejected()).refuses(BREAKFAST).code == BOOKING_REJECTED


def test_a_discount_is_rounded_down_to_the_yen() -> None:
    perk = offered(percent=10, item=HOTEL_ITEM)

    assert perk_discount(12345, perk) == 1234


def test_discounts_never_make_the_total_negative() -> None:
    perks = [offered("A", 60, RETURN), offered("B", 60, RETURN)]

    breakdown = price_breakdown({RETURN: 10000}, perks)

    assert [d.amount for d in breakdown.discounts] == [6000, 6000]
    assert breakdown.total == 0


def perk_applied(command: ApplyPerk) -> PerkApplied:
    """The PerkApplied event recorded when the standard trip applies this perk."""
    event = given(booking_requested()).when(command)
    assert isinstance(event, PerkApplied)
    return event


def offered(code: str = "P", percent: int = 0, item: str = HOTEL_ITEM) -> OfferedPerk:
    return OfferedPerk(
        code=code, title=code, kind=PerkKind.DISCOUNT, discount_percent=percent, item=item
    )


def test_a_perk_keeps_the_discount_recorded_when_the_booking_was_requested() -> None:
    # The catalog may have changed since; the booking's own offer is what counts.
    empty_catalog = DecisionContext(catalog=InMemoryCatalog([], []), today=TODAY)

    event = decide(HOTEL_DISCOUNT, fold([booking_requested()]), empty_catalog)

    assert isinstance(event, PerkApplied)
    assert event.discount == 1950
