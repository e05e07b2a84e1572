"""A small catalog of Japanese hotels and domestic flights, for local runs, demos and tests.

Prices are in JPY: hotels per room and night, flights per seat.
"""

from __future__ import annotations

from travelbuddy.domain.catalog import (
    Cabin,
    Fare,
    Flight,
    Hotel,
    InMemoryCatalog,
    Perk,
    PerkKind,
    RoomType,
)

_BREAKFAST, _LOUNGE, _UPGRADE = PerkKind.BREAKFAST, PerkKind.LOUNGE, PerkKind.UPGRADE
_DISCOUNT, _LATE, _BAGGAGE = PerkKind.DISCOUNT, PerkKind.LATE_CHECKOUT, PerkKind.BAGGAGE
_MILES = PerkKind.MILES


def _hotel(
    hotel_id: str,
    name: str,
    city: str,
    rooms: list[tuple[str, str, int]],
    perks: list[tuple[str, str, PerkKind, int]],
) -> Hotel:
    return Hotel(
        id=hotel_id,
        name=name,
        city=city,
        room_types=tuple(RoomType(code=c, name=n, nightly_price=p) for c, n, p in rooms),
        perks=tuple(Perk(code=c, title=t, kind=k, discount_percent=d) for c, t, k, d in perks),
    )


def _flight(
    flight_id: str,
    airline: str,
    times: tuple[str, str],
    fares: dict[Cabin, tuple[int, list[tuple[str, PerkKind, int]]]],
) -> Flight:
    # Ids read "<carrier>-<number>-<origin>-<destination>", e.g. "NH-061-HND-CTS", and
    # each fare's perk codes start with the flight id and cabin, keeping them unique.
    carrier, number, origin, destination = flight_id.split("-")
    return Flight(
        id=flight_id,
        flight_number=f"{carrier}{int(number)}",
        airline=airline,
        origin=origin,
        destination=destination,
        departure_time=times[0],
        arrival_time=times[1],
        fares=tuple(
            Fare(
                cabin=cabin,
                price=price,
                perks=tuple(
                    Perk(
                        code=f"{flight_id}-{cabin}-{kind}",
                        title=title,
                        kind=kind,
                        discount_percent=percent,
                    )
                    for title, kind, percent in perks
                ),
            )
            for cabin, (price, perks) in fares.items()
        ),
    )


_ECO, _PRE = Cabin.ECONOMY, Cabin.PREMIUM

SAMPLE_HOTELS: tuple[Hotel, ...] = (
    _hotel("hotel-tokyo-1", "Shinjuku Skyline Hotel", "Tokyo",
           [("STD", "Standard Double", 14000), ("DLX", "Deluxe Twin", 22000),
            ("STE", "Skyline Suite", 48000)],
           [("HTL-TYO-01-BREAKFAST", "Free breakfast buffet", _BREAKFAST, 0),
            ("HTL-TYO-01-LATE", "Check-out at 13:00", _LATE, 0)]),
    _hotel("hotel-tokyo-2", "Asakusa Riverside Inn", "Tokyo",
           [("STD", "Japanese-style Room", 11000), ("FAM", "Family Room", 19000)],
           [("HTL-TYO-02-DISCOUNT", "10% off the stay", _DISCOUNT, 10)]),
    _hotel("hotel-osaka-1", "Namba Canal Hotel", "Osaka",
           [("STD", "Standard Double", 12000), ("DLX", "Canal View Twin", 18500)],
           [("HTL-OSA-01-BREAKFAST", "Free breakfast", _BREAKFAST, 0),
            ("HTL-OSA-01-UPGRADE", "Room upgrade on arrival", _UPGRADE, 0)]),
    _hotel("hotel-kyoto-1", "Gion Machiya Ryokan", "Kyoto",
           [("TAT", "Tatami Room", 26000), ("GDN", "Garden Room with Bath", 38000)],
           [("HTL-KYO-01-BREAKFAST", "Kyoto-style breakfast", _BREAKFAST, 0),
            ("HTL-KYO-01-DISCOUNT", "15% off stays booked with TravelBuddy", _DISCOUNT, 15)]),
    _hotel("hotel-sapporo-1", "Odori Park Hotel", "Sapporo",
           [("STD", "Standard Twin", 13000), ("DLX", "Park View Deluxe", 20000),
            ("STE", "Snow Suite", 41000)],
           [("HTL-SAP-01-BREAKFAST", "Free breakfast with Hokkaido milk", _BREAKFAST, 0),
            ("HTL-SAP-01-DISCOUNT", "5% off the stay", _DISCOUNT, 5),
            ("HTL-SAP-01-LATE", "Check-out at 12:00", _LATE, 0)]),
    _hotel("hotel-fukuoka-1", "Hakata Bay Hotel", "Fukuoka",
           [("STD", "Standard Double", 10500), ("DLX", "Bay View Twin", 16500)],
           [("HTL-FUK-01-BREAKFAST", "Free breakfast", _BREAKFAST, 0)]),
    _hotel("hotel-naha-1", "Kokusai Street Resort", "Naha",
           [("STD", "Garden Twin", 15000), ("OCN", "Ocean View Twin", 24000),
            ("VIL", "Pool Villa", 52000)],
           [("HTL-OKA-01-UPGRADE", "Ocean view upgrade when available", _UPGRADE, 0),
            ("HTL-OKA-01-DISCOUNT", "8% off the stay", _DISCOUNT, 8)]),
    _hotel("hotel-nagoya-1", "Sakae Central Hotel", "Nagoya",
           [("STD", "Standard Single", 8500), ("DBL", "Standard Double", 12500)],
           [("HTL-NGO-01-BREAKFAST", "Free breakfast", _BREAKFAST, 0)]),
    _hotel("hotel-hiroshima-1", "Peace Boulevard Hotel", "Hiroshima",
           [("STD", "Standard Double", 11500), ("DLX", "River View Twin", 17000)],
           [("HTL-HIJ-01-LATE", "Check-out at 12:00", _LATE, 0),
            ("HTL-HIJ-01-DISCOUNT", "10% off the stay", _DISCOUNT, 10)]),
    _hotel("hotel-kanazawa-1", "Kenrokuen Garden Inn", "Kanazawa",
           [("TAT", "Tatami Room", 16000), ("GDN", "Garden View Room", 23000)],
           [("HTL-KMQ-01-BREAKFAST", "Kaga cuisine breakfast", _BREAKFAST, 0)]),
    _hotel("hotel-sendai-1", "Jozenji Avenue Hotel", "Sendai",
           [("STD", "Standard Double", 9500), ("DLX", "Deluxe Twin", 14500)],
           [("HTL-SDJ-01-BREAKFAST", "Free breakfast", _BREAKFAST, 0),
            ("HTL-SDJ-01-LATE", "Check-out at 12:00", _LATE, 0)]),
    _hotel("hotel-osaka-2", "Umeda Sky Tower Hotel", "Osaka",
           [("STD", "Standard Double", 15500), ("DLX", "Sky View Twin", 24500),
            ("STE", "Sky Suite", 56000)],
           [("HTL-OSA-02-LOUNGE", "Executive lounge access", _LOUNGE, 0),
            ("HTL-OSA-02-DISCOUNT", "12% off the stay", _DISCOUNT, 12)]),
)  # fmt: skip

