"""The FastAPI composition root: the GraphQL endpoints and health checks, behind the
request guard (authentication before a body is read, a body deadline) and the pages'
security headers. FastAPI's own /docs, /redoc and /openapi.json only with `api_docs`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from travelbuddy.bootstrap import Services, build_services, readiness
from travelbuddy.config import Settings
from travelbuddy.graphql import command_schema, query_schema
from travelbuddy.graphql.authentication import Authenticator
from travelbuddy.graphql.context import context_getter
from travelbuddy.graphql.limits import BodySizeLimit
from travelbuddy.graphql.page_headers import PageHeaders
from travelbuddy.graphql.request_guard import RequestGuard
from travelbuddy.graphql.router import TravelBuddyGraphQLRouter
from travelbuddy.graphql.websocket_budget import WebSocketBudget
from travelbuddy.metrics_endpoint import metrics_endpoint
from travelbuddy.observability.logs import get_logger
from travelbuddy.observability.metrics import FOLLOWERS
from travelbuddy.observability.tracing import instrument_http
from travelbuddy.security import TokenVerifier
from travelbuddy.web import mount_web_pages
from travelbuddy.workers import all_workers
from travelbuddy.workers import run_workers as workers_run

log = get_logger(__name__)


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
        TokenVerifier.from_settings(settings)  # an unusable secret stops the start here
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

    docs: dict[str, str | None] = ({} if settings.api_docs else
                                   {"docs_url": None, "redoc_url": None, "openapi_url": None})
    app = FastAPI(title="TravelBuddy booking service", lifespan=lifespan, **docs)  # type: ignore[arg-type]
    authenticator = Authenticator(lambda: holder.settings)  # type: ignore[arg-type, return-value]
    # The last added runs first: headers on every answer, then the guard, then the body.
    app.add_middleware(BodySizeLimit, max_bytes=settings.graphql_max_body_bytes)
    app.add_middleware(RequestGuard, authenticator=authenticator,
                       body_timeout=settings.http_body_timeout_seconds)
    app.add_middleware(PageHeaders)
    instrument_http(app)  # outermost: a span per request, also for the refused ones
    websockets = WebSocketBudget.from_settings(settings)  # shared by both endpoints
    app.state.websocket_budget = websockets
    for prefix, schema in (("/graphql/command", command_schema.build_schema(settings)),
                           ("/graphql", query_schema.build_schema(settings))):
        app.include_router(
            TravelBuddyGraphQLRouter(schema, settings=settings, websocket_budget=websockets,
                                     context_getter=context_getter(holder, authenticator)),
            prefix=prefix,
        )

    mount_web_pages(app, settings)  # the SPA at /, its assets; GraphiQL's page (see web.py)

    if settings.metrics_enabled:
        app.add_route("/metrics", metrics_endpoint(lambda: holder.current, FOLLOWERS),
                      methods=["GET"])

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process is up."""
        return {"status": "ok"}

    last_ready = LastReady()

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: the stores answer and the projector's lag is under the threshold."""
        if holder.current is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            report = await readiness(holder.current)
        except Exception as error:  # a store that does not answer: not ready, say which
            log.warning("not_ready", error=repr(error))
            answered = last_ready.answered_within(settings.readiness_grace_seconds)
            if answered is not None:  # one slow check (a busy machine) is not an outage
                return JSONResponse({**answered, "stale": True}, status_code=200)
            return JSONResponse({"status": "unavailable", "error": type(error).__name__},
                                status_code=503)
        if report["status"] == "ready":
            last_ready.remember(report)
        return JSONResponse(report, status_code=200 if report["status"] == "ready" else 503)

    return app


class LastReady:
    """The last "ready" answer of /readyz and when it was given: a check that times out
    soon after one is answered with it (marked stale) instead of flapping to 503."""

    def __init__(self) -> None:
        self._report: dict[str, Any] | None = None
        self._at = 0.0

    def remember(self, report: dict[str, Any]) -> None:
        self._report, self._at = report, time.monotonic()

    def answered_within(self, seconds: float) -> dict[str, Any] | None:
        if self._report is None or time.monotonic() - self._at > seconds:
            return None
        return self._report
