"""The partners' catalog: `partners.catalog.v1` -> `hotels`/`flights` -> search queries
and the prices a booking request records, on Kafka and on the SQLite bus."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.background import running
from tests.integration.buses import BUS_KINDS, bus_of_kind
from tests.integration.graphql_calls import graphql
from travelbuddy.app import create_app
from travelbuddy.application import BookingCommands, Caller
from travelbuddy.bootstrap import Services
from travelbuddy.domain import HotelStayRequest, RequestBooking, RoomType, Traveler
from travelbuddy.domain.sample_catalog import SAMPLE_FLIGHTS, SAMPLE_HOTELS
from travelbuddy.integration.bus import Bus
from travelbuddy.integration.catalog import run_catalog_projector
from travelbuddy.integration.messages import CatalogFlight, CatalogHotel
from travelbuddy.integration.topics import CATALOG

HOTELS = """
query ($city: String!, $in: Date!, $out: Date!) {
  hotels(city: $city, checkIn: $in, checkOut: $out) {
    id city nights roomTypes { code nightlyPrice stayPrice } perks { code discountPercent }
  }
}"""
FLIGHTS = """
query ($from: String!, $to: String!, $date: Date!) {
  flights(from: $from, to: $to, date: $date) { id origin destination fares { cabin price } }
}"""


async def publish(bus: Bus, *entries: CatalogHotel | CatalogFlight) -> None:
    for entry in entries:
        key = entry.hotel.id if isinstance(entry, CatalogHotel) else entry.flight.id
        await bus.publish(CATALOG, key.encode(), entry.model_dump_json().encode())


@pytest.fixture(params=BUS_KINDS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    async with bus_of_kind(request.param, request) as opened:
        yield opened


@pytest.fixture
async def catalog_projector(services: Services, bus: Bus) -> AsyncIterator[None]:
    group = f"catalog-{uuid.uuid4().hex[:8]}"
    async with running(run_catalog_projector(services.read_models.catalog, bus, group)):
        yield


async def until_hotel(services: Services, hotel_id: str, predicate: Any) -> None:
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        found = await services.read_models.catalog.view({hotel_id}, set())
        hotel = found.hotel(hotel_id)
        if hotel is not None and predicate(hotel.model_dump(mode="json")):
            return
        assert asyncio.get_running_loop().time() < deadline, f"{hotel_id} not projected"
        await asyncio.sleep(0.02)


async def test_published_catalog_is_searchable_by_city_and_route_in_any_case(
    services: Services, bus: Bus, catalog_projector: None
) -> None:
    await publish(
        bus,
        *(CatalogHotel(kind="hotel", hotel=h) for h in SAMPLE_HOTELS),
        *(CatalogFlight(kind="flight", flight=f) for f in SAMPLE_FLIGHTS),
    )
    sapporo = next(h for h in SAMPLE_HOTELS if h.id == "hotel-sapporo-1")
    sample_price = sapporo.room_types[0].nightly_price  # not an earlier test's repricing
    await until_hotel(services, sapporo.id,
                      lambda d: d["room_types"][0]["nightly_price"] == sample_price)
    app = create_app(services.settings, services=services)
    check_in = dt.date.today() + dt.timedelta(days=10)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://travelbuddy") as http:
        hotels = (await graphql(http, "/graphql", HOTELS, {
            "city": "sapporo", "in": check_in.isoformat(),
            "out": (check_in + dt.timedelta(days=3)).isoformat()}))["hotels"]
        flights = (await graphql(http, "/graphql", FLIGHTS, {
            "from": "hnd", "to": "CTS", "date": check_in.isoformat()}))["flights"]

    offer = next(h for h in hotels if h["id"] == sapporo.id)
    assert {h["city"] for h in hotels} == {"Sapporo"}
    assert offer["nights"] == 3
    assert offer["roomTypes"][0] == {
        "code": sapporo.room_types[0].code,
        "nightlyPrice": sapporo.room_types[0].nightly_price,
        "stayPrice": 3 * sapporo.room_types[0].nightly_price,
    }
    assert {p["code"] for p in offer["perks"]} == {p.code for p in sapporo.perks}
    expected_flights = {f.id for f in SAMPLE_FLIGHTS if (f.origin, f.destination) == ("HND", "CTS")}
    assert {f["id"] for f in flights} == expected_flights and expected_flights


async def test_booking_request_records_the_price_the_catalog_has_now(
    services: Services, bus: Bus, catalog_projector: None
) -> None:
    sapporo = next(h for h in SAMPLE_HOTELS if h.id == "hotel-sapporo-1")
    repriced = sapporo.model_copy(update={"room_types": (
        RoomType(code="STD", name="Standard Twin", nightly_price=17_777),)})
    await publish(bus, CatalogHotel(kind="hotel", hotel=repriced))
    await until_hotel(services, sapporo.id,
                      lambda d: d["room_types"][0]["nightly_price"] == 17_777)
    commands = BookingCommands(services.store, services.read_models.catalog)
    booking_id, day = str(uuid.uuid4()), dt.date.today() + dt.timedelta(days=10)

    await commands.handle(RequestBooking(
        booking_id=booking_id, customer_id="alice",
        hotel_stays=(HotelStayRequest(hotel_id=sapporo.id, room_type="STD", check_in=day,
                                      check_out=day + dt.timedelta(days=2), guests=2),),
        travelers=(Traveler(name="Aiko Tanaka"),),
    ), Caller("alice"))

    [requested] = await services.store.read(f"booking-{booking_id}")
    assert requested.data["hotel_stay"]["nightly_price"] == 17_777
    assert requested.data["price"]["base"] == 2 * 17_777
