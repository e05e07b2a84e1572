"""The metrics' labels stay bounded and name what the operators know: the followers by
their role, GraphQL operations by name only while there are few of them."""

from __future__ import annotations

from travelbuddy.bootstrap import READ_MODELS_PROJECTOR
from travelbuddy.integration.relay import EMBEDDED_RELAY, RELAY
from travelbuddy.observability.metrics import (
    ANONYMOUS,
    MAX_OPERATION_NAME_CHARS,
    OTHER,
    OperationNames,
    follower_of,
)
from travelbuddy.workers import CATALOG_PROJECTOR


def test_every_checkpoint_and_lease_is_labelled_with_its_followers_role() -> None:
    assert [follower_of(name) for name in (READ_MODELS_PROJECTOR, RELAY, EMBEDDED_RELAY,
                                           CATALOG_PROJECTOR)] == [
        "projector", "relay", "relay", "catalog"]


def test_an_operation_without_a_name_is_anonymous() -> None:
    names = OperationNames()
    assert names.label(None) == names.label("") == ANONYMOUS


def test_only_plain_graphql_names_of_at_most_64_characters_are_labels() -> None:
    names = OperationNames()
    longest = "A" * MAX_OPERATION_NAME_CHARS
    assert [names.label(name) for name in ("BookingPage", "_private2", longest)] == [
        "BookingPage", "_private2", longest]
    assert [names.label(name) for name in (longest + "A", "2fast", "my-booking", "é",
                                           "x\n", "alice@example.com")] == [OTHER] * 6


def test_names_after_the_first_hundred_are_other_but_known_ones_stay() -> None:
    names = OperationNames(limit=100)
    assert [names.label(f"Op{n}") for n in range(100)] == [f"Op{n}" for n in range(100)]
    assert names.label("Op100") == OTHER
    assert names.label("Op7") == "Op7"
    assert {names.label(f"Flood{n}") for n in range(10_000)} == {OTHER}
