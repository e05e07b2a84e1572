"""Rooms booked per hotel per night (`hotel_occupancy`), derived from booking views.

The collection holds one document per hotel and night whose set of booking ids the
runner grows with `$addToSet` and shrinks with `$pull`; set semantics make a repeated
write harmless, so these helpers only say which nights a booking holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from travelbuddy.domain import BookingStatus, ItemStatus
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.readmodels.booking_view import View, apply_to_view

__all__ = ["night_key", "occupancy_from_events", "occupied_nights"]

# A rejected or cancelled booking gives its room back; one still waiting for the hotel
# keeps it, so two customers cannot be promised the last room at once.
_HOLDING_STATUSES = frozenset({BookingStatus.PENDING.value, BookingStatus.CONFIRMED.value})


def occupied_nights(view: View | None) -> tuple[str, frozenset[str]] | None:
    """The hotel id and ISO nights the booking holds a room for, or None if it holds none.

    A booking holds one room on every night from check-in (inclusive) to check-out
    (exclusive) while it is PENDING or CONFIRMED and its stay was not rejected.
    """
    if view is None or view["status"] not in _HOLDING_STATUSES:
        return None
    stay = view["hotel_stay"]
    if stay is None or stay["status"] == ItemStatus.REJECTED.value:
        return None
    check_in = dt.date.fromisoformat(stay["check_in"])
    check_out = dt.date.fromisoformat(stay["check_out"])
    nights = frozenset(
        (check_in + dt.timedelta(days=offset)).isoformat()
        for offset in range((check_out - check_in).days)
    )
    if not nights:
        return None
    hotel_id: str = stay["hotel_id"]
    return hotel_id, nights


def night_key(hotel_id: str, night_iso: str) -> str:
    """The `_id` of the `hotel_occupancy` document for one hotel and night."""
    return f"{hotel_id}|{night_iso}"


def occupancy_from_events(events: Iterable[StoredEvent]) -> dict[tuple[str, str], int]:
    """Rooms booked per (hotel id, ISO night), computed straight from stored events.

    Every booking's events are folded with `apply_to_view` the way the runner does it
    (an event not newer than the view is skipped, so repeats do no harm), then each
    booking's occupied nights are counted. Nights nobody holds are left out.
    """
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
