"""Events to and from stored records: (type name, schema version, JSON-compatible data).

Stored events are never rewritten. When an event's shape changes, its class's
`schema_version` goes up and an upcaster registered for (type name, old version)
turns an old record's data into the next version's, one step at a time, as it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from travelbuddy.domain.events import (
    BookingCancelled,
    BookingRequested,
    Event,
    FlightReservationRejected,
    FlightReserved,
    HotelReservationRejected,
    HotelReserved,
    PerkApplied,
    StayDatesChanged,
)

EventData = dict[str, Any]
Upcaster = Callable[[EventData], EventData]

EVENT_TYPES: dict[str, type[Event]] = {
    event_type.__name__: event_type
    for event_type in (
        BookingRequested,
        HotelReserved,
        HotelReservationRejected,
        FlightReserved,
        FlightReservationRejected,
        PerkApplied,
        StayDatesChanged,
        BookingCancelled,
    )
}


class UnknownEventType(ValueError):
    """A stored record names an event type this code does not know."""


class UnsupportedSchemaVersion(ValueError):
    """A stored record's schema version cannot be brought to the current one."""


class Upcasters:
    """Upcasters keyed by (event type name, the schema version they upgrade from)."""

    def __init__(self) -> None:
        """Start with no upcasters."""
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorate a function turning `from_version` data into `from_version + 1` data."""

        def add(upcaster: Upcaster) -> Upcaster:
            key = (type_name, from_version)
            if key in self._steps:
                raise ValueError(f"an upcaster for {type_name} v{from_version} exists already")
            self._steps[key] = upcaster
            return upcaster

        return add

    def upcast(
        self, type_name: str, schema_version: int, data: EventData, to_version: int
    ) -> EventData:
        """The data brought from `schema_version` up to `to_version`, step by step."""
        if schema_version > to_version:
            raise UnsupportedSchemaVersion(
                f"{type_name} v{schema_version} is newer than this code (v{to_version})"
            )
        for version in range(schema_version, to_version):
            step = self._steps.get((type_name, version))
            if step is None:
                raise UnsupportedSchemaVersion(f"no upcaster for {type_name} v{version}")
            data = step(data)
        return data


# The service's upcasters. Empty while every event is at version 1; register with
# `@UPCASTERS.register("BookingRequested", 1)` when BookingRequested goes to version 2.
UPCASTERS = Upcasters()


def event_to_record(event: Event) -> tuple[str, int, EventData]:
    """The stored form of an event: its class name, schema version and JSON-ready data."""
    return type(event).__name__, event.schema_version, event.model_dump(mode="json")


def event_from_record(
    type_name: str, schema_version: int, data: EventData, upcasters: Upcasters = UPCASTERS
) -> Event:
    """The event a stored record holds, upcast to its current schema version.

    Raises `UnknownEventType`, `UnsupportedSchemaVersion`, or pydantic's
    `ValidationError` when the data does not fit the event.
    """
    event_type = EVENT_TYPES.get(type_name)
    if event_type is None:
        raise UnknownEventType(f"unknown event type {type_name!r}")
    current = upcasters.upcast(type_name, schema_version, data, event_type.schema_version)
    return event_type.model_validate(current)
