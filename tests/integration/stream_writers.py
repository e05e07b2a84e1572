"""A writer process for the stream-order tests: `python -m tests.integration.stream_writers
ROLE IDS_FILE` with the service's settings in the environment.

`request` requests every booking of IDS_FILE; `confirm` confirms each booking's hotel as
soon as the booking exists, so two processes write the same bookings within the same
second, each making its own MongoDB ObjectIds, as `api` and `inbound` do.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.integration.booking_traffic import PARTNER, request_booking
from travelbuddy.application import Caller
from travelbuddy.bootstrap import build_services
from travelbuddy.config import Settings
from travelbuddy.domain import BookingNotFound, ConfirmHotelReservation


async def write(role: str, booking_ids: list[str]) -> None:
    services = await build_services(Settings())
    try:
        for booking_id in booking_ids:
            if role == "request":
                command = request_booking("alice", flight=False)
                command = command.model_copy(update={"booking_id": booking_id})
                await services.commands.handle(command, Caller("alice"))
                continue
            for _ in range(5_000):  # until the other process has requested it
                try:
                    await services.commands.handle(ConfirmHotelReservation(
                        booking_id=booking_id, confirmation_code="HTL-ORDER"), PARTNER)
                    break
                except BookingNotFound:
                    await asyncio.sleep(0.001)
            else:
                raise SystemExit(f"booking {booking_id} never appeared")
    finally:
        await services.close()


if __name__ == "__main__":
    asyncio.run(write(sys.argv[1], Path(sys.argv[2]).read_text().split()))
