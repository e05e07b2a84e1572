"""RecentStates: bounded, least recently used out, never a newer state replaced by an older."""

from __future__ import annotations

from dataclasses import replace

from travelbuddy.application.states import RecentStates
from travelbuddy.domain import initial_state

AT_1 = replace(initial_state(), exists=True, version=1)
AT_2 = replace(AT_1, version=2)


def test_remembers_the_newest_state_even_when_an_older_one_arrives_last() -> None:
    states = RecentStates()

    states.remember("booking-a", AT_2)
    states.remember("booking-a", AT_1)

    assert states.get("booking-a") == AT_2


def test_keeps_at_most_its_size_dropping_the_least_recently_used() -> None:
    states = RecentStates(size=2)
    states.remember("booking-a", AT_1)
    states.remember("booking-b", AT_1)
    states.get("booking-a")

    states.remember("booking-c", AT_1)

    assert (states.get("booking-a"), states.get("booking-b"), states.get("booking-c")) == (
        AT_1, None, AT_1)
    assert len(states) == 2


def test_forgets_a_stream_and_a_size_of_zero_remembers_nothing() -> None:
    states, off = RecentStates(), RecentStates(size=0)
    states.remember("booking-a", AT_1)
    off.remember("booking-a", AT_1)

    states.forget("booking-a")

    assert (states.get("booking-a"), off.get("booking-a"), len(off)) == (None, None, 0)
