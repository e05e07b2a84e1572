"""The simulated hotel service: reserves (or turns down) the stay of each booking."""

from __future__ import annotations

from collections.abc import Sequence

from travelbuddy.domain import BookingRequested, Event, StayDatesChanged
from travelbuddy.integration.messages import BookingEventEnvelope, HotelRejected, HotelReserved
from travelbuddy.integration.topics import HOTEL_REPLIES
from travelbuddy.partners.simulated_partner import Reply, SimulatedPartner

SOLD_OUT = "sold out for those nights"


class HotelService(SimulatedPartner):
    """Replies once to every requested stay and to every change of its dates."""

    name = "hotel"
    default_group_id = "hotel-service"
    reply_topic = HOTEL_REPLIES
    answers_to = frozenset({"BookingRequested", "StayDatesChanged"})

    def replies_to(self, envelope: BookingEventEnvelope, event: Event) -> Sequence[Reply]:
        """A reservation or a rejection of the stay; nothing for a booking without one."""
        if isinstance(event, BookingRequested) and event.hotel_stay is None:
            return ()
        if not isinstance(event, BookingRequested | StayDatesChanged):
            return ()
        reply_id = f"hotel:{envelope.id}"
        if self.rejects():
            return (
                HotelRejected(
                    type="hotel.rejected", reply_id=reply_id, booking_id=event.booking_id,
                    reason=SOLD_OUT, causation_id=envelope.id,
                ),
            )
        return (
            HotelReserved(
                type="hotel.reserved", reply_id=reply_id, booking_id=event.booking_id,
                confirmation_code=self.confirmation_code("HTL"), causation_id=envelope.id,
            ),
        )
