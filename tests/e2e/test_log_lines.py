"""`travelbuddy serve` with TRAVELBUDDY_LOG_FORMAT=json: every line on its standard error
is a JSON object, the service's own events and uvicorn's alike."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import SERVER_VARIABLES
from tests.logged import JSON_LOGS, json_lines
from tests.services.testbed import free_port
from travelbuddy.bootstrap import READ_MODELS_PROJECTOR

TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))


def wait_until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not in {seconds} s: {what}"
        time.sleep(0.1)


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_every_line_of_a_served_process_is_json_with_time_level_logger_and_event(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES} | JSON_LOGS | {
        "TRAVELBUDDY_DATA_DIR": str(tmp_path / "data")}
    errors = tmp_path / "stderr.log"
    with errors.open("wb") as stderr:
        process = subprocess.Popen([TRAVELBUDDY, "serve", "--port", str(port)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_until(lambda: ready(port) or process.poll() is not None, 60, "ready")
        assert process.poll() is None, errors.read_text()
        # One of the service's own lines: a GraphQL request without a token is refused.
        assert httpx.post(f"http://127.0.0.1:{port}/graphql/command",
                          json={"query": "{ __typename }"}).status_code == 401
        # One of uvicorn's: a request line its parser refuses.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(b"NOT HTTP\x00 at all\r\n\r\n")
            connection.recv(1024)
        wait_until(lambda: any(line["logger"] == "uvicorn.error"
                               for line in json_lines(errors.read_text())), 10,
                   "uvicorn's warning is logged")
    finally:
        process.terminate()
        process.wait(timeout=15)

    lines = json_lines(errors.read_text())
    assert lines and all({"timestamp", "level", "logger", "event"} <= line.keys()
                         for line in lines), lines
    assert all(line["timestamp"].endswith("Z") for line in lines)
    by_event = {line["event"]: line for line in lines}
    refused = by_event["request_refused"]
    assert (refused["level"], refused["logger"]) == ("info", "travelbuddy.graphql.authentication")
    assert READ_MODELS_PROJECTOR in {line.get("projector") for line in lines
                                     if line["event"] == "projector_caught_up"}
    [uvicorn] = [line for line in lines if line["logger"] == "uvicorn.error"]
    assert uvicorn["level"] == "warning" and "Invalid HTTP request" in uvicorn["event"]
