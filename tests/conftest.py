"""Test servers for the whole session.

Integration tests ask for `mongodb_url` or `kafka_bootstrap_servers`. When the matching
`TRAVELBUDDY_MONGODB_URL` / `TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS` is set, those servers
are used and nothing is started; otherwise the test bed in tests/services starts the
server on first use and stops it by PID when the session ends, pass or fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from tests.auth import TEST_JWT_SECRET
from tests.services.testbed import KafkaTestServer, MongoTestServer, scratch_dir

pytest_plugins = ("tests.captured_spans",)  # the session's TracerProvider, spans per test

# Every Settings() of a test, and every service process a test starts, verifies the
# tokens of tests/auth.py.
os.environ["TRAVELBUDDY_JWT_SECRET"] = TEST_JWT_SECRET


@pytest.fixture(scope="session")
def testbed_dir() -> Iterator[Path]:
    path = scratch_dir("tests")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def mongodb_url(testbed_dir: Path) -> Iterator[str]:
    if url := os.environ.get("TRAVELBUDDY_MONGODB_URL"):
        yield url
        return
    server = MongoTestServer(testbed_dir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(testbed_dir: Path) -> Iterator[str]:
    if servers := os.environ.get("TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS"):
        yield servers
        return
    server = KafkaTestServer(testbed_dir / "kafka")
    server.workdir.mkdir()
    server.start()
    try:
        yield server.bootstrap_servers
    finally:
        server.stop()


@pytest.fixture
def database_name() -> str:
    """A database of its own for each test. Tests never drop collections: mongo-java-server
    invalidates every later change stream resumed on a collection that was once dropped."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def mongo_client(mongodb_url: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
def mongo_db(
    mongo_client: AsyncMongoClient[dict[str, Any]], database_name: str
) -> AsyncDatabase[dict[str, Any]]:
    return mongo_client[database_name]
