"""The GraphQL contract as SDL files, exported from the code.

`python -m travelbuddy.graphql.sdl` rewrites graphql/command.graphql (and
graphql/query.graphql once the query schema exists); a unit test fails when they
no longer match the code.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import strawberry

from travelbuddy.graphql import command_schema

CONTRACT_DIR = Path(__file__).resolve().parents[2] / "graphql"
QUERY_SCHEMA_MODULE = "travelbuddy.graphql.query_schema"


def export_sdl(schema: strawberry.Schema) -> str:
    """The schema's SDL, as the contract folder stores it."""
    return str(schema) + "\n"


def contract_schemas() -> dict[str, strawberry.Schema]:
    """Each SDL file of the contract folder, by file name, with the schema it holds."""
    schemas = {"command.graphql": command_schema.schema}
    try:
        query_schema = importlib.import_module(QUERY_SCHEMA_MODULE)
    except ModuleNotFoundError as missing:
        if missing.name != QUERY_SCHEMA_MODULE:
            raise  # the query schema exists but something it imports does not
    else:
        schemas["query.graphql"] = query_schema.schema
    return schemas


def main(contract_dir: Path = CONTRACT_DIR) -> None:
    """Rewrite every SDL file of the contract folder from the code."""
    for name, schema in contract_schemas().items():
        path = contract_dir / name
        path.write_text(export_sdl(schema), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
