"""The GraphQL operations the benchmarks send: the repository's own example operations
(graphql/operations/*.graphql, executed by its tests), each cut out with the fragments it
uses, as a client would send it."""

from __future__ import annotations

import functools
from pathlib import Path

from graphql import DocumentNode, FragmentDefinitionNode, OperationDefinitionNode, parse, print_ast
from graphql.language import FragmentSpreadNode, Visitor, visit

OPERATIONS = Path(__file__).resolve().parent.parent / "graphql" / "operations"


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


@functools.cache
def _documents() -> tuple[DocumentNode, ...]:
    return tuple(parse(path.read_text()) for path in sorted(OPERATIONS.glob("*.graphql")))


@functools.cache
def operation(name: str) -> str:
    """The text of operation `name` and every fragment it spreads, transitively."""
    definitions = [d for document in _documents() for d in document.definitions]
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    found = [d for d in definitions
             if isinstance(d, OperationDefinitionNode) and d.name and d.name.value == name]
    if not found:
        raise KeyError(f"no operation {name} in {OPERATIONS}")
    wanted: list[FragmentDefinitionNode] = []
    pending: list[OperationDefinitionNode | FragmentDefinitionNode] = [found[0]]
    while pending:
        spreads = _Spreads()
        visit(pending.pop(), spreads)
        for spread in sorted(spreads.names):
            if spread in fragments and fragments[spread] not in wanted:
                wanted.append(fragments[spread])
                pending.append(fragments[spread])
    return "\n\n".join(print_ast(node) for node in [found[0], *wanted])
