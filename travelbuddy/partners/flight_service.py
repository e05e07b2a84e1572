"""The simulated flight service: reserves (or turns down) the seats on each booked flight."""

from __future__ import annotations

from collections.abc import Sequence

from travelbuddy.domain import BookingRequested, Event, FlightItem
from travelbuddy.integration.messages import BookingEventEnvelope, FlightRejected, FlightReserved
from travelbuddy.integration.topics import FLIGHT_REPLIES
from travelbuddy.partners.simulated_partner import Reply, SimulatedPartner


class FlightService(SimulatedPartner):
    """Replies once per flight of every requested booking."""

    name = "flight"
    default_group_id = "flight-service"
    reply_topic = FLIGHT_REPLIES
    answers_to = frozenset({"BookingRequested"})

    def replies_to(self, envelope: BookingEventEnvelope, event: Event) -> Sequence[Reply]:
        """A reservation or a rejection for each flight, each drawn on its own."""
        if not isinstance(event, BookingRequested):
            return ()
        return tuple(self._reply(envelope, event.booking_id, flight) for flight in event.flights)

    def _reply(self, envelope: BookingEventEnvelope, booking_id: str, flight: FlightItem) -> Reply:
        reply_id = f"flight:{envelope.id}:{flight.flight_id}"
        if self.rejects():
            return FlightRejected(
                type="flight.rejected", reply_id=reply_id, booking_id=booking_id,
                flight_id=flight.flight_id, reason=f"no seats left in {flight.cabin.lower()}",
                causation_id=envelope.id,
            )
        # Flight ids start with the carrier ("NH-061-HND-CTS"), as codes do: "NH-4K7Q2Z".
        carrier = flight.flight_id.split("-", 1)[0]
        return FlightReserved(
            type="flight.reserved", reply_id=reply_id, booking_id=booking_id,
            flight_id=flight.flight_id, confirmation_code=self.confirmation_code(carrier),
            causation_id=envelope.id,
        )
