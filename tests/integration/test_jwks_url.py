"""RS256 keys from a JWKS URL, as identity providers publish them: fetched once and kept,
fetched again when a token names a key not yet seen (a rotation), never on the event loop.
The provider is a small HTTP server this test starts on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services
from travelbuddy.config import Settings
from travelbuddy.security import TokenVerifier
from travelbuddy.security.jwks_endpoint import checked_jwks_url

SCHEMA_VERSION = "{ schemaVersion }"


@pytest.fixture
def backend() -> str:
    """Keys do not depend on the stores: the embedded default is enough."""
    return "embedded"


class IdentityProvider:
    """Serves a JWKS document at /jwks.json, counts the fetches, can answer slowly."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.fetches = 0
        self.delay = 0.0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                time.sleep(provider.delay)
                body = json.dumps(provider.document()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"

    def key(self, kid: str) -> rsa.RSAPrivateKey:
        """A signing key of the provider's (made on first use, published when `publish`)."""
        if kid not in self.keys:
            self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.keys[kid]

    def publish(self, *kids: str) -> None:
        self.published = list(kids)

    def document(self) -> dict[str, Any]:
        return {"keys": [json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(
            self.key(kid).public_key())) | {"kid": kid, "use": "sig", "alg": "RS256"}
            for kid in self.published]}

    def token(self, kid: str, customer: str = "alice") -> str:
        now = dt.datetime.now(dt.UTC)
        return jwt.encode({"sub": customer, "iat": now, "exp": now + dt.timedelta(minutes=5)},
                          self.key(kid), algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def provider() -> Iterator[IdentityProvider]:
    running = IdentityProvider()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture
async def client(services: Services, provider: IdentityProvider) -> AsyncIterator[Any]:
    """Opens HTTP clients on the app verifying tokens with the provider's JWKS URL."""
    clients: list[httpx.AsyncClient] = []

    def open_client(**changed: Any) -> httpx.AsyncClient:
        settings = services.settings.model_copy(update={
            "jwt_algorithm": "RS256", "jwks_url": provider.url, **changed})
        app = create_app(settings, services=dataclasses.replace(services, settings=settings))
        clients.append(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://travelbuddy"))
        return clients[-1]

    yield open_client
    for opened in clients:
        await opened.aclose()


async def ask(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post("/graphql/command", json={"query": SCHEMA_VERSION},
                           headers={"Authorization": f"Bearer {token}"})


async def test_a_token_signed_with_a_published_key_is_accepted_and_the_keys_kept(
    client: Any, provider: IdentityProvider
) -> None:
    provider.publish("k1")
    http = client()

    answers = [await ask(http, provider.token("k1")) for _ in range(20)]

    assert [answer.status_code for answer in answers] == [200] * 20
    assert provider.fetches == 1


async def test_a_token_with_a_rotated_in_key_verifies_once_the_provider_serves_it(
    client: Any, provider: IdentityProvider
) -> None:
    provider.publish("k1")
    http = client(jwks_refresh_interval_seconds=0)
    assert (await ask(http, provider.token("k1"))).status_code == 200

    before_rotation = await ask(http, provider.token("k2"))
    provider.publish("k1", "k2")
    after_rotation = await ask(http, provider.token("k2"))

    assert before_rotation.status_code == 401
    assert before_rotation.json()["reason"] == "unknown signing key"
    assert after_rotation.status_code == 200, after_rotation.text
    assert (await ask(http, provider.token("k1"))).status_code == 200


async def test_tokens_naming_made_up_keys_do_not_make_the_service_hammer_the_provider(
    client: Any, provider: IdentityProvider
) -> None:
    provider.publish("k1")
    http = client(jwks_refresh_interval_seconds=60)
    await ask(http, provider.token("k1"))

    answers = [await ask(http, provider.token(f"made-up-{n}")) for n in range(30)]

    assert {answer.status_code for answer in answers} == {401}
    assert provider.fetches == 1  # the first fetch; made-up kids wait for the interval


async def test_a_key_set_older_than_its_cache_time_is_fetched_again_in_the_background(
    client: Any, provider: IdentityProvider
) -> None:
    provider.publish("k1")
    http = client(jwks_cache_seconds=0.2)
    await ask(http, provider.token("k1"))
    await asyncio.sleep(0.3)  # the cache time itself is what is tested

    answer = await ask(http, provider.token("k1"))
    async with asyncio.timeout(5):
        while provider.fetches < 2:  # noqa: ASYNC110 - the provider's counter, no event
            await asyncio.sleep(0.02)

    assert answer.status_code == 200
    assert provider.fetches == 2


async def test_a_slow_provider_does_not_block_the_event_loop(
    client: Any, provider: IdentityProvider
) -> None:
    provider.publish("k1")
    provider.delay = 1.5
    http = client()

    waiting = asyncio.create_task(ask(http, provider.token("k1")))
    async with asyncio.timeout(5):
        while provider.fetches == 0:  # noqa: ASYNC110 - the provider's counter, no event
            await asyncio.sleep(0.01)
    started = time.monotonic()
    health = await http.get("/healthz")
    answered_in = time.monotonic() - started

    assert health.status_code == 200
    assert answered_in < 0.5
    assert (await waiting).status_code == 200


async def test_an_unreachable_provider_refuses_tokens_without_a_crash(
    client: Any, provider: IdentityProvider
) -> None:
    http = client(jwks_url="http://127.0.0.1:9/jwks.json", jwks_timeout_seconds=1)

    answer = await ask(http, provider.token("k1"))

    assert answer.status_code == 401
    assert answer.json()["reason"] == "unknown signing key"


@pytest.mark.parametrize("url", ["http://idp.example.com/jwks.json", "file:///etc/passwd",
                                 "ftp://127.0.0.1/jwks.json"])
def test_a_jwks_url_in_the_clear_or_of_another_scheme_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="https"):
        checked_jwks_url(url)
    with pytest.raises(ValueError, match="https"):
        TokenVerifier.from_settings(Settings(jwt_algorithm="RS256", jwks_url=url))


def test_https_and_loopback_jwks_urls_are_accepted() -> None:
    for url in ("https://idp.example.com/.well-known/jwks.json",
                "http://127.0.0.1:8080/jwks.json", "http://localhost/jwks.json"):
        assert checked_jwks_url(url) == url
