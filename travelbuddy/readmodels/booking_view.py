"""The booking page's document in `booking_views`, folded from a booking's stored events.

Pure: `apply_to_view` takes the document as stored (or None) and one stored event and
returns the next document. Storage, ordering and idempotency belong to the projector
runner, which keeps a document only when the event's version is newer than its own.

The document is BSON friendly: dates are ISO strings, datetimes stay `datetime`,
money is whole yen as int and enums are stored as their string values.
"""

from __future__ import annotations

import copy
from typing import Any

from travelbuddy.domain import (
    BookingCancelled,
    BookingRequested,
    BookingStatus,
    Event,
    FlightReservationRejected,
    FlightReserved,
    HotelReservationRejected,
    HotelReserved,
    ItemStatus,
    PerkApplied,
    StayDatesChanged,
    event_from_record,
)
from travelbuddy.eventstore.port import StoredEvent
from travelbuddy.readmodels.ports import View

__all__ = ["View", "apply_to_view", "fold_into"]

_CURRENCY_SYMBOLS = {"JPY": "¥"}


def apply_to_view(view: View | None, event: StoredEvent) -> View:
    """The booking's document after one more stored event; `view` is left untouched.

    A `BookingRequested` always starts a fresh document, so a redelivered first event
    yields a version-1 document the runner will not store over a newer one. Any other
    event needs the document of its booking and raises `ValueError` without one, or
    when it names a flight or stay the booking does not have. Records that cannot be
    read raise what `event_from_record` raises.
    """
    return fold_into(copy.deepcopy(view), event)


def fold_into(view: View | None, event: StoredEvent) -> View:
    """`apply_to_view` for a document the caller owns and may lose: changed in place and
    returned (a `BookingRequested` returns a new one). What raises, raises before any
    change, so the document stays as it was."""
    fact = event_from_record(event.type, event.schema_version, event.data)
    if isinstance(fact, BookingRequested):
        view = _requested(fact, event)
        description = _describe_request(fact)
    else:
        if view is None:
            raise ValueError(
                f"{event.type} (version {event.version} of {event.stream_id}) "
                "cannot be applied: the booking has no view yet"
            )
        if view.get("booking_id") != fact.booking_id:
            raise ValueError(
                f"{event.type} of booking {fact.booking_id} cannot be applied "
                f"to the view of booking {view.get('booking_id')}"
            )
        description = _apply(view, fact)
    view["status"] = _status(view, cancelled=isinstance(fact, BookingCancelled))
    view["version"] = event.version
    view["updated_at"] = event.metadata.recorded_at
    view["history"].append(
        {
            "version": event.version,
            "at": event.metadata.recorded_at,
            "type": event.type,
            "description": description,
        }
    )
    return view


def _requested(fact: BookingRequested, event: StoredEvent) -> View:
    stay = fact.hotel_stay
    hotel_stay = None
    if stay is not None:
        hotel_stay = {
            **stay.model_dump(mode="json"),
            "nights": stay.nights,
            **_item_reply(ItemStatus.PENDING),
        }
    flights = [
        {**flight.model_dump(mode="json"), **_item_reply(ItemStatus.PENDING)}
        for flight in fact.flights
    ]
    return {
        "_id": fact.booking_id,
        "booking_id": fact.booking_id,
        "customer_id": fact.customer_id,
        "status": BookingStatus.PENDING.value,
        "version": event.version,
        "created_at": event.metadata.recorded_at,
        "updated_at": event.metadata.recorded_at,
        "check_in": _trip_check_in(hotel_stay, flights),
        "hotel_stay": hotel_stay,
        "flights": flights,
        "travelers": [traveler.model_dump(mode="json") for traveler in fact.travelers],
        "offered_perks": [perk.model_dump(mode="json") for perk in fact.offered_perks],
        "applied_perks": [],
        "price": fact.price.model_dump(mode="json"),
        "cancellation_reason": None,
        "history": [],
    }


