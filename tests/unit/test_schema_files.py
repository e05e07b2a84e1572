"""The GraphQL contract folder agrees with the code and holds no Python."""

from __future__ import annotations

from pathlib import Path

import pytest
import strawberry
from graphql import parse, validate

from travelbuddy.graphql import command_schema
from travelbuddy.graphql.sdl import CONTRACT_DIR, contract_schemas, export_sdl, main

REPO = Path(__file__).resolve().parents[2]
REFRESH = "run `python -m travelbuddy.graphql.sdl` and commit the result"


def test_contract_folder_is_the_top_level_graphql_folder() -> None:
    assert CONTRACT_DIR == REPO / "graphql"


def test_command_schema_is_part_of_the_contract() -> None:
    assert contract_schemas()["command.graphql"] is command_schema.schema


@pytest.mark.parametrize("name", sorted(contract_schemas()))
def test_every_sdl_file_matches_its_schema(name: str) -> None:
    path = CONTRACT_DIR / name
    assert path.is_file(), f"graphql/{name} is missing: {REFRESH}"

    expected = export_sdl(contract_schemas()[name])

    assert path.read_text(encoding="utf-8") == expected, (
        f"graphql/{name} is not the SDL of the code: {REFRESH}"
    )


def test_exported_sdl_ends_with_one_newline() -> None:
    @strawberry.type
    class Query:
        ping: str = "pong"

    assert export_sdl(strawberry.Schema(query=Query)) == "type Query {\n  ping: String!\n}\n"


def test_sdl_command_rewrites_every_file_of_the_contract(tmp_path: Path) -> None:
    main(tmp_path)

    written = {path.name: path.read_text(encoding="utf-8") for path in tmp_path.iterdir()}
    assert written == {name: export_sdl(schema) for name, schema in contract_schemas().items()}


def test_contract_folder_holds_no_python() -> None:
    python_files = sorted(str(p.relative_to(REPO)) for p in CONTRACT_DIR.rglob("*.py"))

    assert python_files == [], "graphql/ is the GraphQL contract; Python lives in travelbuddy/"


def test_example_command_operations_are_valid_against_the_command_schema() -> None:
    document = parse((CONTRACT_DIR / "operations" / "commands.graphql").read_text("utf-8"))

    errors = validate(command_schema.schema._schema, document)

    assert [error.message for error in errors] == []


def test_example_query_operations_are_valid_against_the_query_schema() -> None:
    from graphql import validate

    from travelbuddy.graphql import query_schema

    document = parse((CONTRACT_DIR / "operations" / "queries.graphql").read_text("utf-8"))

    assert validate(query_schema.schema._schema, document) == []
