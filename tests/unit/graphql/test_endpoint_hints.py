"""A mutation sent to the query endpoint is refused with where mutations go."""

from __future__ import annotations

from travelbuddy.graphql import query_schema
from travelbuddy.graphql.limits import default_settings

MUTATION = 'mutation { cancelBooking(input: {bookingId: "b-1"}) { __typename } }'


async def test_a_mutation_on_the_query_schema_names_the_command_endpoint() -> None:
    schema = query_schema.build_schema(default_settings())
    for _ in range(2):  # the second answer comes from the validation cache
        result = await schema.execute(MUTATION)
        assert result.errors is not None
        (error,) = result.errors
        assert "The mutation operation is not supported by the schema." in error.message
        assert "send mutations to /graphql/command" in error.message


async def test_queries_still_validate_as_before() -> None:
    schema = query_schema.build_schema(default_settings())
    result = await schema.execute("{ __typename }")
    assert result.errors is None
    assert result.data == {"__typename": "Query"}
