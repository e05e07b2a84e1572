"""The service as a process, started the way the README says, on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.services.testbed import free_port


class RunningService:
    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}"


def start_service(env: dict[str, str], data_dir: Path) -> RunningService:
    port = free_port()
    travelbuddy = Path(sys.executable).with_name("travelbuddy")
    process = subprocess.Popen(
        [str(travelbuddy), "serve", "--port", str(port)],
        env={**os.environ, **env, "TRAVELBUDDY_DATA_DIR": str(data_dir)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"travelbuddy serve exited: {output}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return RunningService(port, process)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("travelbuddy serve did not answer /healthz in time")
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
    running = start_service({}, tmp_path / "data")
    yield running
    stop_service(running)
