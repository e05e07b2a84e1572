"""The service as a process, started the way the README says, on a free port."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.auth import TEST_JWT_SECRET
from tests.services.testbed import free_port

RUN_COMMAND = Path(__file__).resolve().parents[2] / "run"  # the README's run command
SERVER_VARIABLES = ("TRAVELBUDDY_MONGODB_URL", "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS")


class RunningService:
    def __init__(self, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
        self.port = port
        self.process = process
        self.log = log
        self.base_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"


def start_service(data_dir: Path, env: dict[str, str] | None = None,
                  unset: tuple[str, ...] = ()) -> RunningService:
    """`./run` (the README's run command: `travelbuddy serve`) on the embedded default,
    ready (views caught up) when this returns; `env` adds variables, `unset` drops some
    (e.g. TRAVELBUDDY_JWT_SECRET, for the generated development secret)."""
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    environment = {k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES}
    environment |= {
        "TRAVELBUDDY_DATA_DIR": str(data_dir),
        "TRAVELBUDDY_PARTNER_LATENCY": "0.05",
        "TRAVELBUDDY_READINESS_MAX_LAG": "0",  # ready = views rebuilt from every event
        "TRAVELBUDDY_JWT_SECRET": TEST_JWT_SECRET,  # the tests' tokens (tests/auth.py)
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(RUN_COMMAND), "--port", str(port)],
            env={name: value for name, value in (environment | (env or {})).items()
                 if name not in unset},
            stdout=output, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120  # the first ./run may install into .venv
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"travelbuddy serve exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return RunningService(port, process, log)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"travelbuddy serve not ready in time: {log.read_text()[-3000:]}")
        time.sleep(0.1)


def stop_service(service: RunningService) -> None:
    service.process.terminate()
    try:
        service.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    running = start_service(tmp_path / "data")
    yield running
    stop_service(running)
