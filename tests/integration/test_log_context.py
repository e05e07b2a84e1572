"""The ids bound where work starts are on every line logged while it is done: a command's
booking, command and correlation ids; the inbound consumer's message and reply; a
partner's message. On the embedded default (the binding does not depend on the stores)."""

from __future__ import annotations

import logging
import uuid

import pytest

from tests.integration.background import running
from tests.integration.booking_traffic import request_booking
from tests.integration.test_inbound_consumer import (
    consume_until_caught_up,
    publish,
    reply,
    trip,
    until,
)
from tests.logged import events
from travelbuddy.application import Caller, CommandContext
from travelbuddy.bootstrap import Services
from travelbuddy.integration.inbound import InboundConsumer
from travelbuddy.integration.topics import BOOKINGS, HOTEL_REPLIES
from travelbuddy.partners import HotelService


@pytest.fixture(autouse=True)
def info_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="travelbuddy")


async def test_a_commands_lines_carry_its_booking_command_and_correlation_ids(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    command = request_booking()
    context = CommandContext(command_id="command-1", correlation_id="journey-1")

    await services.commands.handle(command, Caller(customer_id="alice"), context)
    await services.commands.handle(request_booking(), Caller(customer_id="alice"))

    first, second = events(caplog.records, "BookingRequested")
    assert (first["booking_id"], first["command_id"], first["correlation_id"],
            first["version"]) == (command.booking_id, "command-1", "journey-1", 1)
    assert "command_id" not in second and "correlation_id" not in second  # nothing left over


async def test_a_replys_lines_carry_its_message_and_booking(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    booking_id = str(uuid.uuid4())
    await services.commands.handle(trip(booking_id), Caller(customer_id="alice"))
    await publish(services.bus, [reply("hotel.reserved", booking_id, "r-1")])
    consumer = InboundConsumer(services.bus, services.commands, group_id=f"logs-{booking_id}")

    await consume_until_caught_up(services.bus, consumer)

    [applied] = events(caplog.records, "reply_applied")
    assert (applied["topic"], applied["booking_id"], applied["reply_id"]) == (
        HOTEL_REPLIES, booking_id, "r-1")
    assert isinstance(applied["partition"], int) and isinstance(applied["offset"], int)
    [recorded] = events(caplog.records, "HotelReserved")  # the command, inside the message
    assert (recorded["booking_id"], recorded["command_id"], recorded["topic"]) == (
        booking_id, "reply:r-1", HOTEL_REPLIES)


async def test_a_partners_lines_carry_its_name_and_message(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    partner = HotelService(services.bus, group_id=f"logs-{uuid.uuid4().hex[:8]}")
    await services.bus.ensure_topics()
    await services.bus.publish(BOOKINGS, b"b-1", b"not an envelope")
    async with running(partner.run()) as task:
        await until(lambda: bool(events(caplog.records, "booking_event_skipped")), task)

    [skipped] = events(caplog.records, "booking_event_skipped")
    assert (skipped["partner"], skipped["booking_id"]) == ("hotel", "b-1")
    assert isinstance(skipped["partition"], int) and isinstance(skipped["offset"], int)
    assert skipped["level"] == "warning" and skipped["error"].startswith("ValidationError")
