"""Rooms booked per hotel per night (`hotel_occupancy`), folded from a booking's events.

Pure. `next_hold` is the occupancy projection's fold: the nights a booking holds after one
more event, from the nights it held before, never from its whole stream. A booking claims
its stay's nights when it is requested and claims the new ones when its stay moves; it
gives them back when the hotel or a flight is rejected (the booking is then REJECTED)
or when it is cancelled. A booking still waiting for the hotel keeps its room, so two
customers cannot be promised the last room at once.

`occupied_nights` and `occupancy_from_events` compute the same thing another way, from
booking views, for tests to compare against.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from travelbuddy.domain import (
    BookingRequested,
    BookingStatus,
    ItemStatus,
    StayDatesChanged,
    event_from_record,
)
from travelbuddy.domain.serialization import EVENT_TYPES, UnknownEventType
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.readmodels.booking_view import View, apply_to_view
from travelbuddy.readmodels.ports import StayHold

__all__ = ["next_hold", "nights_between", "occupancy_from_events", "occupied_nights"]

# After these a booking holds the nights it held before.
_KEEPS_NIGHTS = frozenset({"HotelReserved", "FlightReserved", "PerkApplied"})
_GIVES_NIGHTS_BACK = frozenset({
    "HotelReservationRejected", "FlightReservationRejected", "BookingCancelled"})
_HOLDING_STATUSES = frozenset({BookingStatus.PENDING.value, BookingStatus.CONFIRMED.value})


def nights_between(check_in: dt.date, check_out: dt.date) -> frozenset[str]:
    """The ISO nights of a stay: check-in inclusive, check-out exclusive."""
    return frozenset(
        (check_in + dt.timedelta(days=offset)).isoformat()
        for offset in range((check_out - check_in).days)
    )


def next_hold(hold: StayHold | None, event: StoredEvent) -> StayHold:
    """The booking's hold after `event` (the next version of its stream).

    Raises for an event that cannot be applied: not a known event type, data that does
    not fit it, or anything but a request as a booking's first event.
    """
    if hold is None or event.type == "BookingRequested":
        fact = event_from_record(event.type, event.schema_version, event.data)
        if not isinstance(fact, BookingRequested):
            raise ValueError(f"{event.type} (version {event.version} of {event.stream_id}) "
                             "cannot be applied: the booking was never requested")
        stay = fact.hotel_stay
        return StayHold(
            booking_id=fact.booking_id, version=event.version,
            hotel_id=stay.hotel_id if stay else None,
            nights=nights_between(stay.check_in, stay.check_out) if stay else frozenset(),
        )
    if event.type == "StayDatesChanged":
        moved = event_from_record(event.type, event.schema_version, event.data)
        assert isinstance(moved, StayDatesChanged)
        # Only a booking still holding its room can move it (the domain's rule).
        nights = nights_between(moved.check_in, moved.check_out) if hold.nights else frozenset()
        return StayHold(hold.booking_id, event.version, hold.hotel_id, nights)
    if event.type in _GIVES_NIGHTS_BACK:
        return StayHold(hold.booking_id, event.version, hold.hotel_id, frozenset())
    if event.type in _KEEPS_NIGHTS:
        return StayHold(hold.booking_id, event.version, hold.hotel_id, hold.nights)
    if event.type not in EVENT_TYPES:
        raise UnknownEventType(f"unknown event type {event.type!r}")
    raise ValueError(f"the occupancy projection was not taught {event.type}")


def occupied_nights(view: View | None) -> tuple[str, frozenset[str]] | None:
    """The hotel id and ISO nights a booking view holds a room for, or None if none.

    A booking holds one room on every night from check-in (inclusive) to check-out
    (exclusive) while it is PENDING or CONFIRMED and its stay was not rejected.
    """
    if view is None or view["status"] not in _HOLDING_STATUSES:
        return None
    stay = view["hotel_stay"]
    if stay is None or stay["status"] == ItemStatus.REJECTED.value:
        return None
    nights = nights_between(dt.date.fromisoformat(stay["check_in"]),
                            dt.date.fromisoformat(stay["check_out"]))
    if not nights:
        return None
    hotel_id: str = stay["hotel_id"]
    return hotel_id, nights


def occupancy_from_events(events: Iterable[StoredEvent]) -> dict[tuple[str, str], int]:
    """Rooms booked per (hotel id, ISO night), computed from stored events through booking
    views (an event not newer than its view is skipped, so repeats do no harm). Nights
    nobody holds are left out."""
    views: dict[str, View] = {}
    for event in events:
        current = views.get(event.stream_id)
        if current is not None and event.version <= current["version"]:
            continue
        views[event.stream_id] = apply_to_view(current, event)
    counts: dict[tuple[str, str], int] = {}
    for view in views.values():
        held = occupied_nights(view)
        if held is None:
            continue
        hotel_id, nights = held
        for night in nights:
            counts[hotel_id, night] = counts.get((hotel_id, night), 0) + 1
    return counts
