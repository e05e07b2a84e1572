"""What each booking event does to `booking_views` and `hotel_occupancy`, through a running
projector fed by the change stream of the real event store.

The `projector` fixture starts on an empty store, so it sees every event exactly once,
through the change stream; `runner.applied` counts events that reached every projection,
and `projected()` waits until it equals the number of events in the store.
"""

from __future__ import annotations

from collections import Counter

from tests.integration.booking_traffic import (
    FLIGHT_ID,
    HOTEL_ID,
    HOTEL_PERK,
    Traffic,
    all_events,
    day,
    event_count,
    eventually,
    expected_views,
    nights_held,
    nights_of,
    stored_occupancy,
    stored_views,
)
from travelbuddy.bootstrap import Services
from travelbuddy.readmodels.booking_view import View
from travelbuddy.readmodels.occupancy import occupancy_from_events
from travelbuddy.readmodels.runner import ProjectorRunner

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)


async def projected(services: Services, runner: ProjectorRunner) -> None:
    """Wait until the runner has applied every event in the store, each exactly once."""
    total = await event_count(services)

    async def applied() -> int:
        return runner.applied

    await eventually(applied, lambda n: n >= total, 10, f"{total} events projected")
    assert runner.applied == total
    assert runner.parked == 0


async def view_of(services: Services, booking_id: str) -> View:
    view = await services.read_models.views.get(booking_id)
    assert view is not None, f"no view of {booking_id}"
    return view


def summary(view: View) -> tuple[int, str, str | None, list[str]]:
    """(version, status, hotel item status, flight item statuses)"""
    stay = view["hotel_stay"]
    return (view["version"], view["status"], stay["status"] if stay else None,
            [flight["status"] for flight in view["flights"]])


async def test_a_requested_booking_is_pending_and_holds_a_room_each_night(
    services: Services, projector: ProjectorRunner
) -> None:
    booking = await Traffic(services).request(days_ahead=30, nights=3)
    await projected(services, projector)

    view = await view_of(services, booking)
    assert summary(view) == (1, "PENDING", "PENDING", ["PENDING"])
    assert (view["customer_id"], view["check_in"]) == ("alice", day(30).isoformat())
    assert [entry["type"] for entry in view["history"]] == ["BookingRequested"]
    nights = nights_of(day(30), 3)
    assert await stored_occupancy(services) == {(HOTEL_ID, night): 1 for night in nights}
    assert await nights_held(services, booking) == {HOTEL_ID: nights}


async def test_confirmations_reserve_each_item_and_then_confirm_the_booking(
    services: Services, projector: ProjectorRunner
) -> None:
    traffic = Traffic(services)
    booking = await traffic.request(days_ahead=30, nights=2)

    await traffic.confirm_hotel(booking)
    await projected(services, projector)
    view = await view_of(services, booking)
    assert summary(view) == (2, "PENDING", "RESERVED", ["PENDING"])
    assert view["hotel_stay"]["confirmation_code"] == f"HTL-{booking[:6]}"

    await traffic.confirm_flight(booking)
    await projected(services, projector)
    view = await view_of(services, booking)
    assert summary(view) == (3, "CONFIRMED", "RESERVED", ["RESERVED"])
    assert view["flights"][0]["confirmation_code"] == f"NH-{booking[:6]}"
    assert await nights_held(services, booking) == {HOTEL_ID: nights_of(day(30), 2)}


async def test_a_hotel_rejection_rejects_the_booking_and_gives_its_nights_back(
    services: Services, projector: ProjectorRunner
) -> None:
    traffic = Traffic(services)
    rejected = await traffic.request(days_ahead=30, nights=3)
    neighbour = await traffic.request("bob", days_ahead=31, nights=1)
    await projected(services, projector)
    assert await stored_occupancy(services) == {
        (HOTEL_ID, day(30).isoformat()): 1, (HOTEL_ID, day(31).isoformat()): 2,
        (HOTEL_ID, day(32).isoformat()): 1}

    await traffic.reject_hotel(rejected, reason="no rooms left")
    await projected(services, projector)

    view = await view_of(services, rejected)
    assert summary(view) == (2, "REJECTED", "REJECTED", ["PENDING"])
    assert view["hotel_stay"]["rejection_reason"] == "no rooms left"
    assert await nights_held(services, rejected) == {}
    assert await nights_held(services, neighbour) == {HOTEL_ID: [day(31).isoformat()]}
    assert await stored_occupancy(services) == {(HOTEL_ID, day(31).isoformat()): 1}


