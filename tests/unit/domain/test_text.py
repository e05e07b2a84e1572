"""Text the booking keeps is valid Unicode without control characters: the shared check,
the commands built from it, and what the partners send (Kafka replies, catalog entries),
each refused where it comes in so that nothing stores it."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from booking_scenario import booking_requested
from pydantic import TypeAdapter, ValidationError

from travelbuddy.domain import (
    BookingRequested,
    CancelBooking,
    HotelStayRequest,
    RejectFlightReservation,
    RequestBooking,
    Traveler,
    event_from_record,
    event_to_record,
)
from travelbuddy.domain.text import text_fault
from travelbuddy.integration.inbound import Poison, parse_reply
from travelbuddy.integration.messages import CatalogEntry, HotelRejected
from travelbuddy.integration.topics import FLIGHT_REPLIES, HOTEL_REPLIES

BAD = {"lone-high-surrogate": "a\ud800", "lone-low-surrogate": "\udc00b", "nul": "\x00",
       "escape": "\x1b[2J", "delete": "x\x7f", "c1": "\x9b", "tab": "a\tb", "newline": "a\nb"}
GOOD = ["", "Hanako Yamada", "山田 花子", "Zoë O'Brien", "😀", "\u2028", "\ufeff", " "]


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
def test_lone_surrogates_and_control_characters_are_faults(value: str) -> None:
    fault = text_fault(value)

    assert fault in {"a lone surrogate", "a control character"}
    assert (fault == "a lone surrogate") == any("\ud800" <= c <= "\udfff" for c in value)


@pytest.mark.parametrize("value", GOOD)
def test_other_text_is_kept(value: str) -> None:
    assert text_fault(value) is None


def test_the_fault_never_quotes_the_value() -> None:
    with pytest.raises(ValidationError) as refused:
        CancelBooking(booking_id="b-1", reason="secret\x00")

    assert refused.value.errors()[0]["msg"] == "Value error, contains a control character"


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
def test_a_command_with_invalid_text_cannot_be_built(value: str) -> None:
    day = dt.date(2031, 1, 10)
    stay = HotelStayRequest(hotel_id="hotel-tokyo-2", room_type="STD", check_in=day,
                            check_out=day + dt.timedelta(days=2), guests=1)

    with pytest.raises(ValidationError):
        RequestBooking(booking_id="b-1", customer_id="alice", hotel_stays=(stay,),
                       travelers=(Traveler(name=value),))
    with pytest.raises(ValidationError):
        RejectFlightReservation(booking_id="b-1", flight_id=value, reason="full")
    with pytest.raises(ValidationError):
        CancelBooking(booking_id=value)


def test_an_event_stored_before_the_check_still_reads_back() -> None:
    # Traveler is shared by the command (checked) and the event (read as it was stored).
    requested = booking_requested()
    type_name, version, data = event_to_record(requested)
    data["travelers"] = [{"name": "a\ud800"}]

    event = event_from_record(type_name, version, data)

    assert isinstance(event, BookingRequested)
    assert event.travelers == (Traveler(name="a\ud800"),)


def reply(**fields: str) -> bytes:
    return json.dumps({"type": "hotel.rejected", "reply_id": "r-1", "booking_id": "b-1",
                       "reason": "Fully booked.", **fields}).encode("ascii")


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize("field", ["reason", "reply_id", "causation_id"])
def test_a_partner_reply_with_invalid_text_is_poison(field: str, value: str) -> None:
    with pytest.raises(Poison) as refused:
        parse_reply(HOTEL_REPLIES, b"b-1", reply(**{field: value}))

    assert refused.value.error_type == "invalid_reply"
    assert value not in refused.value.reason


def test_a_partner_reply_with_invalid_text_in_its_booking_id_is_poison() -> None:
    message = json.dumps({"type": "flight.reserved", "reply_id": "r-1", "booking_id": "b\ud800",
                          "flight_id": "JL-305-HND-FUK", "confirmation_code": "C"})

    with pytest.raises(Poison) as refused:
        parse_reply(FLIGHT_REPLIES, "b\ud800".encode("utf-8", "surrogatepass"),
                    message.encode("ascii"))

    assert refused.value.error_type == "invalid_reply"


def test_a_valid_partner_reply_still_parses() -> None:
    parsed = parse_reply(HOTEL_REPLIES, b"b-1", reply(reason="満室です 😀"))

    assert isinstance(parsed, HotelRejected) and parsed.reason == "満室です 😀"


@pytest.mark.parametrize("value", ["Tokyo\x00", "Tokyo\x1b", "\u0085"])
def test_a_catalog_entry_with_a_control_character_is_refused(value: str) -> None:
    entry = {"kind": "hotel", "hotel": {"id": "hotel-x", "name": "Hotel X", "city": value,
                                        "room_types": [{"code": "STD", "name": "Standard",
                                                        "nightly_price": 10_000}]}}
    entries: TypeAdapter[object] = TypeAdapter(CatalogEntry)

    with pytest.raises(ValidationError):
        entries.validate_json(json.dumps(entry))
    assert entries.validate_json(json.dumps({**entry, "hotel": {**entry["hotel"],  # type: ignore[dict-item]
                                                               "city": "Tokyo"}}))
