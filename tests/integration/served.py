"""An app served by uvicorn on a free loopback port, for tests that need a real socket
(websockets) with settings or services of their own; and the environment of a
`travelbuddy` process started by a test on the same stores."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from tests.services.testbed import free_port
from travelbuddy.config import Settings


@asynccontextmanager
async def served(app: Any, **options: Any) -> AsyncIterator[str]:
    """Serves `app` while the block runs; yields its `host:port`. `options` go to uvicorn
    (`travelbuddy.http_server.uvicorn_options(settings)`: the limits `serve` runs with)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, **({"log_level": "warning", "lifespan": "off"}
                                              | options)))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def service_environment(settings: Settings) -> dict[str, str]:
    """The environment of a `travelbuddy` process on the same stores as `settings`: the
    test MongoDB database or the same embedded data folder, never the caller's servers;
    a worker command serves no metrics unless the test sets `TRAVELBUDDY_METRICS_PORT`."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"TRAVELBUDDY_MONGODB_URL", "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS"}}
    env["TRAVELBUDDY_DATA_DIR"] = str(settings.data_dir)
    env["TRAVELBUDDY_METRICS_PORT"] = "0"  # a worker's default port: one process at a time
    if settings.mongodb_url:
        env["TRAVELBUDDY_MONGODB_URL"] = settings.mongodb_url
        env["TRAVELBUDDY_MONGODB_DATABASE"] = settings.mongodb_database
    return env