async def test_a_flight_rejection_rejects_the_trip_and_gives_its_nights_back(
    services: Services, projector: ProjectorRunner
) -> None:
    traffic = Traffic(services)
    booking = await traffic.request(days_ahead=30, nights=2)
    await traffic.confirm_hotel(booking)
    await traffic.reject_flight(booking)
    await projected(services, projector)

    view = await view_of(services, booking)
    assert summary(view) == (3, "REJECTED", "RESERVED", ["REJECTED"])
    assert view["flights"][0]["rejection_reason"] == "sold out"
    assert await nights_held(services, booking) == {}


async def test_a_cancellation_cancels_the_booking_and_gives_its_nights_back(
    services: Services, projector: ProjectorRunner
) -> None:
    traffic = Traffic(services)
    booking = await traffic.request(days_ahead=30, nights=3)
    await traffic.confirm_hotel(booking)
    await traffic.confirm_flight(booking)
    await projected(services, projector)
    assert await nights_held(services, booking) == {HOTEL_ID: nights_of(day(30), 3)}

    await traffic.cancel(booking, reason="change of plans")
    await projected(services, projector)

    view = await view_of(services, booking)
    assert summary(view) == (4, "CANCELLED", "RESERVED", ["RESERVED"])
    assert view["cancellation_reason"] == "change of plans"
    assert view["history"][-1]["type"] == "BookingCancelled"
    assert await nights_held(services, booking) == {}
    assert await stored_occupancy(services) == {}


async def test_changed_stay_dates_move_the_nights_and_wait_for_the_hotel_again(
    services: Services, projector: ProjectorRunner
) -> None:
    traffic = Traffic(services)
    booking = await traffic.request(days_ahead=30, nights=3)
    await traffic.confirm_hotel(booking)
    await projected(services, projector)

    await traffic.change_dates(booking, days_ahead=31, nights=4)  # overlaps two old nights
    await projected(services, projector)

    view = await view_of(services, booking)
    assert summary(view) == (3, "PENDING", "PENDING", ["PENDING"])
    stay = view["hotel_stay"]
    assert (stay["check_in"], stay["check_out"], stay["nights"]) == (
        day(31).isoformat(), day(35).isoformat(), 4)
    assert stay["confirmation_code"] is None
    assert view["check_in"] == day(31).isoformat()
    assert await nights_held(services, booking) == {HOTEL_ID: nights_of(day(31), 4)}
    assert await stored_occupancy(services) == {
        (HOTEL_ID, night): 1 for night in nights_of(day(31), 4)}


async def test_a_perk_changes_the_price_and_keeps_the_nights(
    services: Services, projector: ProjectorRunner
) -> None:
    traffic = Traffic(services)
    booking = await traffic.request(days_ahead=30, nights=2, flight=False)
    await projected(services, projector)
    before = await view_of(services, booking)

    await traffic.apply_perk(booking, HOTEL_PERK)
    await projected(services, projector)

    view = await view_of(services, booking)
    assert summary(view) == (2, "PENDING", "PENDING", [])
    assert view["applied_perks"] == [HOTEL_PERK]
    assert view["price"]["base"] == before["price"]["base"]
    assert view["price"]["total"] == before["price"]["total"] * 95 // 100  # 5% off the stay
    assert await nights_held(services, booking) == {HOTEL_ID: nights_of(day(30), 2)}


async def test_a_flights_only_booking_holds_no_nights(
    services: Services, projector: ProjectorRunner
) -> None:
    traffic = Traffic(services)
    booking = await traffic.request(days_ahead=30, nights=2, hotel=False)
    await traffic.confirm_flight(booking)
    await projected(services, projector)

    view = await view_of(services, booking)
    assert summary(view) == (2, "CONFIRMED", None, ["RESERVED"])
    assert view["flights"][0]["flight_id"] == FLIGHT_ID
    assert view["check_in"] == day(30).isoformat()
    assert await stored_occupancy(services) == {}
    assert await nights_held(services, booking) == {}


async def test_after_a_mixed_run_occupancy_equals_the_count_from_the_stored_events(
    services: Services, projector: ProjectorRunner
) -> None:
    traffic = Traffic(services)
    await traffic.lifecycles(range(240))
    for n, booking in enumerate(list(traffic.pending)):
        await traffic.follow_up(booking, n)
    await projected(services, projector)

    events = await all_events(services)
    occupancy = await stored_occupancy(services)
    assert occupancy == occupancy_from_events(events)
    assert len(occupancy) > 30 and max(occupancy.values()) > 5  # the run did overlap
    views = await stored_views(services)
    statuses = Counter(view["status"] for view in views.values())
    assert set(statuses) == {"PENDING", "CONFIRMED", "REJECTED", "CANCELLED"}, statuses
    assert views == expected_views(events)

