"""What an operation costs, counted in time linear in the document, before any other
validation rule walks it.

strawberry's depth and alias limiters expand every fragment spread where it stands: a
fragment that spreads the previous one twice, twenty deep, makes them walk 2^19 spreads
(seconds, the event loop blocked) in a document of 777 bytes. Here each fragment is costed
once, in the order its spreads need (no recursion from fragment to fragment, so a long
chain cannot exhaust the stack either), and a spread adds the cost already known. What
is counted, fragments expanded:

- fields: every field the definition selects (what execution would collect);
- depth: the deepest nesting below the root, introspection fields not counted (as
  strawberry's `QueryDepthLimiter` counts it, and with its message);
- aliases: every aliased field, all operations together (as `MaxAliasesLimiter`);
- repeats: how often one response path (`myBookings.edges.node.id`) is selected. Field
  merging compares every pair of selections of one path (graphql-core's
  OverlappingFieldsCanBeMerged), so 240 copies of one field cost 0.7 s to validate
  although each is cheap; with at most `max_repeats` of each, the pairs are bounded too.

Fields and repeats are checked for every definition, fragments too, because validation
walks a fragment that no operation uses as well. A cycle of fragments is refused.

The first limit broken aborts the validation, so no other rule runs on a document over a
limit; what is refused is cached like any validation result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from graphql.validation.validate import ValidationAbortedError


@dataclass(frozen=True)
class CostLimits:
    """The most an operation may select; see the module docstring for what each counts."""

    max_fields: int
    max_depth: int
    max_aliases: int
    max_repeats: int


@dataclass(frozen=True)
class _Shape:
    fields: int
    depth: int
    aliases: int


class OperationTooCostly(ValidationAbortedError):
    """A document over one of the limits; ends the validation with this error alone."""


def operation_cost_rule(limits: CostLimits) -> type[ValidationRule]:
    """A validation rule refusing documents over `limits`. Build it once per schema: the
    validation cache is keyed by the rule classes."""

    class OperationCost(ValidationRule):
        def enter_document(self, node: DocumentNode, *_args: Any) -> None:
            _Costing(node, limits).check()

    return OperationCost


def _refuse(message: str, node: Any) -> OperationTooCostly:
    return OperationTooCostly(message, node)


class _Costing:
    def __init__(self, document: DocumentNode, limits: CostLimits) -> None:
        self.limits = limits
        self.operations = [d for d in document.definitions
                           if isinstance(d, OperationDefinitionNode)]
        self.fragments: dict[str, FragmentDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                self.fragments.setdefault(definition.name.value, definition)
        self.shapes: dict[str, _Shape] = {}
        self.paths: dict[str, Counter[str]] = {}

    def check(self) -> None:
        for name in self._fragments_in_spread_order():
            fragment = self.fragments[name]
            self.shapes[name] = self._checked_shape(fragment, f"Fragment '{name}'")
            self.paths[name] = self._checked_paths(fragment, f"Fragment '{name}'")
        aliases = 0
        for operation in self.operations:
            label = f"'{operation.name.value}'" if operation.name else "'anonymous'"
            shape = self._checked_shape(operation, label)
            if shape.depth > self.limits.max_depth:
                raise _refuse(f"{label} exceeds maximum operation depth of "
                              f"{self.limits.max_depth}", operation)
            self._checked_paths(operation, label)
            aliases += shape.aliases
        if aliases > self.limits.max_aliases:
            raise _refuse(f"{aliases} aliases found. Allowed: {self.limits.max_aliases}",
                          self.operations)

    def _fragments_in_spread_order(self) -> Iterator[str]:
        """Every fragment after the fragments it spreads, without recursion; a spread
        closing a cycle is refused."""
        done: set[str] = set()
        for root in self.fragments:
            if root in done:
                continue
            path = [(root, iter(_spreads(self.fragments[root].selection_set)))]
            on_path = {root}
            while path:
                name, spreads = path[-1]
                for spread in spreads:
                    if spread in on_path:
                        via = [n for n, _ in path][[n for n, _ in path].index(spread) + 1:]
                        raise _refuse(
                            f"Cannot spread fragment '{spread}' within itself"
                            + (f" via {', '.join(repr(v) for v in via)}." if via else "."),
                            self.fragments[spread])
                    if spread in self.fragments and spread not in done:
                        path.append((spread, iter(_spreads(self.fragments[spread].selection_set))))
                        on_path.add(spread)
                        break
                else:
                    path.pop()
                    on_path.remove(name)
                    done.add(name)
                    yield name

    def _checked_shape(self, definition: Any, label: str) -> _Shape:
        shape = self._shape(definition.selection_set)
        if shape.fields > self.limits.max_fields:
            raise _refuse(f"{label} selects {shape.fields} fields (fragments expanded); "
                          f"at most {self.limits.max_fields} are allowed", definition)
        return shape

    def _shape(self, selection_set: SelectionSetNode) -> _Shape:
        fields = depth = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                fields += 1
                aliases += selection.alias is not None
                if selection.selection_set is not None:
                    inner = self._shape(selection.selection_set)
                    fields, aliases = fields + inner.fields, aliases + inner.aliases
                    if not selection.name.value.startswith("__"):
                        depth = max(depth, 1 + inner.depth)
            elif isinstance(selection, FragmentSpreadNode):
                # An unknown fragment (a validation error of its own) costs one field, so
                # that every spread costs something and none can be repeated for free.
                known = self.shapes.get(selection.name.value, _Shape(1, 0, 0))
                fields, aliases = fields + known.fields, aliases + known.aliases
                depth = max(depth, known.depth)
            elif isinstance(selection, InlineFragmentNode):
                inner = self._shape(selection.selection_set)
                fields, aliases = fields + inner.fields, aliases + inner.aliases
                depth = max(depth, inner.depth)
        return _Shape(fields, depth, aliases)

    def _checked_paths(self, definition: Any, label: str) -> Counter[str]:
        # Only after the definition's fields are within the limit: each counter then
        # holds at most that many paths, and merging them stays cheap.
        paths: Counter[str] = Counter()
        self._collect_paths(definition.selection_set, "", paths)
        if paths:
            path, count = paths.most_common(1)[0]
            if count > self.limits.max_repeats:
                raise _refuse(f"{label} selects '{path}' {count} times; at most "
                              f"{self.limits.max_repeats} are allowed", definition)
        return paths

    def _collect_paths(self, selection_set: SelectionSetNode, prefix: str,
                       paths: Counter[str]) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                path = prefix + (selection.alias or selection.name).value
                paths[path] += 1
                if selection.selection_set is not None:
                    self._collect_paths(selection.selection_set, path + ".", paths)
            elif isinstance(selection, FragmentSpreadNode):
                for path, count in self.paths.get(selection.name.value, {}).items():
                    paths[prefix + path] += count
            elif isinstance(selection, InlineFragmentNode):
                self._collect_paths(selection.selection_set, prefix, paths)


def _spreads(selection_set: SelectionSetNode) -> list[str]:
    """The names of the fragments a selection set spreads, at any nesting, in order."""
    names: list[str] = []
    stack = [selection_set]
    while stack:
        current = stack.pop()
        for selection in reversed(current.selections):
            if isinstance(selection, FragmentSpreadNode):
                names.append(selection.name.value)
            elif selection.selection_set is not None:  # type: ignore[attr-defined]
                stack.append(selection.selection_set)  # type: ignore[attr-defined]
    return names
