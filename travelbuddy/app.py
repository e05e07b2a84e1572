"""The FastAPI composition root: wires adapters to the application and the GraphQL schemas."""

from __future__ import annotations

from fastapi import FastAPI

from travelbuddy.config import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the HTTP application for the given settings (the environment's by default)."""
    settings = settings or Settings()
    app = FastAPI(title="TravelBuddy booking service")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process is up."""
        return {"status": "ok"}

    return app
