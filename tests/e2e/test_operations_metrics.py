"""Every metric the Grafana dashboard and the Prometheus alert rules read (ops/) is one the
service exposes: scraped as Prometheus scrapes the compose stack, from `travelbuddy serve`
after a customer's journey and from the metrics port of each worker command on the test
servers. A renamed metric, or a typo in a panel or a rule, fails here instead of showing an
empty panel or an alert that can never fire."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import start_service, stop_service
from tests.e2e.test_booking_journey import journey
from tests.integration.served import service_environment
from tests.promql import MADE_BY_PROMETHEUS, exposed_names, used_names
from tests.services.testbed import free_port
from travelbuddy.config import Settings
from travelbuddy.integration.kafka import ensure_topics

TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))
WORKERS = ("projector", "relay", "inbound", "partners")
# What the journey (book, confirmed by the partners, watched, read, cancelled) must leave
# with a series of its own on `serve`, so the dashboard's panels have something to show.
JOURNEY_SERIES = (
    "travelbuddy_commands", "travelbuddy_command_duration_seconds",
    "travelbuddy_graphql_operations", "travelbuddy_graphql_operation_duration_seconds",
    "travelbuddy_follower_handled", "travelbuddy_subscription_pushes",
    "travelbuddy_partner_replies", "travelbuddy_kafka_publish_duration_seconds",
)


def scrape(url: str, process: subprocess.Popen[bytes], log: Path) -> str:
    """The process's /metrics, once its port is open (a process starting has none yet)."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{url}: the process exited: {log.read_text()[-3000:]}")
        try:
            answer = httpx.get(url, timeout=5, follow_redirects=True)  # as Prometheus does
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{url}: nothing listens: {log.read_text()[-3000:]}") from None
            time.sleep(0.2)
            continue
        assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:200]}"
        return answer.text


@pytest.fixture
def workers(
    tmp_path: Path, mongodb_url: str, kafka_bootstrap_servers: str, database_name: str
) -> Iterator[dict[str, tuple[int, subprocess.Popen[bytes], Path]]]:
    """Each worker command on the test MongoDB and Kafka, serving /metrics on a free port."""
    asyncio.run(ensure_topics(kafka_bootstrap_servers))  # auto-creation is off
    settings = Settings(mongodb_url=mongodb_url, mongodb_database=database_name,
                        data_dir=tmp_path / "workers")
    started: dict[str, tuple[int, subprocess.Popen[bytes], Path]] = {}
    try:
        for name in WORKERS:
            port, log = free_port(), tmp_path / f"{name}.log"
            env = service_environment(settings) | {
                "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
                "TRAVELBUDDY_METRICS_PORT": str(port),
            }
            with log.open("wb") as output:
                process = subprocess.Popen([TRAVELBUDDY, name], env=env, stdout=output,
                                           stderr=subprocess.STDOUT)
            started[name] = port, process, log
        yield started
    finally:
        for _, process, _ in started.values():
            process.terminate()
        for _, process, _ in started.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_every_metric_the_dashboard_and_the_alerts_read_is_exposed(
    tmp_path: Path, workers: dict[str, tuple[int, subprocess.Popen[bytes], Path]]
) -> None:
    service = await asyncio.to_thread(start_service, tmp_path / "data", {
        "TRAVELBUDDY_METRICS_PORT": "0"})  # `serve` serves them on its HTTP port
    try:
        await asyncio.wait_for(journey(service), timeout=60)
        served = await asyncio.to_thread(
            scrape, f"{service.base_url}/metrics", service.process, service.log)
    finally:
        await asyncio.to_thread(stop_service, service)
    scraped = {"serve": served} | {
        name: await asyncio.to_thread(scrape, f"http://127.0.0.1:{port}/metrics", process, log)
        for name, (port, process, log) in workers.items()
    }

    exposed = set().union(*(exposed_names(text) for text in scraped.values()))
    assert used_names() - MADE_BY_PROMETHEUS - exposed == set()
    for name, text in scraped.items():
        # Each is a target of its own: ProcessRestarting reads its start time.
        assert "process_start_time_seconds" in exposed_names(text), name
    with_series = {metric.name for metric in text_string_to_metric_families(served)
                   if metric.samples}
    assert set(JOURNEY_SERIES) - with_series == set()
