"""The FastAPI composition root: the GraphQL endpoints and health checks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from travelbuddy.bootstrap import Services, build_services, readiness
from travelbuddy.config import Settings
from travelbuddy.graphql import command_schema, query_schema
from travelbuddy.graphql.context import context_getter
from travelbuddy.graphql.limits import BodySizeLimit
from travelbuddy.graphql.router import TravelBuddyGraphQLRouter
from travelbuddy.workers import all_workers
from travelbuddy.workers import run_workers as workers_run

log = logging.getLogger(__name__)


class ServiceHolder:
    """Services built by the lifespan (or handed in by a test) for resolvers to reach."""

    def __init__(self, services: Services | None) -> None:
        self.current = services

    def __getattr__(self, name: str) -> object:
        if self.current is None:
            raise RuntimeError("services are not started")
        return getattr(self.current, name)


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    run_workers: bool = False,
) -> FastAPI:
    """The HTTP application. Given `services`, it uses them; otherwise it builds its own
    from `settings` at start-up and closes them at shutdown. With `run_workers`, every
    background worker (projector, relay, inbound, partners) runs in the same process
    (`travelbuddy serve`)."""
    settings = settings or Settings()
    holder = ServiceHolder(services)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if holder.current is not None:  # handed in (tests): started and closed elsewhere
            yield
            return
        holder.current = await build_services(settings)
        workers = None
        if run_workers:
            services = holder.current
            workers = asyncio.create_task(workers_run(services, all_workers(services)))
        try:
            yield
        finally:
            if workers is not None:
                workers.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await workers
            await holder.current.close()

    app = FastAPI(title="TravelBuddy booking service", lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=settings.graphql_max_body_bytes)
    app.include_router(
        TravelBuddyGraphQLRouter(command_schema.build_schema(settings),
                                 context_getter=context_getter(holder)),
        prefix="/graphql/command",
    )
    app.include_router(
        TravelBuddyGraphQLRouter(
            query_schema.build_schema(settings), context_getter=context_getter(holder),
            max_subscriptions_per_connection=settings.graphql_max_subscriptions_per_connection,
        ),
        prefix="/graphql",
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process is up."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: the stores answer and the projector's lag is under the threshold."""
        if holder.current is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            report = await readiness(holder.current)
        except Exception as error:  # a store that does not answer: not ready, say which
            log.warning("event=not_ready error=%r", error)
            return JSONResponse({"status": "unavailable", "error": type(error).__name__},
                                status_code=503)
        return JSONResponse(report, status_code=200 if report["status"] == "ready" else 503)

    return app
