"""Deciding `RequestBooking`: check every input rule, then price the trip from the catalog.

All problems of a request are collected and raised together in one `ValidationFailed`,
so a customer fixes the form once instead of one field at a time.
"""

from __future__ import annotations

import datetime as dt

from travelbuddy.domain import errors
from travelbuddy.domain.catalog import CatalogView, Perk
from travelbuddy.domain.commands import FlightRequest, HotelStayRequest, RequestBooking
from travelbuddy.domain.errors import Problem, ValidationFailed
from travelbuddy.domain.events import (
    HOTEL_ITEM,
    BookingRequested,
    FlightItem,
    HotelStay,
    OfferedPerk,
)
from travelbuddy.domain.pricing import flight_price, nights_between, price_breakdown, stay_price
from travelbuddy.domain.travelers import Traveler

MAX_STAYS = 1
MAX_FLIGHTS = 4
MAX_NIGHTS = 30
MAX_GUESTS = 9
MAX_SEATS = 9
MAX_TRAVELERS = 9


def decide_request(
    command: RequestBooking, catalog: CatalogView, today: dt.date
) -> BookingRequested:
    """The `BookingRequested` fact, with prices and perks resolved from the catalog.

    Raises `ValidationFailed` with every problem of the request.
    """
    problems: list[Problem] = []
    problems += _item_count_problems(command)
    problems += _traveler_problems(command.travelers)
    stays = [
        _resolve_stay(f"hotel_stays[{i}]", stay, catalog, today, problems)
        for i, stay in enumerate(command.hotel_stays)
    ]
    flights = [
        _resolve_flight(f"flights[{i}]", flight, catalog, today, problems)
        for i, flight in enumerate(command.flights)
    ]
    problems += _duplicate_flight_problems(command.flights)
    if problems:
        raise ValidationFailed(tuple(problems))

    resolved_stays = [stay for stay in stays if stay is not None]
    resolved_flights = [flight for flight in flights if flight is not None]
    hotel_stay = resolved_stays[0][0] if resolved_stays else None
    flight_items = [item for item, _ in resolved_flights]
    offered = [perk for _, perks in (*resolved_stays, *resolved_flights) for perk in perks]
    item_prices = {flight.flight_id: flight.price for flight in flight_items}
    if hotel_stay is not None:
        item_prices[HOTEL_ITEM] = hotel_stay.price
    return BookingRequested(
        booking_id=command.booking_id,
        customer_id=command.customer_id,
        hotel_stay=hotel_stay,
        flights=tuple(flight_items),
        travelers=command.travelers,
        offered_perks=tuple(offered),
        price=price_breakdown(item_prices, applied_perks=()),
    )


def stay_date_problems(
    check_in: dt.date, check_out: dt.date, today: dt.date, at: str = ""
) -> list[Problem]:
    """The rules for a stay's dates; `at` prefixes the field paths ("hotel_stays[0].")."""
    problems = []
    if check_out <= check_in:
        problems.append(
            Problem(
                code=errors.CHECK_OUT_NOT_AFTER_CHECK_IN,
                message=f"Check-out ({check_out}) must be after check-in ({check_in}).",
                field=f"{at}check_out",
            )
        )
    elif nights_between(check_in, check_out) > MAX_NIGHTS:
        problems.append(
            Problem(
                code=errors.STAY_TOO_LONG,
                message=f"A stay lasts at most {MAX_NIGHTS} nights; "
                f"{check_in} to {check_out} is {nights_between(check_in, check_out)}.",
                field=f"{at}check_out",
            )
        )
    if check_in < today:
        problems.append(
            Problem(
                code=errors.CHECK_IN_IN_PAST,
                message=f"Check-in ({check_in}) is in the past.",
                field=f"{at}check_in",
            )
        )
    return problems


def _item_count_problems(command: RequestBooking) -> list[Problem]:
    problems = []
    if not command.hotel_stays and not command.flights:
        problems.append(
            Problem(code=errors.NO_ITEMS, message="Book a hotel stay, a flight, or both.")
        )
    if len(command.hotel_stays) > MAX_STAYS:
        problems.append(
            Problem(
                code=errors.TOO_MANY_STAYS,
                message=f"A booking has at most {MAX_STAYS} hotel stay.",
                field="hotel_stays",
            )
        )
    if len(command.flights) > MAX_FLIGHTS:
        problems.append(
            Problem(
                code=errors.TOO_MANY_FLIGHTS,
                message=f"A booking has at most {MAX_FLIGHTS} flights.",
                field="flights",
            )
        )
    return problems


