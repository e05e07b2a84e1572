"""RS256 keys published at a JWKS URL, as identity providers publish them.

PyJWT's `PyJWKClient` fetches and parses the key set; it is synchronous (urllib), so it
runs in a worker thread and never on the event loop. The keys are kept in memory, and a
token is verified against them without any I/O:

- a token naming a known key (`kid`) is verified at once; when the keys are older than
  `max_age`, one fetch in the background brings them up to date;
- a token naming an unknown key waits for one fetch (the provider may have rotated its
  keys), at most once per `refresh_interval`, so that tokens with made-up key ids cannot
  make the service hammer the provider;
- one fetch at a time: concurrent requests wait for the same fetch. A failed fetch keeps
  the keys there were, so a short outage of the provider does not log everybody out.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from urllib.parse import urlparse

import jwt

from travelbuddy.observability.logs import get_logger

log = get_logger(__name__)


def checked_jwks_url(url: str) -> str:
    """`url` when it is https (or http to this machine, for tests and a local provider);
    otherwise ValueError: keys fetched in the clear could be swapped for an attacker's."""
    parsed = urlparse(url)
    if parsed.scheme == "https" and parsed.hostname:
        return url
    if parsed.scheme == "http" and parsed.hostname and _is_loopback(parsed.hostname):
        return url
    raise ValueError(f"TRAVELBUDDY_JWKS_URL must be an https URL (http only to this "
                     f"machine), not {url!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JwksEndpoint:
    """The signing keys of one JWKS URL, fetched in a worker thread (see the module doc)."""

    def __init__(
        self,
        url: str,
        *,
        max_age: float = 300.0,
        refresh_interval: float = 10.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # PyJWKClient's own cache is left off: it would be consulted under a thread lock
        # on every token; the keys live here instead, read without I/O or locks.
        self._client = jwt.PyJWKClient(checked_jwks_url(url), cache_jwk_set=False,
                                       timeout=timeout)
        self.url = url
        self._max_age = max_age
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._fetch: asyncio.Task[None] | None = None

    def key(self, key_id: str | None) -> jwt.PyJWK | None:
        """The known key named `key_id` (or the only key, for a token naming none)."""
        if key_id is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(key_id)

    async def prepare(self, key_id: str | None) -> None:
        """Make sure the keys are there for a token naming `key_id`: returns at once for a
        known key (refreshing stale keys in the background), otherwise waits for a fetch
        when one is allowed now."""
        if self.key(key_id) is not None:
            if self._is_stale():
                self._start_fetch()
            return
        if self._may_fetch_for_unknown_key():
            await asyncio.shield(self._start_fetch())

    def _is_stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age

    def _may_fetch_for_unknown_key(self) -> bool:
        if self._fetch is not None:
            return True  # join the fetch under way
        return (self._attempted_at is None
                or self._clock() - self._attempted_at >= self._refresh_interval)

    def _start_fetch(self) -> asyncio.Task[None]:
        if self._fetch is None:
            self._fetch = asyncio.create_task(self._fetch_keys())
        return self._fetch

    async def _fetch_keys(self) -> None:
        self._attempted_at = self._clock()
        try:
            keys = await asyncio.to_thread(self._client.get_signing_keys, True)
        except (jwt.PyJWTError, OSError, ValueError) as error:  # keep the keys there were
            log.warning("jwks_fetch_failed", url=self.url, error=repr(error))
        else:
            self._keys = {key.key_id: key for key in keys if key.key_id is not None}
            self._fetched_at = self._attempted_at
            log.info("jwks_fetched", url=self.url, keys=len(self._keys))
        finally:
            self._fetch = None
