"""Who the benchmark clients say they are, over HTTP and websockets.

Sent both ways the service has accepted: a bearer token signed with the harness's own
secret (given to the servers it starts as TRAVELBUDDY_JWT_SECRET), and the older
`X-Customer-Id` header. Each server reads the one it knows and ignores the other.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

BENCH_JWT_SECRET = "travelbuddy-bench-secret-not-for-production-0123456789"


def server_environment() -> dict[str, str]:
    """Environment variables for a service process the harness starts."""
    return {"TRAVELBUDDY_JWT_SECRET": BENCH_JWT_SECRET}


def settings_overrides() -> dict[str, Any]:
    """Settings fields for services built in the harness's own process."""
    from travelbuddy.config import Settings

    return {"jwt_secret": BENCH_JWT_SECRET} if "jwt_secret" in Settings.model_fields else {}


AGENT = "bench-front-desk"
"""Records the hotel's and airline's answers over GraphQL, which customers may not."""


@functools.cache
def _token(customer: str, roles: tuple[str, ...] = ()) -> str | None:
    try:
        security: Any = importlib.import_module("travelbuddy.security")
    except ImportError:  # a service without token authentication: the header alone
        return None
    from travelbuddy.config import Settings

    settings = Settings(jwt_secret=BENCH_JWT_SECRET, jwt_algorithm="HS256")
    return str(security.issue_token(settings, customer, roles))


def headers(customer: str, roles: tuple[str, ...] = ()) -> dict[str, str]:
    """HTTP headers naming `customer` (with `roles`)."""
    named = {"X-Customer-Id": customer}
    if (token := _token(customer, roles)) is not None:
        named["Authorization"] = f"Bearer {token}"
    return named


def agent_headers() -> dict[str, str]:
    """HTTP headers of an agent, who may record a partner's answer to a reservation."""
    return headers(AGENT, ("agent",))


def connection_payload(customer: str) -> dict[str, Any]:
    """The websocket's connection_init payload naming `customer`."""
    token = _token(customer)
    return {} if token is None else {"Authorization": f"Bearer {token}"}
