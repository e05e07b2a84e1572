from __future__ import annotations

import httpx

from tests.e2e.conftest import RunningService


def test_running_service_answers_liveness_and_readiness(service: RunningService) -> None:
    health = httpx.get(f"{service.base_url}/healthz")
    ready = httpx.get(f"{service.base_url}/readyz")

    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
