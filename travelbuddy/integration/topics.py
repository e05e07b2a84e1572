"""The Kafka topics the booking service uses (DESIGN.md, "Kafka topics")."""

from __future__ import annotations

from dataclasses import dataclass

BOOKINGS = "travelbuddy.bookings.v1"
HOTEL_REPLIES = "partners.hotel.reservations.v1"
FLIGHT_REPLIES = "partners.flight.reservations.v1"
CATALOG = "partners.catalog.v1"
RESERVATIONS_DLQ = "partners.reservations.dlq"
DLQ_REPLAYS = "partners.reservations.dlq.replays"
"""`travelbuddy dlq replay`'s record of the dead letters it sent, keyed by dead-letter id."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


TOPICS = (
    TopicSpec(BOOKINGS, 3),
    TopicSpec(HOTEL_REPLIES, 3),
    TopicSpec(FLIGHT_REPLIES, 3),
    TopicSpec(CATALOG, 1, compacted=True),
    TopicSpec(RESERVATIONS_DLQ, 1),
    TopicSpec(DLQ_REPLAYS, 1, compacted=True),
)
