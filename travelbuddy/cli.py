"""The `travelbuddy` command."""

from __future__ import annotations

import asyncio

import typer
import uvicorn

from travelbuddy.config import Settings

app = typer.Typer(help="TravelBuddy booking service.", no_args_is_help=True)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (default: TRAVELBUDDY_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: TRAVELBUDDY_PORT)."),
) -> None:
    """Run the whole service in one process: the API and the projector."""
    _run_api(host, port, run_projector=True)


@app.command()
def api(
    host: str | None = typer.Option(None, help="Bind address (default: TRAVELBUDDY_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: TRAVELBUDDY_PORT)."),
) -> None:
    """Run the HTTP API alone (GraphQL endpoints and health checks)."""
    _run_api(host, port)


def _run_api(host: str | None, port: int | None, *, run_projector: bool = False) -> None:
    from travelbuddy.app import create_app

    settings = Settings()
    bind_host, bind_port = host or settings.host, port or settings.port
    typer.echo(f"TravelBuddy on http://{bind_host}:{bind_port}  (health: /healthz)")
    app = create_app(settings, run_projector=run_projector)
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning")


@app.command()
def projector() -> None:
    """Run the read-model projector alone (booking_views, hotel_occupancy)."""
    from travelbuddy.bootstrap import build_services

    async def run() -> None:
        services = await build_services(Settings())
        try:
            await services.projector().run()
        finally:
            await services.close()

    asyncio.run(run())


def main() -> None:
    app()
