"""The README's "Sample catalog" tables, made from travelbuddy/domain/sample_catalog.py.

    python -m tests.catalog_table      rewrites them in README.md
tests/unit/test_readme_catalog.py fails while the README and the code disagree.
"""

from __future__ import annotations

from pathlib import Path

from travelbuddy.domain.catalog import Flight, Hotel
from travelbuddy.domain.sample_catalog import SAMPLE_FLIGHTS, SAMPLE_HOTELS

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- sample catalog: made by `python -m tests.catalog_table`, do not edit -->"
END = "<!-- end of sample catalog -->"


def _yen(amount: int) -> str:
    return f"{amount:,}"


def _hotel_row(hotel: Hotel) -> str:
    rooms = "<br>".join(f"`{r.code}` {r.name}: {_yen(r.nightly_price)}"
                        for r in hotel.room_types)
    perks = "<br>".join(f"`{p.code}` {p.title}" for p in hotel.perks)
    return f"| {hotel.city} | `{hotel.id}` | {hotel.name} | {rooms} | {perks} |"


def _flight_row(flight: Flight) -> str:
    fares = "<br>".join(
        f"{fare.cabin.value} {_yen(fare.price)}: " + ", ".join(p.title for p in fare.perks)
        for fare in flight.fares)
    return (f"| `{flight.id}` | {flight.airline} {flight.flight_number} | {flight.origin} → "
            f"{flight.destination} | {flight.departure_time}–{flight.arrival_time} | {fares} |")


def catalog_markdown() -> str:
    """The tables, between their markers."""
    cities = sorted({hotel.city for hotel in SAMPLE_HOTELS})
    airports = sorted({code for f in SAMPLE_FLIGHTS for code in (f.origin, f.destination)})
    lines = [
        START,
        f"Cities: {', '.join(cities)}. Airports: {', '.join(airports)}.",
        "",
        "| city | hotel id | hotel | room types (`roomType`: JPY a night) | perks (`perkCode`) |",
        "| --- | --- | --- | --- | --- |",
        *(_hotel_row(hotel) for hotel in sorted(SAMPLE_HOTELS, key=lambda h: (h.city, h.id))),
        "",
        "Flights fly every day. A fare's perk code is `<flight id>-<cabin>-<kind>`, e.g. "
        f"`{SAMPLE_FLIGHTS[0].fares[0].perks[0].code}`.",
        "",
        "| flight id | flight | route | departs–arrives | fares (JPY a seat): perks |",
        "| --- | --- | --- | --- | --- |",
        *(_flight_row(flight) for flight in SAMPLE_FLIGHTS),
        END,
    ]
    return "\n".join(lines)


def readme_catalog(readme: str) -> str:
    """The part of the README between the markers, markers included."""
    start, end = readme.index(START), readme.index(END) + len(END)
    return readme[start:end]


if __name__ == "__main__":
    text = README.read_text()
    README.write_text(text.replace(readme_catalog(text), catalog_markdown()))
    print("README.md: sample catalog rewritten")
