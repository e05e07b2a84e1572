"""Every `travelbuddy` command answers --help."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from travelbuddy.cli import app


def command_paths() -> list[list[str]]:
    root = typer.main.get_group(app)
    paths: list[list[str]] = []

    def walk(group: Any, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            paths.append([*prefix, name])
            if hasattr(command, "commands"):  # a group of subcommands
                walk(command, [*prefix, name])

    walk(root, [])
    return paths


def test_the_cli_offers_every_documented_command() -> None:
    names = {" ".join(path) for path in command_paths()}

    assert names >= {
        "serve", "api", "projector", "relay", "inbound", "partners", "seed",
        "projections status", "projections rebuild", "projections dlq", "projections retry",
        "dlq list", "dlq replay", "token",
    }


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_answers_help(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])

    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
