"""The service wired to its stores, one fresh database (or data folder) per test.

A test module that sets `BOTH_BACKENDS = True` runs every test that uses `services` twice:
on the test MongoDB and on the embedded default (SQLite events and read models).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.integration.background import projecting
from tests.integration.served import served
from tests.services.testbed import KafkaTestServer
from travelbuddy.app import create_app
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.readmodels.ports import ReadModelStore
from travelbuddy.readmodels.runner import ProjectorRunner
from travelbuddy.readmodels.sqlite import SqliteReadModels

BACKENDS = ("mongodb", "embedded")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "services" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_BACKENDS", False):
        metafunc.parametrize("backend", BACKENDS)


@pytest.fixture(params=["mongodb", "sqlite"])
async def read_models(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ReadModelStore]:
    """The read-model store port on the test MongoDB and on the embedded SQLite file (the
    read-model contract suite)."""
    store: ReadModelStore
    client: AsyncMongoClient[dict[str, Any]] | None = None
    if request.param == "mongodb":
        from travelbuddy.readmodels.mongo import MongoReadModels

        # Only synchronous fixtures may be asked for from here (the loop is running).
        client = AsyncMongoClient(request.getfixturevalue("mongodb_url"), tz_aware=True)
        store = MongoReadModels(client[request.getfixturevalue("database_name")])
    else:
        store = SqliteReadModels(tmp_path / "readmodels.sqlite3")
    await store.setup()
    yield store
    await store.close()
    if client is not None:
        await client.close()


@pytest.fixture(scope="module")
def private_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaTestServer]:
    """A broker of the test module's own, which its tests may stop and start again without
    disturbing other tests (the session's broker is shared)."""
    server = KafkaTestServer(tmp_path_factory.mktemp("kafka"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def backend() -> str:
    """The stores `services` uses: MongoDB unless the module asks for both."""
    return "mongodb"


@pytest.fixture
async def services(
    backend: str, request: pytest.FixtureRequest, database_name: str, tmp_path: Path
) -> AsyncIterator[Services]:
    if backend == "embedded":
        settings = Settings(mongodb_url=None, kafka_bootstrap_servers=None,
                            data_dir=tmp_path / "data")
    else:
        mongodb_url: str = request.getfixturevalue("mongodb_url")
        # The data folder still holds the bus (bus.sqlite3, without Kafka): one per test.
        settings = Settings(mongodb_url=mongodb_url, mongodb_database=database_name,
                            kafka_bootstrap_servers=None, data_dir=tmp_path / "data")
    built = await build_services(settings)
    yield built
    await built.close()


@pytest.fixture
async def http(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the ASGI app; requests go through FastAPI and strawberry."""
    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://travelbuddy") as client:
        yield client


@pytest.fixture
async def client(services: Services) -> AsyncIterator[Any]:
    """Opens HTTP clients on the app built with some settings changed (`client(debug=True)`)."""
    clients: list[httpx.AsyncClient] = []

    def open_client(**changed: Any) -> httpx.AsyncClient:
        settings = services.settings.model_copy(update=changed)
        transport = httpx.ASGITransport(app=create_app(settings, services=services),
                                        raise_app_exceptions=False)
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://travelbuddy"))
        return clients[-1]

    yield open_client
    for opened in clients:
        await opened.aclose()


@pytest.fixture
async def projector(services: Services) -> AsyncIterator[ProjectorRunner]:
    """The read-model projector running in the background, caught up."""
    async with projecting(services.projector(), seconds=10) as runner:
        yield runner


@pytest.fixture
async def live_server(services: Services) -> AsyncIterator[str]:
    """The app served by uvicorn on a free loopback port; yields its base URL."""
    async with served(create_app(services.settings, services=services)) as base:
        yield base
