"""The `travelbuddy` command."""

from __future__ import annotations

import typer
import uvicorn

from travelbuddy.config import Settings

app = typer.Typer(help="TravelBuddy booking service.", no_args_is_help=True)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (default: TRAVELBUDDY_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: TRAVELBUDDY_PORT)."),
) -> None:
    """Run the whole service in one process."""
    _run_api(host, port)


@app.command()
def api(
    host: str | None = typer.Option(None, help="Bind address (default: TRAVELBUDDY_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: TRAVELBUDDY_PORT)."),
) -> None:
    """Run the HTTP API alone (GraphQL endpoints and health checks)."""
    _run_api(host, port)


def _run_api(host: str | None, port: int | None) -> None:
    from travelbuddy.app import create_app

    settings = Settings()
    bind_host, bind_port = host or settings.host, port or settings.port
    typer.echo(f"TravelBuddy on http://{bind_host}:{bind_port}  (health: /healthz)")
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_level="warning")


def main() -> None:
    app()
