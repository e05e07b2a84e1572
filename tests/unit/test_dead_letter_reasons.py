"""Dead letters without a bus: every reason the inbound consumer writes has a fault, the
headers of a parked replay say where it came from, and a replay's choice of dead letters."""

from __future__ import annotations

import re
from pathlib import Path

from travelbuddy.integration import inbound
from travelbuddy.integration.dead_letter_replay import Selection, fingerprint
from travelbuddy.integration.dead_letters import (
    DEAD_LETTERED_AT,
    ERROR_TYPE,
    FAULTS,
    REPLAY_OF,
    DeadLetter,
    Fault,
    dead_letter_headers,
)
from travelbuddy.integration.topics import HOTEL_REPLIES, RESERVATIONS_DLQ


def letter(offset: int, error_type: str | None = "invalid_json", value: bytes = b"x",
           parked_at: bytes = b"2026-01-01T00:00:00+00:00") -> DeadLetter:
    headers = {DEAD_LETTERED_AT: parked_at}
    if error_type is not None:
        headers[ERROR_TYPE] = error_type.encode()
    return DeadLetter(key=b"booking-1", value=value, headers=headers,
                      topic=RESERVATIONS_DLQ, partition=0, offset=offset)


def test_every_reason_the_inbound_consumer_parks_with_has_a_fault() -> None:
    source = Path(inbound.__file__).read_text()
    written = set(re.findall(r'Poison\(\s*"([a-z_]+)"', source))

    assert written, "found no Poison(...) in inbound.py: has the way it parks changed?"
    assert written <= set(FAULTS), written - set(FAULTS)
    assert FAULTS["handler_error"] is Fault.RETRYABLE
    assert FAULTS["invalid_json"] is FAULTS["unknown_booking"] is Fault.PERMANENT


def test_a_dead_letter_without_a_known_reason_is_of_unknown_fault() -> None:
    assert (letter(0, None).reason, letter(0, None).fault) == ("unknown", Fault.UNKNOWN)
    assert letter(0, "a_reason_from_the_future").fault is Fault.UNKNOWN


def test_a_replay_parked_again_keeps_which_dead_letter_it_is_the_replay_of() -> None:
    arrived = [("trace", b"t-1"), (REPLAY_OF, b"0:7"), (ERROR_TYPE, b"stale")]

    headers = dict(dead_letter_headers(
        arrived, source_topic=HOTEL_REPLIES, source_partition=2, source_offset=40,
        error_type="invalid_json", error="not JSON"))

    assert headers["trace"] == b"t-1"
    assert headers[REPLAY_OF] == b"0:7"
    assert headers[ERROR_TYPE] == b"invalid_json"
    parked = DeadLetter(key=None, value=None, headers=headers, topic=RESERVATIONS_DLQ,
                        partition=0, offset=9)
    assert parked.replay_of == "0:7"
    assert parked.original_headers == [("trace", b"t-1")]  # a replay names itself afresh


def test_a_selection_matches_every_criterion_given_and_without_any_everything() -> None:
    letters = [letter(n, ("invalid_json", "handler_error")[n % 2]) for n in range(6)]

    def chosen(selection: Selection) -> list[int]:
        return [d.offset for d in letters if selection.matches(d)]

    assert chosen(Selection()) == [0, 1, 2, 3, 4, 5]
    assert chosen(Selection(ids=frozenset({"0:2", "0:5"}))) == [2, 5]
    assert chosen(Selection(reasons=frozenset({"handler_error"}))) == [1, 3, 5]
    assert chosen(Selection(from_offset=2, to_offset=4)) == [2, 3, 4]
    assert chosen(Selection(reasons=frozenset({"handler_error"}), from_offset=2)) == [3, 5]


def test_a_marker_fits_only_the_dead_letter_it_was_written_for() -> None:
    assert fingerprint(letter(3)) == fingerprint(letter(3))
    assert fingerprint(letter(3)) != fingerprint(letter(3, value=b"y"))
    assert fingerprint(letter(3)) != fingerprint(letter(3, parked_at=b"2027-01-01T00:00:00Z"))
