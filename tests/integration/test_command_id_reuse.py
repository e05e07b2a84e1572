"""A command id is a promise about one command: sent again with the same command it answers
the first outcome; sent with another command it is refused with COMMAND_ID_REUSED and
nothing is stored (as a payment API refuses a reused idempotency key)."""

from __future__ import annotations

import pytest

from tests.integration.booking_traffic import request_booking
from travelbuddy.application import Caller, CommandContext
from travelbuddy.bootstrap import Services
from travelbuddy.domain import CancelBooking, CommandIdReused

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)
ALICE = Caller("alice")


async def test_the_same_request_sent_again_answers_the_first_outcome(services: Services) -> None:
    context = CommandContext(command_id="req-1")
    first = await services.commands.handle(request_booking(), ALICE, context)
    again = await services.commands.handle(request_booking(), ALICE, context)  # a new id

    assert (again.booking_id, again.version, again.replayed) == (first.booking_id, 1, True)


async def test_a_command_id_sent_with_another_command_is_refused_and_stores_nothing(
    services: Services,
) -> None:
    first = await services.commands.handle(request_booking(), ALICE,
                                           CommandContext(command_id="once"))
    other = await services.commands.handle(request_booking(), ALICE)
    before = await services.store.count()

    with pytest.raises(CommandIdReused) as refused:
        await services.commands.handle(
            CancelBooking(booking_id=other.booking_id, reason="plans changed"), ALICE,
            CommandContext(command_id="once"))
    with pytest.raises(CommandIdReused):  # another trip under the same id
        await services.commands.handle(request_booking(days_ahead=60), ALICE,
                                       CommandContext(command_id="once"))

    assert refused.value.code == "COMMAND_ID_REUSED"
    assert await services.store.count() == before
    assert [e.type for e in await services.store.read(f"booking-{other.booking_id}")] == [
        "BookingRequested"]
    assert first.version == 1
