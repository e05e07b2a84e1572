"""The operation-cost rule on its own: what it counts (fragments expanded), that each
fragment is costed once (linear time, no recursion from fragment to fragment), and the
message of each limit."""

from __future__ import annotations

import time

import pytest
from graphql import (
    GraphQLError,
    TypeInfo,
    ValidationContext,
    build_schema,
    parse,
    specified_rules,
    validate,
    visit,
)

from travelbuddy.graphql.operation_cost import CostLimits, OperationTooCostly, operation_cost_rule

SCHEMA = build_schema("""
type Query { a: A  b: Int  c: Int }
type A { a: A  b: Int  c: Int }
""")
LIMITS = CostLimits(max_fields=50, max_depth=5, max_aliases=3, max_repeats=4)


def errors(document: str, limits: CostLimits = LIMITS) -> list[str]:
    found: list[GraphQLError] = validate(SCHEMA, parse(document),
                                         [operation_cost_rule(limits), *specified_rules])
    return [error.message for error in found]


def cost_alone(document: str, limits: CostLimits = LIMITS) -> list[str]:
    """The rule without graphql-core's validate, which aborts fragments nested over 200
    deep on its own (and would hide a RecursionError of the rule behind that abort)."""
    parsed = parse(document, no_location=True, max_tokens=None)
    found: list[GraphQLError] = []
    try:
        visit(parsed, operation_cost_rule(limits)(
            ValidationContext(SCHEMA, parsed, TypeInfo(SCHEMA), found.append)))
    except OperationTooCostly as refused:
        found.append(refused)
    return [error.message for error in found]


def test_a_document_within_every_limit_passes_to_the_other_rules() -> None:
    assert errors("{ a { a { b } c } b }") == []
    assert errors("{ nope }") == ["Cannot query field 'nope' on type 'Query'."]


def test_fields_are_counted_with_each_spread_expanded() -> None:
    document = "{ ...F ...F } fragment F on Query { a { b c } }"  # 2 x 3 fields

    assert errors(document, CostLimits(5, 5, 3, 4)) == [
        "'anonymous' selects 6 fields (fragments expanded); at most 5 are allowed"]
    assert errors(document, CostLimits(6, 5, 3, 4)) == []


def test_depth_is_counted_as_strawberrys_limiter_counts_it() -> None:
    # { a { a { b } } }: nesting 2 below the root; introspection fields do not count.
    assert errors("query Deep { a { a { a { a { a { a { b } } } } } } }") == [
        "'Deep' exceeds maximum operation depth of 5"]
    assert errors("{ a { a { a { a { a { b } } } } } }") == []
    assert errors("{ ...F } fragment F on Query { a { ...G } } "
                  "fragment G on A { a { a { a { a { a { b } } } } } }") == [
        "'anonymous' exceeds maximum operation depth of 5"]
    assert errors("{ __schema { types { fields { type { ofType { ofType { ofType { "
                  "ofType { name } } } } } } } } }") == []


def test_aliases_are_counted_over_every_operation_with_spreads_expanded() -> None:
    document = ("query One { x: b ...F } query Two { ...F } "
                "fragment F on Query { y: c }")  # 1 + 1 + 1 = 3

    assert errors(document) == []
    assert errors(document.replace("query Two { ...F }", "query Two { ...F z: b }")) == [
        "4 aliases found. Allowed: 3"]


def test_repeats_of_one_response_path_are_counted_with_spreads_expanded() -> None:
    document = "{ a { b } ...F ...F } fragment F on Query { a { b } a { b } }"  # 5 x a.b

    assert errors(document) == ["'anonymous' selects 'a' 5 times; at most 4 are allowed"]
    assert errors("{ a { b } x: a { b } b b b b }") == []  # aliases are other paths


def test_a_fragment_nobody_spreads_is_costed_as_well() -> None:
    document = "{ b } fragment Unused on Query { " + "c " * 5 + "}"

    assert errors(document) == ["Fragment 'Unused' selects 'c' 5 times; at most 4 are allowed"]


def test_doubling_fragments_are_costed_in_linear_time() -> None:
    levels = 2_000  # 2^1999 fields expanded, if anything expanded them
    fragments = ["fragment F0 on Query { b }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels)]
    document = f"{{ ...F{levels - 1} }} " + " ".join(fragments)
    roomy = CostLimits(max_fields=2**levels, max_depth=5, max_aliases=3,
                       max_repeats=2**levels)

    started = time.perf_counter()
    found = cost_alone(document, roomy)
    seconds = time.perf_counter() - started

    assert found == []
    assert seconds < 5  # generous: a walk of the spreads would never end
    assert cost_alone(document) == [
        "Fragment 'F3' selects 'b' 8 times; at most 4 are allowed"]


def test_a_long_chain_of_fragments_needs_no_recursion() -> None:
    chain = ["fragment F0 on Query { b b }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} }}" for i in range(1, 5_000)]
    document = "{ ...F4999 } " + " ".join(reversed(chain))

    assert cost_alone(document) == []
    assert cost_alone(document.replace("{ b b }", "{ b b b b b }")) == [
        "Fragment 'F0' selects 'b' 5 times; at most 4 are allowed"]


@pytest.mark.parametrize(("fragments", "message"), [
    ("fragment A on Query { ...A }", "Cannot spread fragment 'A' within itself."),
    ("fragment A on Query { b ...B } fragment B on Query { a { ...C } } "
     "fragment C on A { ...D } fragment D on Query { ...A }",
     "Cannot spread fragment 'A' within itself via 'B', 'C', 'D'."),
])
def test_a_fragment_cycle_is_refused(fragments: str, message: str) -> None:
    assert errors("{ ...A } " + fragments) == [message]


def test_an_unknown_fragment_costs_a_field_and_is_left_to_its_own_rule() -> None:
    assert errors("{ ...Nowhere }") == ["Unknown fragment 'Nowhere'."]
    assert errors("{ " + "...Nowhere " * 60 + "}")[0] == (
        "'anonymous' selects 60 fields (fragments expanded); at most 50 are allowed")


def test_the_first_limit_broken_is_the_only_error() -> None:
    # Over the repeats and with unknown fields: the other rules never run.
    assert errors("{ nope nope nope nope nope }") == [
        "'anonymous' selects 'nope' 5 times; at most 4 are allowed"]
