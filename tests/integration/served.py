"""An app served by uvicorn on a free loopback port, for tests that need a real socket
(websockets) with settings or services of their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from tests.services.testbed import free_port


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """Serves `app` while the block runs; yields its `host:port`."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
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
