"""No oracle: a customer's command on another customer's booking is answered exactly as on
a booking id that does not exist, and does the same work (one read of the stream, which the
store answers empty: no event loaded, none decoded), so neither the answer nor its time
tells the booking exists. A partner's answer from a customer is refused before any booking
is read, whoever's it is.

(The timings themselves are measured, not asserted: see the benchmark notes.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_command_graphql import (
    FOLLOW_UP_OPERATIONS,
    PARTNER_ANSWERS,
    follow_up_input,
    request_booking,
    send,
    stored_events,
)

import travelbuddy.application.handler as handler
from travelbuddy.bootstrap import Services
from travelbuddy.domain import event_from_record

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)

CUSTOMER_OPERATIONS = [o for o in FOLLOW_UP_OPERATIONS if o not in PARTNER_ANSWERS]
Json = dict[str, Any]


def without(answer: Json, booking_id: str) -> str:
    """The answer with the booking id the client sent (echoed back) left out."""
    return json.dumps(answer, sort_keys=True).replace(booking_id, "<the id sent>")


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch, services: Services) -> Iterator[dict[str, int]]:
    """Counts the handler's stream reads, the events the store loaded for them and the
    events the handler decodes."""
    counts = {"reads": 0, "loaded": 0, "decoded": 0}
    read = services.store.read

    async def counting_read(stream_id: str, owner: str | None = None) -> Any:
        counts["reads"] += 1
        events = await read(stream_id, owner)
        counts["loaded"] += len(events)
        return events

    def counting_decode(*args: Any) -> Any:
        counts["decoded"] += 1
        return event_from_record(*args)

    monkeypatch.setattr(services.store, "read", counting_read)
    # The name the handler decodes stored events with.
    monkeypatch.setattr(handler, "event_from_record", counting_decode)
    yield counts


@pytest.mark.parametrize("operation", sorted(PARTNER_ANSWERS))
async def test_a_customers_partner_answer_is_refused_alike_for_any_booking(
    http: httpx.AsyncClient, services: Services, work: dict[str, int], operation: str
) -> None:
    alices = await request_booking(http, customer="alice")
    bobs = await request_booking(http, customer="bob")
    unknown = str(uuid.uuid4())
    work.update(reads=0, loaded=0, decoded=0)

    answers = {target: without(await send(http, operation, follow_up_input(operation, target),
                                          customer="bob"), target)
               for target in (alices, unknown, bobs)}

    assert len(set(answers.values())) == 1, answers
    assert '"code": "NOT_ALLOWED"' in answers[unknown]
    assert work == {"reads": 0, "loaded": 0, "decoded": 0}  # refused before any read
    assert [e["type"] for e in await stored_events(services)] == ["BookingRequested"] * 2


@pytest.mark.parametrize("operation", CUSTOMER_OPERATIONS)
async def test_another_customers_booking_is_answered_and_worked_on_as_an_unknown_id(
    http: httpx.AsyncClient, services: Services, work: dict[str, int], operation: str
) -> None:
    alices = await request_booking(http, customer="alice")  # in this process's recent states
    unknown = str(uuid.uuid4())
    answers, works = {}, {}

    for target in (alices, unknown):
        work.update(reads=0, loaded=0, decoded=0)
        answer = await send(http, operation, follow_up_input(operation, target), customer="bob")
        answers[target], works[target] = without(answer, target), dict(work)

    assert answers[alices] == answers[unknown], answers
    assert '"code": "BOOKING_NOT_FOUND"' in answers[unknown]
    assert works[alices] == works[unknown] == {"reads": 1, "loaded": 0, "decoded": 0}, works
    assert [e["type"] for e in await stored_events(services)] == ["BookingRequested"]


@pytest.mark.parametrize("operation", CUSTOMER_OPERATIONS)
async def test_another_customers_booking_this_process_never_saw_is_an_unknown_id_too(
    http: httpx.AsyncClient, services: Services, work: dict[str, int], operation: str
) -> None:
    alices = await request_booking(http, customer="alice")
    services.commands._states.forget(f"booking-{alices}")  # as if booked by another process
    work.update(reads=0, loaded=0, decoded=0)

    answer = await send(http, operation, follow_up_input(operation, alices), customer="bob")

    assert answer["code"] == "BOOKING_NOT_FOUND", answer
    assert work == {"reads": 1, "loaded": 0, "decoded": 0}


async def test_the_owner_and_an_agent_still_act_on_the_booking(
    http: httpx.AsyncClient, services: Services
) -> None:
    alices = await request_booking(http, customer="alice")

    perk = await send(http, "ApplyPerk", follow_up_input("ApplyPerk", alices), customer="alice")
    confirmed = await send(http, "ConfirmHotelReservation",
                           follow_up_input("ConfirmHotelReservation", alices))  # an agent

    assert (perk["__typename"], confirmed["__typename"]) == ("CommandAccepted",) * 2
