"""The service under test in a process of its own, for the HTTP benchmarks (3 and 4).

    python -m bench.server PORT BARE_PORT      (settings from TRAVELBUDDY_* variables)

One process runs what `travelbuddy serve` runs for the read side — the GraphQL app
(`create_app`) with the read-model projector beside it — and, on a second port, a bare
FastAPI app whose routes do the same finds as the query schema on the same collections
(the in-memory collections of the embedded default live in this process, so the bare
routes have to as well). It starts serving once the projector has caught up. The
simulated partners, relay and inbound consumer are not run: the benchmarks send every
command themselves, so the load is exactly what they offer.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI, Header
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from travelbuddy.app import create_app
from travelbuddy.bootstrap import build_services
from travelbuddy.config import Settings
from travelbuddy.readmodels.projections import BOOKING_VIEWS

CATCH_UP_TIMEOUT = 240.0
PAGE_SIZE = 20


def bare_app(database: AsyncDatabase[dict[str, Any]]) -> FastAPI:
    """Plain FastAPI JSON routes: the query schema's finds and nothing else."""
    views = database[BOOKING_VIEWS]
    app = FastAPI()

    @app.get("/booking/{booking_id}")
    async def booking(booking_id: str,
                      x_customer_id: str = Header()) -> dict[str, Any] | None:
        view = await views.find_one({"_id": booking_id})
        return view if view is not None and view.get("customer_id") == x_customer_id else None

    @app.get("/my-bookings")
    async def my_bookings(x_customer_id: str = Header()) -> dict[str, Any]:
        cursor = (views.find({"customer_id": x_customer_id})
                  .sort([("check_in", ASCENDING), ("_id", ASCENDING)]).limit(PAGE_SIZE + 1))
        found = await cursor.to_list()
        return {"bookings": found[:PAGE_SIZE], "has_next_page": len(found) > PAGE_SIZE}

    return app


def _server(app: Any, port: int) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                         log_level="warning", lifespan="off"))


async def serve(port: int, bare_port: int) -> None:
    settings = Settings()
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
        bare = _server(bare_app(services.database), bare_port)
        # The first server's signal handlers stop both (uvicorn sets should_exit on SIGTERM).
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
