"""Booking traffic for the read-side tests: commands through the real command handler,
and the read models as they should be, computed from the store alone.

Dates are days from today, because the domain refuses stays and flights in the past.
Partner replies are sent as the trusted system caller, as the inbound consumer does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from travelbuddy.application.handler import Caller, CommandOutcome
from travelbuddy.bootstrap import READ_MODELS_PROJECTOR, Services
from travelbuddy.domain import (
    ApplyPerk,
    Cabin,
    CancelBooking,
    ChangeStayDates,
    Command,
    ConfirmFlightReservation,
    ConfirmHotelReservation,
    FlightRequest,
    HotelStayRequest,
    RejectFlightReservation,
    RejectHotelReservation,
    RequestBooking,
    Traveler,
)
from travelbuddy.domain.sample_catalog import SAMPLE_HOTELS
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.readmodels.booking_view import View, apply_to_view
from travelbuddy.readmodels.occupancy import occupancy_from_events
from travelbuddy.readmodels.projections import STREAM_PREFIX

HOTEL_ID = "hotel-sapporo-1"
ROOM_TYPE = "STD"
FLIGHT_ID = "NH-061-HND-CTS"
HOTEL_PERK = "HTL-SAP-01-DISCOUNT"
MARKER_HOTEL_ID = "hotel-tokyo-1"
PARTNER = Caller.system("partner-replies")

T = TypeVar("T")


def day(days_ahead: int) -> dt.date:
    """Today plus `days_ahead` days."""
    return dt.date.today() + dt.timedelta(days=days_ahead)


def nights_of(check_in: dt.date, nights: int) -> list[str]:
    """The ISO nights of a stay: check-in inclusive, check-out exclusive."""
    return [(check_in + dt.timedelta(days=n)).isoformat() for n in range(nights)]


def request_booking(
    customer: str = "alice",
    *,
    days_ahead: int = 30,
    nights: int = 3,
    hotel: bool = True,
    flight: bool = True,
    hotel_id: str = HOTEL_ID,
) -> RequestBooking:
    """A new booking: a stay at `hotel_id` and/or the outbound flight on check-in day."""
    check_in = day(days_ahead)
    stays = (
        (HotelStayRequest(hotel_id=hotel_id, room_type=ROOM_TYPE, check_in=check_in,
                          check_out=check_in + dt.timedelta(days=nights), guests=2),)
        if hotel else ()
    )
    flights = (
        (FlightRequest(flight_id=FLIGHT_ID, date=check_in, seats=2, cabin=Cabin.ECONOMY),)
        if flight else ()
    )
    return RequestBooking(
        booking_id=str(uuid.uuid4()), customer_id=customer, hotel_stays=stays,
        flights=flights, travelers=(Traveler(name="Aiko Tanaka"), Traveler(name="Ken Tanaka")),
    )


class Traffic:
    """Sends commands for customers and partners through `services.commands.handle`."""

    def __init__(self, services: Services) -> None:
        self._commands = services.commands
        self.owners: dict[str, str] = {}
        self.pending: list[str] = []
        """Bookings of `lifecycle` left pending, for `follow_up` to pick from."""

    async def send(self, command: Command, caller: Caller | None = None) -> CommandOutcome:
        """Handle one command as `caller` (default: the booking's owner)."""
        if caller is None:
            owner = (command.customer_id if isinstance(command, RequestBooking)
                     else self.owners[command.booking_id])
            caller = Caller(owner)
        return await self._commands.handle(command, caller)

    async def request(self, customer: str = "alice", **trip: Any) -> str:
        """Request a booking (see `request_booking`); return its id."""
        command = request_booking(customer, **trip)
        self.owners[command.booking_id] = customer
        outcome = await self.send(command)
        assert outcome.version == 1
        return command.booking_id

    async def confirm_hotel(self, booking_id: str) -> CommandOutcome:
        return await self.send(ConfirmHotelReservation(
            booking_id=booking_id, confirmation_code=f"HTL-{booking_id[:6]}"), PARTNER)

    async def reject_hotel(self, booking_id: str, reason: str = "fully booked") -> CommandOutcome:
        return await self.send(
            RejectHotelReservation(booking_id=booking_id, reason=reason), PARTNER)

    async def confirm_flight(self, booking_id: str) -> CommandOutcome:
        return await self.send(ConfirmFlightReservation(
            booking_id=booking_id, flight_id=FLIGHT_ID, confirmation_code=f"NH-{booking_id[:6]}"),
            PARTNER)

    async def reject_flight(self, booking_id: str, reason: str = "sold out") -> CommandOutcome:
        return await self.send(RejectFlightReservation(
            booking_id=booking_id, flight_id=FLIGHT_ID, reason=reason), PARTNER)

    async def apply_perk(self, booking_id: str, perk_code: str = HOTEL_PERK) -> CommandOutcome:
        return await self.send(ApplyPerk(booking_id=booking_id, perk_code=perk_code))

    async def change_dates(
        self, booking_id: str, days_ahead: int, nights: int
    ) -> CommandOutcome:
        check_in = day(days_ahead)
        return await self.send(ChangeStayDates(
            booking_id=booking_id, check_in=check_in,
            check_out=check_in + dt.timedelta(days=nights)))

    async def cancel(self, booking_id: str, reason: str | None = "plans changed") -> CommandOutcome:
        return await self.send(CancelBooking(booking_id=booking_id, reason=reason))

    async def lifecycle(self, n: int, customer: str = "alice") -> str:
        """Booking number `n` of a mixed run: one of eight scripted lives, 1 to 5 events
        (3 on average), on dates and lengths that vary with `n` so nights overlap."""
        days_ahead, nights = 5 + n % 40, 1 + n % 4
        script = n % 8
        booking = await self.request(customer, days_ahead=days_ahead, nights=nights,
                                     flight=script != 7, hotel=script != 6)
        match script:
            case 0:  # stays pending
                self.pending.append(booking)
            case 1:  # confirmed, with a perk
                await self.confirm_hotel(booking)
                await self.confirm_flight(booking)
                await self.apply_perk(booking)
            case 2:  # the hotel says no
                await self.reject_hotel(booking)
            case 3:  # confirmed, then called off
                await self.confirm_hotel(booking)
                await self.apply_perk(booking)
                await self.cancel(booking)
            case 4:  # moved (overlapping its old nights), then confirmed again
                await self.confirm_hotel(booking)
                await self.change_dates(booking, days_ahead + 1, nights + 1)
                await self.confirm_hotel(booking)
                await self.confirm_flight(booking)
            case 5:  # the airline says no: the whole trip is rejected
                await self.confirm_hotel(booking)
                await self.reject_flight(booking)
            case 6:  # flights only
                await self.confirm_flight(booking)
            case 7:  # hotel only: moved far away, then cancelled
                await self.change_dates(booking, days_ahead + 20, 2)
                await self.cancel(booking, reason=None)
        return booking

    async def follow_up(self, booking_id: str, n: int) -> None:
        """Move a pending booking on: one of three later lives, chosen by `n`."""
        match n % 3:
            case 0:
                await self.change_dates(booking_id, 60 + n % 20, 2)
            case 1:
                await self.cancel(booking_id)
            case _:
                await self.confirm_hotel(booking_id)
                await self.confirm_flight(booking_id)

    async def lifecycles(
        self, numbers: Sequence[int], customer: str = "alice", concurrency: int = 25
    ) -> list[str]:
        """Run `lifecycle(n)` for each n, `concurrency` bookings at a time."""
        bookings: list[str] = []
        for start in range(0, len(numbers), concurrency):
            batch = numbers[start:start + concurrency]
            bookings += await asyncio.gather(*(self.lifecycle(n, customer) for n in batch))
        return bookings


# -- the read models as they should be ------------------------------------------------


async def all_events(services: Services) -> list[StoredEvent]:
    return [event async for event in services.store.read_all()]


def expected_views(events: Sequence[StoredEvent]) -> dict[str, View]:
    """Every booking's view, rebuilt from scratch by folding its stream in version order."""
    streams: dict[str, list[StoredEvent]] = {}
    for event in events:
        streams.setdefault(event.stream_id, []).append(event)
    views: dict[str, View] = {}
    for stream_id, stream in streams.items():
        view: View | None = None
        for event in sorted(stream, key=lambda e: e.version):
            view = apply_to_view(view, event)
        assert view is not None
        views[stream_id.removeprefix(STREAM_PREFIX)] = view
    return views


async def stored_views(services: Services) -> dict[str, View]:
    """The stored view of every booking the store has events of."""
    booking_ids = {e.stream_id.removeprefix(STREAM_PREFIX) for e in await all_events(services)}
    return await services.read_models.views.get_many(booking_ids)


async def stored_occupancy(services: Services) -> dict[tuple[str, str], int]:
    """Rooms per (hotel id, night) as the query API answers them, for every hotel of the
    catalog over the next two years; nights nobody holds left out."""
    rooms: dict[tuple[str, str], int] = {}
    for hotel in SAMPLE_HOTELS:
        for night, count in await services.queries.hotel_occupancy(hotel.id, day(-1), day(730)):
            rooms[hotel.id, night] = count
    return rooms


async def nights_held(services: Services, booking_id: str) -> dict[str, list[str]]:
    """hotel id -> sorted nights the occupancy projection holds for the booking."""
    hold = (await services.read_models.occupancy.holds([booking_id])).get(booking_id)
    if hold is None or not hold.nights or hold.hotel_id is None:
        return {}
    return {hold.hotel_id: sorted(hold.nights)}


def expected_occupancy(events: Sequence[StoredEvent]) -> dict[tuple[str, str], int]:
    """`occupancy_from_events` over the store's events, each stream in version order."""
    return occupancy_from_events(sorted(events, key=lambda e: (e.stream_id, e.version)))


async def event_count(services: Services) -> int:
    return await services.store.count()


# -- waiting for the projector ----------------------------------------------------------


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    within: float,
    what: str,
    every: float = 0.01,
) -> T:
    """Poll `probe` every `every` s until `done(value)`, at most `within` s; fail saying
    `what` with the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if done(value):
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"not within {within} s: {what}; last seen {value!r:.500}")
        await asyncio.sleep(every)


async def settle(services: Services, within: float = 30.0) -> str:
    """Write a marker booking last and wait until the projector applied it fully.

    The runner applies batches in feed order and writes a batch's checkpoint last (after
    its views, holds and nights, and parked events), so once the read-model checkpoint is
    at the marker's event, every event written before it has reached every projection.
    Returns the marker's booking id.
    """
    marker = await Traffic(services).request(
        "marker", days_ahead=300, nights=1, flight=False, hotel_id=MARKER_HOTEL_ID)
    [requested] = await services.store.read(STREAM_PREFIX + marker)

    async def position() -> Any:
        saved = await services.read_models.checkpoints.load(READ_MODELS_PROJECTOR)
        return None if saved is None else saved.position

    await eventually(position, lambda at: at is not None and at >= requested.position, within,
                     f"the projector reaches the marker booking {marker}")
    return marker
