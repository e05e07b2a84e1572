"""Sample bookings for a demo or a first look: `travelbuddy seed`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from travelbuddy.application import BookingCommands, Caller, CommandContext
from travelbuddy.domain import (
    Cabin,
    FlightRequest,
    HotelStayRequest,
    RequestBooking,
    Traveler,
)
from travelbuddy.domain.sample_catalog import SAMPLE_FLIGHTS, SAMPLE_HOTELS

DEMO_CUSTOMER = "demo-customer"


def sample_requests(count: int, today: dt.date, customer: str) -> list[RequestBooking]:
    """`count` bookings spread over the sample hotels and flights, from next week on."""
    requests = []
    for n in range(count):
        hotel = SAMPLE_HOTELS[n % len(SAMPLE_HOTELS)]
        flight = SAMPLE_FLIGHTS[n % len(SAMPLE_FLIGHTS)]
        check_in = today + dt.timedelta(days=7 + 3 * n)
        requests.append(RequestBooking(
            booking_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"travelbuddy-seed/{customer}/{n}")),
            customer_id=customer,
            hotel_stays=(HotelStayRequest(
                hotel_id=hotel.id, room_type=hotel.room_types[0].code, check_in=check_in,
                check_out=check_in + dt.timedelta(days=2 + n % 3), guests=2),),
            flights=(FlightRequest(flight_id=flight.id, date=check_in, seats=2,
                                   cabin=Cabin.ECONOMY),),
            travelers=(Traveler(name="Hanako Yamada"), Traveler(name="Taro Yamada")),
        ))
    return requests


async def seed(
    commands: BookingCommands,
    count: int,
    customer: str = DEMO_CUSTOMER,
    progress: Callable[[int], None] = lambda _: None,
) -> list[str]:
    """Request the sample bookings; seeding twice adds nothing (command ids per booking)."""
    booked = []
    for request in sample_requests(count, dt.date.today(), customer):
        outcome = await commands.handle(
            request, Caller(customer), CommandContext(command_id=f"seed:{request.booking_id}"))
        booked.append(outcome.booking_id)
        progress(1)
    return booked
