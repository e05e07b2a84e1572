"""`travelbuddy serve` and `travelbuddy token`, as processes, refuse an empty, blank or
short signing secret with one line saying why, instead of signing with it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.services.testbed import free_port

TRAVELBUDDY = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "travelbuddy"
SERVER_VARIABLES = ("TRAVELBUDDY_MONGODB_URL", "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS",
                    "TRAVELBUDDY_JWT_SECRET")


def run(
    arguments: list[str], data_dir: Path, secret: str | None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES}
    environment["TRAVELBUDDY_DATA_DIR"] = str(data_dir)
    if secret is not None:
        environment["TRAVELBUDDY_JWT_SECRET"] = secret
    return subprocess.run([str(TRAVELBUDDY), *arguments], env=environment, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("secret", ["", "   ", "only-31-bytes-of-secret-0123456"],
                         ids=["empty", "blank", "short"])
@pytest.mark.parametrize("command", ["serve", "token"])
def test_an_unusable_secret_in_the_variable_stops_the_command(
    tmp_path: Path, secret: str, command: str
) -> None:
    arguments = ["serve", "--port", str(free_port())] if command == "serve" else ["token", "alice"]

    finished = run(arguments, tmp_path / "data", secret)

    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert "TRAVELBUDDY_JWT_SECRET" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert "eyJ" not in finished.stdout  # no token was printed


@pytest.mark.parametrize("content", ["", "\n", "short"], ids=["empty", "newline", "short"])
@pytest.mark.parametrize("command", ["serve", "token"])
def test_an_unusable_generated_secret_file_stops_the_command(
    tmp_path: Path, content: str, command: str
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "jwt-secret").write_text(content)  # as a crash of an older version left it
    arguments = ["serve", "--port", str(free_port())] if command == "serve" else ["token", "alice"]

    finished = run(arguments, data_dir, secret=None)

    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert str(data_dir / "jwt-secret") in finished.stderr
    assert "Traceback" not in finished.stderr


def test_without_a_secret_token_generates_one_and_signs_with_it(tmp_path: Path) -> None:
    finished = run(["token", "alice"], tmp_path / "data", secret=None)

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith("eyJ")
    assert len((tmp_path / "data" / "jwt-secret").read_text().strip()) >= 32