SAMPLE_FLIGHTS: tuple[Flight, ...] = (
    _flight("NH-061-HND-CTS", "ANA", ("08:00", "09:35"), {
        _ECO: (18500, [("Earn double miles", _MILES, 0)]),
        _PRE: (31500, [("Airport lounge access", _LOUNGE, 0),
                       ("Extra checked bag", _BAGGAGE, 0)])}),
    _flight("NH-062-CTS-HND", "ANA", ("10:30", "12:05"), {
        _ECO: (18500, [("Earn double miles", _MILES, 0)]),
        _PRE: (31500, [("Airport lounge access", _LOUNGE, 0),
                       ("5% off the fare", _DISCOUNT, 5)])}),
    _flight("JL-305-HND-FUK", "JAL", ("09:00", "11:00"), {
        _ECO: (21000, [("Extra checked bag", _BAGGAGE, 0)]),
        _PRE: (35000, [("Airport lounge access", _LOUNGE, 0),
                       ("Earn double miles", _MILES, 0)])}),
    _flight("JL-306-FUK-HND", "JAL", ("12:00", "13:35"), {
        _ECO: (21000, [("10% off the fare", _DISCOUNT, 10)]),
        _PRE: (35000, [("Airport lounge access", _LOUNGE, 0)])}),
    _flight("NH-471-HND-OKA", "ANA", ("07:55", "10:45"), {
        _ECO: (24500, [("Extra checked bag", _BAGGAGE, 0)]),
        _PRE: (40500, [("Airport lounge access", _LOUNGE, 0),
                       ("Extra checked bag", _BAGGAGE, 0)])}),
    _flight("NH-472-OKA-HND", "ANA", ("11:40", "14:00"), {
        _ECO: (24500, [("Earn double miles", _MILES, 0)]),
        _PRE: (40500, [("Airport lounge access", _LOUNGE, 0),
                       ("8% off the fare", _DISCOUNT, 8)])}),
    _flight("JL-111-HND-ITM", "JAL", ("08:00", "09:05"), {
        _ECO: (13500, [("Earn double miles", _MILES, 0)]),
        _PRE: (22500, [("Airport lounge access", _LOUNGE, 0)])}),
    _flight("JL-112-ITM-HND", "JAL", ("09:30", "10:40"), {
        _ECO: (13500, [("5% off the fare", _DISCOUNT, 5)]),
        _PRE: (22500, [("Airport lounge access", _LOUNGE, 0)])}),
    _flight("NH-1711-KIX-OKA", "ANA", ("10:05", "12:15"), {
        _ECO: (19000, [("Extra checked bag", _BAGGAGE, 0)]),
        _PRE: (31000, [("Airport lounge access", _LOUNGE, 0)])}),
    _flight("NH-701-NGO-CTS", "ANA", ("08:30", "10:15"), {
        _ECO: (20500, [("Earn double miles", _MILES, 0)]),
        _PRE: (33500, [("Airport lounge access", _LOUNGE, 0),
                       ("Seat upgrade when available", _UPGRADE, 0)])}),
    _flight("JL-183-HND-KMQ", "JAL", ("07:20", "08:25"), {
        _ECO: (16000, [("Extra checked bag", _BAGGAGE, 0)]),
        _PRE: (26000, [("Airport lounge access", _LOUNGE, 0)])}),
    _flight("NH-677-HND-HIJ", "ANA", ("09:25", "10:50"), {
        _ECO: (17500, [("10% off the fare", _DISCOUNT, 10)]),
        _PRE: (29500, [("Airport lounge access", _LOUNGE, 0)])}),
    _flight("JL-2203-ITM-SDJ", "JAL", ("08:15", "09:35"), {
        _ECO: (19500, [("Earn double miles", _MILES, 0)]),
        _PRE: (32000, [("Airport lounge access", _LOUNGE, 0),
                       ("Extra checked bag", _BAGGAGE, 0)])}),
)  # fmt: skip


def sample_catalog() -> InMemoryCatalog:
    """An in-memory catalog holding the sample hotels and flights."""
    return InMemoryCatalog(SAMPLE_HOTELS, SAMPLE_FLIGHTS)
