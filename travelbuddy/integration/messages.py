"""What travels on Kafka: booking events as CloudEvents-style envelopes, the partners'
reservation replies, and catalog entries. Pydantic models at the boundary: the text of
what comes in is checked as the domain's (`Text`), so a reply with a lone surrogate or a
control character is refused (the inbound consumer parks it) and never stored."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from travelbuddy.domain.catalog import Flight, Hotel
from travelbuddy.domain.text import Text
from travelbuddy.eventstore.port import StoredEvent

SOURCE = "/travelbuddy/booking-service"


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BookingEventEnvelope(_Message):
    """A booking event on `travelbuddy.bookings.v1`, with CloudEvents attribute names."""

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(description="The event id: consumers dedupe by it.")
    type: str = Field(description="The event type, e.g. BookingRequested.")
    source: str = SOURCE
    subject: str = Field(description="The booking id.")
    time: dt.datetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschemaversion: int = Field(description="The event's schema version.")
    sequence: int = Field(description="The event's version in its booking's stream.")
    correlationid: str | None = None
    data: dict[str, Any]

    @classmethod
    def of(cls, event: StoredEvent) -> BookingEventEnvelope:
        return cls(
            id=event.metadata.event_id,
            type=event.type,
            subject=event.stream_id.removeprefix("booking-"),
            time=event.metadata.recorded_at,
            dataschemaversion=event.schema_version,
            sequence=event.version,
            correlationid=event.metadata.correlation_id,
            data=event.data,
        )


class HotelReserved(_Message):
    """The hotel service reserved the stay of a booking."""

    type: Literal["hotel.reserved"]
    reply_id: Text = Field(min_length=1, max_length=100)
    booking_id: Text = Field(min_length=1, max_length=100)
    confirmation_code: Text = Field(min_length=1, max_length=100)
    causation_id: Text | None = Field(None, description="Id of the booking event replied to.")


class HotelRejected(_Message):
    """The hotel service could not reserve the stay of a booking."""

    type: Literal["hotel.rejected"]
    reply_id: Text = Field(min_length=1, max_length=100)
    booking_id: Text = Field(min_length=1, max_length=100)
    reason: Text = Field(min_length=1, max_length=200)
    causation_id: Text | None = None


class FlightReserved(_Message):
    """The flight service reserved the seats of one flight of a booking."""

    type: Literal["flight.reserved"]
    reply_id: Text = Field(min_length=1, max_length=100)
    booking_id: Text = Field(min_length=1, max_length=100)
    flight_id: Text = Field(min_length=1, max_length=100)
    confirmation_code: Text = Field(min_length=1, max_length=100)
    causation_id: Text | None = None


class FlightRejected(_Message):
    """The flight service could not reserve the seats of one flight of a booking."""

    type: Literal["flight.rejected"]
    reply_id: Text = Field(min_length=1, max_length=100)
    booking_id: Text = Field(min_length=1, max_length=100)
    flight_id: Text = Field(min_length=1, max_length=100)
    reason: Text = Field(min_length=1, max_length=200)
    causation_id: Text | None = None


ReservationReply = Annotated[
    HotelReserved | HotelRejected | FlightReserved | FlightRejected,
    Field(discriminator="type"),
]


class CatalogHotel(_Message):
    """A hotel of the catalog on `partners.catalog.v1` (key = hotel id)."""

    kind: Literal["hotel"]
    hotel: Hotel


class CatalogFlight(_Message):
    """A flight of the catalog on `partners.catalog.v1` (key = flight id)."""

    kind: Literal["flight"]
    flight: Flight


CatalogEntry = Annotated[CatalogHotel | CatalogFlight, Field(discriminator="kind")]
