"""The `travelbuddy` command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import typer
import uvicorn

from travelbuddy.config import Settings
from travelbuddy.http_server import uvicorn_options
from travelbuddy.integration.dlq_cli import dlq_app
from travelbuddy.observability import logs
from travelbuddy.observability.tracing import configure_tracing
from travelbuddy.security.token_cli import print_start_up_token, token

if TYPE_CHECKING:
    from travelbuddy.bootstrap import Services

app = typer.Typer(help="TravelBuddy booking service.", no_args_is_help=True)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (default: TRAVELBUDDY_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: TRAVELBUDDY_PORT)."),
) -> None:
    """Run the whole service in one process: API, projector, and with Kafka the relay,
    the inbound consumer and the simulated partners."""
    _run_api(host, port, run_workers=True)


@app.command()
def api(
    host: str | None = typer.Option(None, help="Bind address (default: TRAVELBUDDY_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: TRAVELBUDDY_PORT)."),
) -> None:
    """Run the HTTP API alone (GraphQL endpoints and health checks)."""
    _run_api(host, port)


def _run_api(host: str | None, port: int | None, *, run_workers: bool = False) -> None:
    from travelbuddy.app import create_app

    settings = Settings()
    bind_host, bind_port = host or settings.host, port or settings.port
    base = f"http://{bind_host}:{bind_port}"
    store = "MongoDB" if settings.mongodb_url else f"embedded, data in {settings.data_dir}"
    bus = "Kafka" if settings.kafka_bootstrap_servers else "SQLite bus"
    typer.echo(f"TravelBuddy booking service ({store}; {bus})")
    typer.echo(f"  the TravelBuddy app:                  {base}/")
    typer.echo(f"  queries and subscriptions (GraphiQL): {base}/graphql")
    typer.echo(f"  commands (GraphiQL):                  {base}/graphql/command")
    typer.echo(f"  health: {base}/healthz   readiness: {base}/readyz")
    print_start_up_token(settings, base)
    configure_tracing(settings, "serve" if run_workers else "api")
    app = create_app(settings, run_workers=run_workers)
    # log_config=None: uvicorn's loggers go to the process's handler (observability/logs.py)
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning", log_config=None,
                **uvicorn_options(settings))


def _run_worker(worker: str) -> None:
    from travelbuddy.bootstrap import build_services
    from travelbuddy.metrics_endpoint import MetricsPortUnavailable, metrics_served
    from travelbuddy.workers import Worker, run_workers

    async def run() -> None:
        settings = Settings()
        configure_tracing(settings, worker)  # before build_services: PyMongo's listener
        services = await build_services(settings)
        try:
            async with metrics_served(services, [Worker(worker)]):
                await run_workers(services, [Worker(worker)])
        finally:
            await services.close()

    try:
        asyncio.run(run())
    except MetricsPortUnavailable as error:
        typer.echo(f"travelbuddy {worker}: cannot start: {error}", err=True)
        raise typer.Exit(1) from None


@app.command()
def projector() -> None:
    """Run the projectors alone: booking_views, hotel_occupancy, and the partners' catalog."""
    _run_worker("projector")


@app.command()
def relay() -> None:
    """Run the relay alone: booking events from the store to Kafka."""
    _run_worker("relay")


@app.command()
def inbound() -> None:
    """Run the inbound consumer alone: the partners' replies to commands, with a DLQ."""
    _run_worker("inbound")


@app.command()
def partners() -> None:
    """Run the simulated hotel and flight services (they also publish the catalog)."""
    _run_worker("partners")


projections = typer.Typer(help="Operate the read-model projections.", no_args_is_help=True)
app.add_typer(projections, name="projections")
app.add_typer(dlq_app, name="dlq")
app.command("token")(token)


async def _with_services(work: Callable[[Services], Awaitable[None]]) -> None:
    from travelbuddy.bootstrap import build_services

    settings = Settings()
    configure_tracing(settings, "cli")
    services = await build_services(settings)
    try:
        await work(services)
    finally:
        await services.close()


@projections.command("status")
def projections_status() -> None:
    """Show each follower's position and lag (events not yet applied, and how old the
    oldest of them is), on the same stores a running service uses."""
    from travelbuddy.bootstrap import READ_MODELS_PROJECTOR
    from travelbuddy.readmodels.maintenance import projector_status

    async def work(services: Services) -> None:
        # The read models always; every other follower (the relay) once it has a checkpoint.
        others = set(await services.read_models.checkpoints.names()) - {READ_MODELS_PROJECTOR}
        for name in [READ_MODELS_PROJECTOR, *sorted(others)]:
            status = await projector_status(services.read_models, services.store, name)
            typer.echo(f"projector={status.projector} caught_up={str(status.caught_up).lower()} "
                       f"position={status.position} last_event_at={status.recorded_at} "
                       f"saved_at={status.saved_at} lag={status.lag} "
                       f"lag_seconds={status.lag_seconds:.1f}")

    asyncio.run(_with_services(work))


@projections.command("rebuild")
def projections_rebuild(
    name: str = typer.Argument(help="booking_views or hotel_occupancy"),
) -> None:
    """Replay the whole store into a fresh table / collection, then swap it in."""
    from travelbuddy.readmodels.maintenance import rebuild

    async def work(services: Services) -> None:
        total = await services.store.count()
        with typer.progressbar(length=total, label=f"rebuilding {name}") as bar:
            replayed = await rebuild(name, services.read_models, services.store, services.feed,
                                     bar.update)
        typer.echo(f"rebuilt {name} from {replayed} events")

    asyncio.run(_with_services(work))


@projections.command("dlq")
def projections_dlq() -> None:
    """List events a projection could not apply, with the error."""

    async def work(services: Services) -> None:
        entries = await services.read_models.parked.list()
        for entry in entries:
            event = entry.event
            typer.echo(f"projection={entry.projection} stream_id={event.stream_id} "
                       f"version={event.version} type={event.type} "
                       f"attempts={entry.attempts} error={entry.error!r}")
        typer.echo(f"{len(entries)} parked")

    asyncio.run(_with_services(work))


@projections.command("retry")
def projections_retry() -> None:
    """Apply parked events again, in stream order; those that now succeed leave the list."""

    async def work(services: Services) -> None:
        done, failed = await services.projector().retry_parked()
        typer.echo(f"applied={done} still_failing={failed}")

    asyncio.run(_with_services(work))


@app.command("seed")
def seed_command(
    bookings: int = typer.Option(5, min=1, max=1000, help="How many sample bookings."),
    customer: str = typer.Option("demo-customer", help="Whose bookings they are."),
) -> None:
    """Request a handful of sample bookings over the catalog (running twice adds nothing)."""
    from travelbuddy.seeding import seed

    async def work(services: Services) -> None:
        with typer.progressbar(length=bookings, label="seeding bookings") as bar:
            booked = await seed(services.commands, bookings, customer, bar.update)
        typer.echo(f"seeded {len(booked)} bookings for {customer}")

    asyncio.run(_with_services(work))


@app.callback()
def configure_logging() -> None:
    """Structured logs: one line per thing that happened, JSON or key=value."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)


def main() -> None:
    app()
