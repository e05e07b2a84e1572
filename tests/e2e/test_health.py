from __future__ import annotations

import httpx

from tests.e2e.conftest import RunningService


def test_running_service_answers_liveness(service: RunningService) -> None:
    response = httpx.get(f"{service.base_url}/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
