"""The service under test in a process of its own, for the HTTP benchmarks (3, 4, 7, 11).

    python -m bench.server PORT BARE_PORT      (settings from TRAVELBUDDY_* variables)

One process runs what `travelbuddy serve` runs for the read side — the GraphQL app
(`create_app`) with the read-model projector beside it — and, on a second port, a bare
FastAPI app whose routes do the same finds as the query schema on the same views, with
the backend's driver and nothing of ours: a raw PyMongo find on MongoDB, sqlite3 on the
read models' file on the embedded default. It starts serving once the projector has
caught up. The simulated partners, relay and inbound consumer are not run: the
benchmarks send every command themselves, so the load is exactly what they offer.
Metrics and tracing are set up as in the service, from the environment
(`TRAVELBUDDY_METRICS_ENABLED`, `TRAVELBUDDY_TRACING_ENABLED`, `OTEL_EXPORTER_OTLP_ENDPOINT`;
by default metrics on, spans started but not recorded).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any, Protocol

import uvicorn
from fastapi import FastAPI, Header
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from bench.raw_sqlite import RawSqliteViews
from travelbuddy.app import create_app
from travelbuddy.bootstrap import READ_MODELS_FILE, build_services
from travelbuddy.config import Settings
from travelbuddy.observability.tracing import configure_tracing
from travelbuddy.readmodels.ports import BOOKING_VIEWS

CATCH_UP_TIMEOUT = 240.0
PAGE_SIZE = 20


class BareFinds(Protocol):
    """The two finds of the bare routes, on the backend's own driver."""

    async def booking(self, booking_id: str) -> dict[str, Any] | None: ...

    async def of_customer(self, customer_id: str, limit: int) -> list[dict[str, Any]]: ...


class RawMongoViews:
    """`booking_views` read with a raw find on the harness's own client."""

    def __init__(self, views: AsyncCollection[dict[str, Any]]) -> None:
        self._views = views

    async def booking(self, booking_id: str) -> dict[str, Any] | None:
        return await self._views.find_one({"_id": booking_id})

    async def of_customer(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        cursor = (self._views.find({"customer_id": customer_id})
                  .sort([("check_in", ASCENDING), ("_id", ASCENDING)]).limit(limit))
        return await cursor.to_list()


@contextlib.asynccontextmanager
async def bare_finds(settings: Settings) -> AsyncIterator[BareFinds]:
    """Raw finds on the views the service's projector writes: a raw PyMongo find on
    MongoDB, sqlite3 on the read models' file on the embedded default (never the port)."""
    if settings.mongodb_url is not None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url,
                                                                   tz_aware=True)
        try:
            yield RawMongoViews(client[settings.mongodb_database][BOOKING_VIEWS])
        finally:
            await client.close()
        return
    views = RawSqliteViews(settings.data_dir / READ_MODELS_FILE)
    try:
        yield views
    finally:
        views.close()


def bare_app(finds: BareFinds) -> FastAPI:
    """Plain FastAPI JSON routes: the query schema's finds and nothing else."""
    app = FastAPI()

    @app.get("/booking/{booking_id}")
    async def booking(booking_id: str,
                      x_customer_id: str = Header()) -> dict[str, Any] | None:
        view = await finds.booking(booking_id)
        return view if view is not None and view.get("customer_id") == x_customer_id else None

    @app.get("/my-bookings")
    async def my_bookings(x_customer_id: str = Header()) -> dict[str, Any]:
        found = await finds.of_customer(x_customer_id, PAGE_SIZE + 1)
        return {"bookings": found[:PAGE_SIZE], "has_next_page": len(found) > PAGE_SIZE}

    return app


def _server(app: Any, port: int) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                         log_level="warning", lifespan="off"))


async def serve(port: int, bare_port: int) -> None:
    settings = Settings()
    configure_tracing(settings, "bench")  # as `travelbuddy serve` does: on by default
    services = await build_services(settings)
    runner = services.projector()
    ready = asyncio.Event()
    projector = asyncio.create_task(runner.run(ready))
    try:
        caught_up = asyncio.create_task(ready.wait())
        await asyncio.wait({projector, caught_up}, timeout=CATCH_UP_TIMEOUT,
                           return_when=asyncio.FIRST_COMPLETED)
        if projector.done():
            projector.result()
        if not ready.is_set():
            raise TimeoutError("the projector did not catch up in time")
        service = _server(create_app(settings, services=services), port)
        async with bare_finds(settings) as finds:
            bare = _server(bare_app(finds), bare_port)
            # The first server's signal handlers stop both (uvicorn sets should_exit on
            # SIGTERM).
            bare_task = asyncio.create_task(bare.serve())
            try:
                await service.serve()
            finally:
                bare.should_exit = True
                await bare_task
    finally:
        projector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await projector
        await services.close()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))
