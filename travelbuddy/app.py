"""The FastAPI composition root: the GraphQL endpoints and health checks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.graphql import command_schema, query_schema
from travelbuddy.graphql.context import context_getter
from travelbuddy.graphql.router import TravelBuddyGraphQLRouter

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
    run_projector: bool = False,
) -> FastAPI:
    """The HTTP application. Given `services`, it uses them; otherwise it builds its own
    from `settings` at start-up and closes them at shutdown. With `run_projector`, the
    read-model projector runs in the same process (`travelbuddy serve`)."""
    settings = settings or Settings()
    holder = ServiceHolder(services)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if holder.current is not None or settings.mongodb_url is None:
            if settings.mongodb_url is None and holder.current is None:
                log.warning("event=no_store message=set TRAVELBUDDY_MONGODB_URL for GraphQL")
            yield
            return
        holder.current = await build_services(settings)
        projector = None
        if run_projector:
            projector = asyncio.create_task(holder.current.projector().run())
        try:
            yield
        finally:
            if projector is not None:
                projector.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await projector
            await holder.current.close()

    app = FastAPI(title="TravelBuddy booking service", lifespan=lifespan)
    app.include_router(
        TravelBuddyGraphQLRouter(command_schema.schema, context_getter=context_getter(holder)),
        prefix="/graphql/command",
    )
    app.include_router(
        TravelBuddyGraphQLRouter(query_schema.schema, context_getter=context_getter(holder)),
        prefix="/graphql",
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process is up."""
        return {"status": "ok"}

    return app
