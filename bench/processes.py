"""Service processes the benchmarks start: `python -m bench.server` (benchmarks 3, 4 and 7)
and `travelbuddy serve` (benchmarks 6 and 8). Each on free loopback ports, stopped by PID,
and killed with the harness if it dies (PR_SET_PDEATHSIG, as the test servers are).

The readiness path is polled every 20 ms; the moment of the first 200 and the process's
RSS right then are kept (`ready_seconds`, `ready_rss`) for benchmark 8."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.identity import server_environment
from tests.services.testbed import _die_with_parent, free_port

ROOT = Path(__file__).resolve().parent.parent
SERVER_VARIABLES = ("TRAVELBUDDY_MONGODB_URL", "TRAVELBUDDY_MONGODB_DATABASE",
                    "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS", "TRAVELBUDDY_DATA_DIR",
                    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
"""Never inherited from the harness's environment: a benchmark says which stores a server
uses, and whether it exports spans (only benchmark 11's instrumented side does)."""


@dataclass
class ServiceProcess:
    """A started service: its process, ports and log file."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    bare_port: int | None = None
    started_at: float = 0.0
    """time.monotonic() just before the process was started."""
    ready_seconds: float | None = None
    """From `started_at` to the first 200 of the readiness path."""
    ready_rss: int | None = None
    """The process's resident memory (bytes) read right after that 200."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def bare_url(self) -> str:
        return f"http://127.0.0.1:{self.bare_port}"

    @property
    def pid(self) -> int:
        return self.process.pid


def _environment(variables: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES}
    return inherited | server_environment() | {"TRAVELBUDDY_LOG_LEVEL": "WARNING"} | variables


READY_POLL_SECONDS = 0.02


def _wait_ready(service: ServiceProcess, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    watched = psutil.Process(service.pid)
    with httpx.Client(timeout=1) as http:
        while True:
            if service.process.poll() is not None:
                raise RuntimeError(f"service exited early: {service.log.read_text()[-3000:]}")
            try:
                if http.get(service.base_url + path).status_code == 200:
                    service.ready_rss = watched.memory_info().rss
                    service.ready_seconds = time.monotonic() - service.started_at
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"service not ready in {timeout:.0f} s: "
                                   f"{service.log.read_text()[-3000:]}")
            time.sleep(READY_POLL_SECONDS)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def _started(command: list[str], variables: dict[str, str], folder: Path, port: int,
             ready_path: str, timeout: float, bare_port: int | None = None
             ) -> Iterator[ServiceProcess]:
    log = folder / f"service-{port}.log"
    environment = _environment(variables)
    with log.open("ab") as output:
        started_at = time.monotonic()
        process = subprocess.Popen(command, env=environment, stdout=output,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=ROOT, preexec_fn=_die_with_parent)
    service = ServiceProcess(process, port, log, bare_port, started_at)
    try:
        _wait_ready(service, ready_path, timeout)
        yield service
    finally:
        _stop(process)


@contextmanager
def bench_server(variables: dict[str, str], folder: Path, timeout: float
                 ) -> Iterator[ServiceProcess]:
    """`python -m bench.server` with these TRAVELBUDDY_* variables, once caught up."""
    port, bare_port = free_port(), free_port()
    with _started([sys.executable, "-m", "bench.server", str(port), str(bare_port)],
                  variables, folder, port, "/healthz", timeout, bare_port) as service:
        yield service


@contextmanager
def travelbuddy_serve(data_dir: Path, timeout: float) -> Iterator[ServiceProcess]:
    """`travelbuddy serve` on the embedded default, once /readyz says it caught up (lag 0:
    TRAVELBUDDY_READINESS_MAX_LAG=0; the simulated partners answer at once)."""
    port = free_port()
    executable = Path(sys.executable).with_name("travelbuddy")
    variables = {"TRAVELBUDDY_DATA_DIR": str(data_dir), "TRAVELBUDDY_READINESS_MAX_LAG": "0",
                 "TRAVELBUDDY_PARTNER_LATENCY": "0"}
    with _started([str(executable), "serve", "--port", str(port)], variables,
                  data_dir.parent, port, "/readyz", timeout) as service:
        yield service