def _traveler_problems(travelers: tuple[Traveler, ...]) -> list[Problem]:
    if not travelers:
        return [
            Problem(
                code=errors.NO_TRAVELERS,
                message="Name at least one traveler.",
                field="travelers",
            )
        ]
    problems = [
        Problem(
            code=errors.NO_TRAVELERS,
            message="A traveler needs a name.",
            field=f"travelers[{i}].name",
        )
        for i, traveler in enumerate(travelers)
        if not traveler.name.strip()
    ]
    if len(travelers) > MAX_TRAVELERS:
        problems.append(
            Problem(
                code=errors.NO_TRAVELERS,
                message=f"A booking has at most {MAX_TRAVELERS} travelers.",
                field="travelers",
            )
        )
    return problems


def _resolve_stay(
    at: str,
    request: HotelStayRequest,
    catalog: CatalogView,
    today: dt.date,
    problems: list[Problem],
) -> tuple[HotelStay, list[OfferedPerk]] | None:
    problems += stay_date_problems(request.check_in, request.check_out, today, at=f"{at}.")
    if not 1 <= request.guests <= MAX_GUESTS:
        problems.append(
            Problem(
                code=errors.GUESTS_OUT_OF_RANGE,
                message=f"A stay is for 1 to {MAX_GUESTS} guests, not {request.guests}.",
                field=f"{at}.guests",
            )
        )
    hotel = catalog.hotel(request.hotel_id)
    if hotel is None:
        problems.append(
            Problem(
                code=errors.UNKNOWN_HOTEL,
                message=f"There is no hotel {request.hotel_id!r}.",
                field=f"{at}.hotel_id",
            )
        )
        return None
    room = hotel.room_type(request.room_type)
    if room is None:
        problems.append(
            Problem(
                code=errors.UNKNOWN_ROOM_TYPE,
                message=f"{hotel.name} has no room type {request.room_type!r}.",
                field=f"{at}.room_type",
            )
        )
        return None
    if request.check_out <= request.check_in:
        return None
    stay = HotelStay(
        hotel_id=hotel.id,
        hotel_name=hotel.name,
        city=hotel.city,
        room_type=room.code,
        room_name=room.name,
        check_in=request.check_in,
        check_out=request.check_out,
        guests=request.guests,
        nightly_price=room.nightly_price,
        price=stay_price(room.nightly_price, request.check_in, request.check_out),
    )
    return stay, [_offered(perk, HOTEL_ITEM) for perk in hotel.perks]


def _resolve_flight(
    at: str,
    request: FlightRequest,
    catalog: CatalogView,
    today: dt.date,
    problems: list[Problem],
) -> tuple[FlightItem, list[OfferedPerk]] | None:
    if not 1 <= request.seats <= MAX_SEATS:
        problems.append(
            Problem(
                code=errors.SEATS_OUT_OF_RANGE,
                message=f"A flight is for 1 to {MAX_SEATS} seats, not {request.seats}.",
                field=f"{at}.seats",
            )
        )
    if request.date < today:
        problems.append(
            Problem(
                code=errors.FLIGHT_IN_PAST,
                message=f"The flight date ({request.date}) is in the past.",
                field=f"{at}.date",
            )
        )
    flight = catalog.flight(request.flight_id)
    if flight is None:
        problems.append(
            Problem(
                code=errors.UNKNOWN_FLIGHT,
                message=f"There is no flight {request.flight_id!r}.",
                field=f"{at}.flight_id",
            )
        )
        return None
    fare = flight.fare(request.cabin)
    if fare is None:
        problems.append(
            Problem(
                code=errors.UNKNOWN_CABIN,
                message=f"Flight {flight.flight_number} has no {request.cabin} cabin.",
                field=f"{at}.cabin",
            )
        )
        return None
    item = FlightItem(
        flight_id=flight.id,
        flight_number=flight.flight_number,
        airline=flight.airline,
        origin=flight.origin,
        destination=flight.destination,
        date=request.date,
        departure_time=flight.departure_time,
        arrival_time=flight.arrival_time,
        seats=request.seats,
        cabin=fare.cabin,
        unit_price=fare.price,
        price=flight_price(fare.price, request.seats),
    )
    return item, [_offered(perk, flight.id) for perk in fare.perks]


def _duplicate_flight_problems(flights: tuple[FlightRequest, ...]) -> list[Problem]:
    # Partners confirm or reject a flight by its id alone, so one booking may hold each
    # flight only once, whatever the dates.
    problems = []
    seen: set[str] = set()
    for i, request in enumerate(flights):
        if request.flight_id in seen:
            problems.append(
                Problem(
                    code=errors.DUPLICATE_FLIGHT,
                    message=f"Flight {request.flight_id!r} is already in this booking.",
                    field=f"flights[{i}].flight_id",
                )
            )
        seen.add(request.flight_id)
    return problems


def _offered(perk: Perk, item: str) -> OfferedPerk:
    return OfferedPerk(
        code=perk.code,
        title=perk.title,
        kind=perk.kind,
        discount_percent=perk.discount_percent,
        item=item,
    )
