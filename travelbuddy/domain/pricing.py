"""Price arithmetic in whole yen: item prices, perk discounts, the breakdown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from travelbuddy.domain.events import OfferedPerk, PerkDiscount, PriceBreakdown


def nights_between(check_in: dt.date, check_out: dt.date) -> int:
    """Number of nights from check-in to check-out."""
    return (check_out - check_in).days


def stay_price(nightly_price: int, check_in: dt.date, check_out: dt.date) -> int:
    """Price of a stay: one room for every night."""
    return nightly_price * nights_between(check_in, check_out)


def flight_price(unit_price: int, seats: int) -> int:
    """Price of a flight item: the fare for every seat."""
    return unit_price * seats


def perk_discount(item_price: int, perk: OfferedPerk) -> int:
    """What the perk takes off the price of the item offering it.

    Rounded down to the yen, so a discount never exceeds its percentage.
    """
    return item_price * perk.discount_percent // 100


def price_breakdown(
    item_prices: Mapping[str, int], applied_perks: Iterable[OfferedPerk]
) -> PriceBreakdown:
    """The breakdown for items priced by item key ("hotel" or a flight id).

    Every applied perk with a percentage discount is listed, computed on the
    undiscounted price of its own item, in the order the perks were applied; perks
    without a discount (breakfast, lounge, ...) cost nothing and are not listed.
    """
    base = sum(item_prices.values())
    discounts = tuple(
        PerkDiscount(
            code=perk.code,
            title=perk.title,
            amount=perk_discount(item_prices.get(perk.item, 0), perk),
        )
        for perk in applied_perks
        if perk.discount_percent > 0
    )
    # Perks on one item may add up past its price; the customer never gets paid to travel.
    total = max(base - sum(discount.amount for discount in discounts), 0)
    return PriceBreakdown(base=base, discounts=discounts, total=total)