def _apply(view: View, fact: Event) -> str:
    """Change `view` by one fact; return the history line for it. Every check comes
    before the first change."""
    match fact:
        case HotelReserved():
            stay = _stay(view, fact)
            stay.update(_item_reply(ItemStatus.RESERVED, code=fact.confirmation_code))
            return f"{stay['hotel_name']} confirmed the stay (code {fact.confirmation_code})"
        case HotelReservationRejected():
            stay = _stay(view, fact)
            stay.update(_item_reply(ItemStatus.REJECTED, reason=fact.reason))
            return f"{stay['hotel_name']} could not confirm the stay: {fact.reason}"
        case FlightReserved():
            flight = _flight(view, fact.flight_id)
            flight.update(_item_reply(ItemStatus.RESERVED, code=fact.confirmation_code))
            return f"{_flight_words(flight)} confirmed (code {fact.confirmation_code})"
        case FlightReservationRejected():
            flight = _flight(view, fact.flight_id)
            flight.update(_item_reply(ItemStatus.REJECTED, reason=fact.reason))
            return f"{_flight_words(flight)} could not be confirmed: {fact.reason}"
        case PerkApplied():
            view["applied_perks"].append(fact.perk_code)
            view["price"] = fact.price.model_dump(mode="json")
            if fact.discount > 0:
                amount = _money(fact.discount, fact.price.currency)
                return f"Perk applied: {fact.title} (−{amount})"
            return f"Perk applied: {fact.title}"
        case StayDatesChanged():
            stay = _stay(view, fact)
            check_in, check_out = fact.check_in.isoformat(), fact.check_out.isoformat()
            stay.update(
                check_in=check_in,
                check_out=check_out,
                nights=(fact.check_out - fact.check_in).days,
                price=fact.hotel_price,
                # The old reservation was for other nights: the hotel has to confirm again.
                **_item_reply(ItemStatus.PENDING),
            )
            view["price"] = fact.price.model_dump(mode="json")
            view["check_in"] = _trip_check_in(stay, view["flights"])
            return f"Stay moved to {check_in} – {check_out}; waiting for the hotel to confirm"
        case BookingCancelled():
            view["cancellation_reason"] = fact.reason
            return f"Booking cancelled: {fact.reason}" if fact.reason else "Booking cancelled"
        case _:
            # A BookingRequested never gets here; anything else is an event type this
            # projection was not taught, which the runner should park, not skip.
            raise ValueError(f"the booking view cannot apply {type(fact).__name__}")


def _status(view: View, cancelled: bool) -> str:
    # Mirrors BookingState.status; a cancelled booking stays cancelled whatever follows.
    if cancelled or view["status"] == BookingStatus.CANCELLED.value:
        return BookingStatus.CANCELLED.value
    statuses = [flight["status"] for flight in view["flights"]]
    if view["hotel_stay"] is not None:
        statuses.append(view["hotel_stay"]["status"])
    if ItemStatus.REJECTED.value in statuses:
        return BookingStatus.REJECTED.value
    if statuses and all(status == ItemStatus.RESERVED.value for status in statuses):
        return BookingStatus.CONFIRMED.value
    return BookingStatus.PENDING.value


def _item_reply(status: ItemStatus, code: str | None = None, reason: str | None = None) -> View:
    return {"status": status.value, "confirmation_code": code, "rejection_reason": reason}


def _stay(view: View, fact: Event) -> dict[str, Any]:
    stay: dict[str, Any] | None = view["hotel_stay"]
    if stay is None:
        raise ValueError(f"{type(fact).__name__}: booking {fact.booking_id} has no hotel stay")
    return stay


def _flight(view: View, flight_id: str) -> dict[str, Any]:
    for flight in view["flights"]:
        if flight["flight_id"] == flight_id:
            found: dict[str, Any] = flight
            return found
    raise ValueError(f"booking {view['booking_id']} has no flight {flight_id}")


def _trip_check_in(stay: dict[str, Any] | None, flights: list[dict[str, Any]]) -> str | None:
    # "My bookings" sorts on this: the stay's check-in, or for a flights-only trip its
    # earliest flight, so the list never needs the items (ISO dates sort as strings).
    if stay is not None:
        check_in: str = stay["check_in"]
        return check_in
    return min((flight["date"] for flight in flights), default=None)


def _describe_request(fact: BookingRequested) -> str:
    parts = []
    if (stay := fact.hotel_stay) is not None:
        nights = _count(stay.nights, "night")
        parts.append(f"{stay.hotel_name}, {nights} from {stay.check_in.isoformat()}")
    if fact.flights:
        parts.append(_count(len(fact.flights), "flight"))
    return "Booking requested: " + (", and ".join(parts) or "no items")


def _flight_words(flight: dict[str, Any]) -> str:
    return (
        f"Flight {flight['flight_number']} {flight['origin']}→{flight['destination']} "
        f"on {flight['date']}"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _money(amount: int, currency: str) -> str:
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount:,}" if symbol else f"{amount:,} {currency}"
