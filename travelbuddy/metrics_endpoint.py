"""GET /metrics: the process's Prometheus metrics (`travelbuddy.observability.metrics`) in
the text exposition format. The API serves it on its own port (`travelbuddy api`, and
`travelbuddy serve`, whose process runs every worker too); each worker command
(`travelbuddy projector|relay|inbound|partners`) on `TRAVELBUDDY_METRICS_PORT`.

It asks for no token, like /healthz and /readyz: Prometheus scrapes it, and what it shows
are counts and timings labelled by the service's own names (no customer id, booking id or
token). Like them it is for operators, and the ingress should not route it from outside.

The followers' lag and checkpoint age are read from the stores at each scrape, so a
follower that is stopped or stuck shows its lag growing wherever it is scraped: the API
reports every follower (as /readyz does), a worker command the followers it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from travelbuddy.bootstrap import READ_MODELS_PROJECTOR, Services
from travelbuddy.http_server import uvicorn_options
from travelbuddy.integration.bus import group_lag
from travelbuddy.integration.catalog import CATALOG_GROUP
from travelbuddy.integration.inbound import DEFAULT_GROUP_ID
from travelbuddy.integration.relay import relay_name
from travelbuddy.integration.topics import CATALOG, FLIGHT_REPLIES, HOTEL_REPLIES
from travelbuddy.observability import metrics
from travelbuddy.observability.logs import get_logger
from travelbuddy.readmodels.maintenance import projector_status
from travelbuddy.workers import Worker

log = get_logger(__name__)

FOLLOWERS_OF = {
    Worker.PROJECTOR: (metrics.PROJECTOR, metrics.CATALOG),
    Worker.RELAY: (metrics.RELAY,),
    Worker.INBOUND: (metrics.INBOUND,),
    Worker.PARTNERS: (),
}
"""The followers whose lag a worker command reports."""


class FollowerLag:
    """Sets the followers' lag and checkpoint-age gauges from the stores and the bus."""

    def __init__(self, followers: Collection[str]) -> None:
        self.followers = followers
        self._behind_since: dict[str, float] = {}

    async def sample(self, services: Services) -> None:
        """Read every follower's position, within the readiness timeout; when the stores
        do not answer, the gauges keep the values last read (and the log says why)."""
        try:
            async with asyncio.timeout(services.settings.readiness_timeout):
                for follower in self.followers:
                    await self._sample(follower, services)
        except Exception as error:
            log.warning("follower_lag_not_sampled", error=repr(error))

    async def _sample(self, follower: str, services: Services) -> None:
        if follower == metrics.PROJECTOR:
            await self._from_checkpoint(metrics.PROJECTOR, READ_MODELS_PROJECTOR, services)
        elif follower == metrics.RELAY:
            # A relay that never ran has no checkpoint: nothing to say (as /readyz).
            name = relay_name(services.bus)
            if name in await services.read_models.checkpoints.names():
                await self._from_checkpoint(metrics.RELAY, name, services)
        elif follower == metrics.CATALOG:
            self._from_offsets(follower, await group_lag(services.bus, CATALOG_GROUP, [CATALOG]))
        elif follower == metrics.INBOUND:
            self._from_offsets(follower, await group_lag(
                services.bus, DEFAULT_GROUP_ID, [HOTEL_REPLIES, FLIGHT_REPLIES]))

    @staticmethod
    async def _from_checkpoint(follower: str, name: str, services: Services) -> None:
        status = await projector_status(services.read_models, services.store, name)
        metrics.FOLLOWER_LAG_EVENTS.labels(follower).set(status.lag)
        metrics.FOLLOWER_LAG_SECONDS.labels(follower).set(status.lag_seconds)
        if status.saved_at is not None:
            age = (dt.datetime.now(dt.UTC) - status.saved_at).total_seconds()
            metrics.FOLLOWER_CHECKPOINT_AGE.labels(follower).set(max(age, 0.0))

    def _from_offsets(self, follower: str, lag: int | None) -> None:
        if lag is None:  # the bus cannot say now
            return
        now = time.monotonic()
        if lag:  # behind since the first scrape that saw a backlog
            since = self._behind_since.setdefault(follower, now)
        else:
            self._behind_since.pop(follower, None)
            since = now
        metrics.FOLLOWER_LAG_EVENTS.labels(follower).set(lag)
        metrics.FOLLOWER_LAG_SECONDS.labels(follower).set(now - since)


def metrics_endpoint(
    current: Callable[[], Services | None], followers: Collection[str]
) -> Callable[[Request], Awaitable[Response]]:
    """The /metrics handler: the followers' lag sampled, then the whole registry."""
    lag = FollowerLag(followers)

    async def metrics(_: Request) -> Response:
        services = current()
        if services is not None:
            await lag.sample(services)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return metrics


class MetricsPortUnavailable(Exception):
    """The worker's metrics port cannot be listened on (another process has it)."""


class _WorkerMetricsServer(uvicorn.Server):
    """uvicorn beside the workers: Ctrl-C and SIGTERM stay the worker command's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def metrics_served(services: Services, workers: Collection[Worker]) -> AsyncIterator[None]:
    """While the block runs, serve /metrics of this worker process on the settings'
    `metrics_port` (not at all when it is 0 or metrics are off)."""
    settings = services.settings
    if settings.metrics_port == 0 or not settings.metrics_enabled:
        yield
        return
    address = (settings.host, settings.metrics_port)
    try:
        listening = socket.create_server(
            address, family=socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    except OSError as error:
        raise MetricsPortUnavailable(
            f"cannot serve metrics on {settings.host}:{settings.metrics_port} ({error.strerror});"
            " set TRAVELBUDDY_METRICS_PORT to a free port, or 0 to turn them off") from None
    followers = [follower for worker in workers for follower in FOLLOWERS_OF[worker]]
    app = Starlette(routes=[Route("/metrics", metrics_endpoint(lambda: services, followers))])
    server = _WorkerMetricsServer(uvicorn.Config(
        app, log_level="warning", lifespan="off", log_config=None, **uvicorn_options(settings)))
    task = asyncio.create_task(server.serve(sockets=[listening]))
    log.info("metrics_served", url="http://{}:{}/metrics".format(*address))
    try:
        yield
    finally:
        server.should_exit = True
        await task
        listening.close()
