"""A mutation sent to the query endpoint is answered with where to send it instead.

graphql-core's `KnownOperationTypesRule` says only "The mutation operation is not
supported by the schema."; the query schema swaps it for a rule that also names
/graphql/command. The swap keeps the rule classes fixed, so validation stays cached.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType
from graphql.validation import KnownOperationTypesRule
from strawberry.extensions import SchemaExtension

COMMAND_ENDPOINT = "/graphql/command"


class KnownOperationTypesWithEndpointHint(KnownOperationTypesRule):
    """`KnownOperationTypesRule`, whose refusal of a mutation names the command endpoint."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        operation = node.operation
        if self.context.schema.get_root_type(operation):
            return
        message = f"The {operation.value} operation is not supported by the schema."
        if operation == OperationType.MUTATION:
            message = (f"{message} This endpoint answers queries and subscriptions: send "
                       f"mutations to {COMMAND_ENDPOINT}.")
        self.report_error(GraphQLError(message, node))


class CommandEndpointHint(SchemaExtension):
    """For the query schema: validate with the hinting rule instead of graphql-core's."""

    def on_operation(self) -> Iterator[None]:
        self.execution_context.validation_rules = tuple(
            KnownOperationTypesWithEndpointHint if rule is KnownOperationTypesRule else rule
            for rule in self.execution_context.validation_rules
        )
        yield
