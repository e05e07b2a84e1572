"""Input refused at the GraphQL layer, before it costs anything: lists longer than the
domain allows, text that is not valid Unicode (query schema), and a document of several
operations that does not say which one to run.

Lists are bounded by the list's item type: an input field declared with
`metadata=max_items(n)` bounds every list of its item type in the schema ("a list of
FlightInput holds at most 4"), whether the list is written in the document (checked with
the validation rules, so the answer is cached) or sent as a variable (checked before
graphql-core coerces the variables, so 13,000 flights are refused before 13,000 objects
are built). The refusals are GraphQL errors with the code BAD_USER_INPUT.

Text is checked here for the query schema only: its strings (ids, a city, a cursor) are
looked up, never stored, and an error suits them. The command schema answers invalid
text as data (a ValidationError, see `input_limits`), after coercion.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    ListValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
    get_named_type,
    get_nullable_type,
    type_from_ast,
)
from strawberry.types import ExecutionContext

from travelbuddy.domain.text import text_fault
from travelbuddy.graphql.errors import BAD_USER_INPUT

MAX_ITEMS = "travelbuddy.max_items"
_STRAWBERRY_FIELD = "strawberry-definition"  # strawberry's back-reference on graphql-core types


def max_items(count: int) -> dict[str, int]:
    """`strawberry.field(metadata=...)` of a list input field holding at most `count`."""
    return {MAX_ITEMS: count}


def bad_input(message: str, nodes: Any = None) -> GraphQLError:
    return GraphQLError(message, nodes, extensions={"code": BAD_USER_INPUT})


@functools.lru_cache(maxsize=16)
def item_bounds(schema: GraphQLSchema) -> Mapping[str, int]:
    """The most items a list of each bounded item type may hold, by type name. A list of
    the same item type declared elsewhere without a bound leaves that type unbounded."""
    bounds: dict[str, int] = {}
    unbounded: set[str] = set()
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLInputObjectType):
            continue
        for field in named.fields.values():
            if not isinstance(get_nullable_type(field.type), GraphQLList):
                continue
            item = get_named_type(field.type).name
            definition = (field.extensions or {}).get(_STRAWBERRY_FIELD)
            bound = getattr(definition, "metadata", {}).get(MAX_ITEMS)
            if bound is None:
                unbounded.add(item)
            else:
                bounds[item] = max(bound, bounds.get(item, 0))
    return {item: bound for item, bound in bounds.items() if item not in unbounded}


def input_literals_rule(*, check_text: bool) -> type[ValidationRule]:
    """A validation rule for the document's own values: list literals over their bound,
    and (with `check_text`) string literals that `text_fault` refuses."""

    class InputLiterals(ValidationRule):
        def enter_list_value(self, node: ListValueNode, *_args: Any) -> None:
            list_type = get_nullable_type(self.context.get_parent_input_type())
            if not isinstance(list_type, GraphQLList):
                return
            item = get_named_type(list_type).name
            bound = item_bounds(self.context.schema).get(item)
            if bound is not None and len(node.values) > bound:
                self.report_error(bad_input(
                    f"A list of {item} holds at most {bound} items, not {len(node.values)}.",
                    node))

        def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
            if check_text and (fault := text_fault(node.value)) is not None:
                self.report_error(bad_input(f"A string in the document contains {fault}.",
                                            node))

    return InputLiterals


def request_problem(context: ExecutionContext, *, check_text: bool) -> GraphQLError | None:
    """What the validation rules cannot see, refused before execution: the variables'
    values, and which operation a document of several should run. Called once the
    document is valid (see `limits.CachedValidation`)."""
    document = context.graphql_document
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    # strawberry runs the first one; graphql-core's rule is to refuse.
    if len(operations) > 1 and getattr(context, "_provided_operation_name", None) is None:
        return bad_input("Must provide operation name if query contains multiple operations.")
    if not context.variables:
        return None
    name = context.operation_name
    operation = next((o for o in operations if o.name is not None and o.name.value == name),
                     operations[0] if len(operations) == 1 else None)
    if operation is None:
        return None
    problem = _variables_problem(context.schema._schema, operation, context.variables,
                                 check_text)
    return None if problem is None else bad_input(problem, operation)


def _variables_problem(schema: GraphQLSchema, operation: OperationDefinitionNode,
                       variables: dict[str, Any], check_text: bool) -> str | None:
    if check_text and (fault := _text_fault_in(variables)) is not None:
        return f"A variable holds text with {fault}."
    bounds = item_bounds(schema)
    if not bounds:
        return None
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        declared = type_from_ast(schema, definition.type)
        if name in variables and declared is not None:
            problem = _list_over_bound(variables[name], declared,  # type: ignore[arg-type]
                                       bounds, f"${name}")
            if problem is not None:
                return f"Variable {problem}"
    return None


def _text_fault_in(value: Any) -> str | None:
    """The first fault `text_fault` finds in any string of a JSON value (keys too), walked
    without recursion: the parser lets JSON nest close to a thousand deep."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if (fault := text_fault(current)) is not None:
                return fault
        elif isinstance(current, dict):
            stack.extend(current.keys())
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return None


def _list_over_bound(value: Any, type_: GraphQLInputType, bounds: Mapping[str, int],
                     where: str) -> str | None:
    """Where in `value` (declared as `type_`) a list holds more than its item type's
    bound. Only values of the declared shape are followed; coercion refuses the rest."""
    stack: list[tuple[Any, Any, str]] = [(value, type_, where)]
    while stack:
        current, declared, path = stack.pop()
        if isinstance(declared, GraphQLNonNull):
            declared = declared.of_type
        if isinstance(declared, GraphQLList):
            if not isinstance(current, list):
                stack.append((current, declared.of_type, path))
                continue
            item = get_named_type(declared).name
            bound = bounds.get(item)
            if bound is not None and len(current) > bound:
                return (f"'{path}' holds {len(current)} items; a list of {item} holds at "
                        f"most {bound}.")
            stack.extend((entry, declared.of_type, f"{path}[{i}]")
                         for i, entry in enumerate(current))
        elif isinstance(declared, GraphQLInputObjectType) and isinstance(current, dict):
            stack.extend((current[name], field.type, f"{path}.{name}")
                         for name, field in declared.fields.items() if name in current)
    return None
