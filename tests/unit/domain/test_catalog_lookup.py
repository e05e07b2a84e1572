"""The catalog the booking prices from: look-ups, unique perk codes, the sample data."""

import pytest

from travelbuddy.domain import (
    SAMPLE_FLIGHTS,
    SAMPLE_HOTELS,
    Cabin,
    Hotel,
    InMemoryCatalog,
    Perk,
    PerkKind,
    RoomType,
    sample_catalog,
)

CATALOG = sample_catalog()


def test_hotels_flights_and_perks_are_found_by_id_or_code() -> None:
    hotel = CATALOG.hotel("hotel-sapporo-1")
    flight = CATALOG.flight("NH-061-HND-CTS")

    assert hotel is not None and hotel.city == "Sapporo"
    assert flight is not None and (flight.origin, flight.destination) == ("HND", "CTS")
    assert CATALOG.perk("HTL-SAP-01-BREAKFAST") in hotel.perks
    premium = flight.fare(Cabin.PREMIUM)
    assert premium is not None
    assert CATALOG.perk("NH-061-HND-CTS-PREMIUM-LOUNGE") in premium.perks


def test_what_the_catalog_does_not_hold_is_none() -> None:
    hotel = CATALOG.hotel("hotel-sapporo-1")
    flight = CATALOG.flight("NH-061-HND-CTS")

    assert CATALOG.hotel("hotel-atlantis-1") is None
    assert CATALOG.flight("ZZ-999") is None
    assert CATALOG.perk("FREE-GOLD") is None
    assert hotel is not None and hotel.room_type("PENTHOUSE") is None
    assert flight is not None and flight.fare(Cabin.FIRST) is None


def test_a_perk_code_belongs_to_one_item_only() -> None:
    breakfast = Perk(code="HTL-X-BREAKFAST", title="Breakfast", kind=PerkKind.BREAKFAST)
    room = RoomType(code="STD", name="Standard", nightly_price=10000)
    hotels = [
        Hotel(id=f"hotel-x-{n}", name="X", city="Tokyo", room_types=(room,), perks=(breakfast,))
        for n in (1, 2)
    ]

    with pytest.raises(ValueError, match="HTL-X-BREAKFAST"):
        InMemoryCatalog(hotels, [])


def test_the_sample_catalog_lists_a_dozen_hotels_across_japan() -> None:
    cities = {hotel.city for hotel in CATALOG.hotels()}

    assert CATALOG.hotels() == SAMPLE_HOTELS
    assert len(SAMPLE_HOTELS) >= 12
    assert {"Tokyo", "Osaka", "Kyoto", "Sapporo", "Fukuoka", "Naha", "Nagoya"} <= cities
    for hotel in SAMPLE_HOTELS:
        assert 2 <= len(hotel.room_types) <= 3, hotel.id
        assert 1 <= len(hotel.perks) <= 3, hotel.id


def test_every_sample_flight_sells_economy_and_premium_between_known_airports() -> None:
    airports = {"HND", "ITM", "KIX", "CTS", "FUK", "OKA", "NGO", "HIJ", "KMQ", "SDJ"}

    assert CATALOG.flights() == SAMPLE_FLIGHTS
    assert len(SAMPLE_FLIGHTS) >= 12
    for flight in SAMPLE_FLIGHTS:
        assert {fare.cabin for fare in flight.fares} == {Cabin.ECONOMY, Cabin.PREMIUM}
        assert {flight.origin, flight.destination} <= airports
        economy, premium = flight.fare(Cabin.ECONOMY), flight.fare(Cabin.PREMIUM)
        assert economy is not None and premium is not None
        assert economy.price < premium.price
