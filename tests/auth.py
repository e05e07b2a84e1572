"""Bearer tokens for tests, signed with the test secret every test process uses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from travelbuddy.config import Settings
from travelbuddy.security import issue_token

TEST_JWT_SECRET = "travelbuddy-test-secret-0123456789abcdef0123456789"
"""Set as TRAVELBUDDY_JWT_SECRET by tests/conftest.py, so every Settings() in a test and
every service process a test starts verifies these tokens."""


def token(customer: str, roles: Iterable[str] = (), ttl: float = 3600) -> str:
    """A valid token for `customer` with `roles`."""
    return issue_token(Settings(jwt_secret=TEST_JWT_SECRET, jwt_algorithm="HS256"),
                       customer, roles, dt.timedelta(seconds=ttl))


def bearer(customer: str, roles: Iterable[str] = ()) -> dict[str, str]:
    """The `Authorization` header (or connection_init payload) naming `customer`."""
    return {"Authorization": f"Bearer {token(customer, roles)}"}


AGENT = "front-desk"
"""Support staff: may act on any booking, and record a hotel's or airline's answer."""


def agent_bearer() -> dict[str, str]:
    """The `Authorization` header of an agent (role `agent`)."""
    return bearer(AGENT, ["agent"])
