"""Work a test runs in the background while a block runs: any coroutine, the read-model
projector caught up at the block's start, or every worker of `travelbuddy serve`; each
cancelled on exit as a shutdown cancels it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from travelbuddy.bootstrap import Services
from travelbuddy.readmodels.runner import ProjectorRunner
from travelbuddy.workers import all_workers, run_workers


@contextlib.asynccontextmanager
async def running(work: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    """`work` as a task while the block runs, cancelled and awaited on exit."""
    task = asyncio.create_task(work)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def projecting(runner: ProjectorRunner, seconds: float = 30
                     ) -> AsyncIterator[ProjectorRunner]:
    """`runner` running while the block runs, caught up (within `seconds`) at its start."""
    ready = asyncio.Event()
    async with running(runner.run(ready)):
        await asyncio.wait_for(ready.wait(), timeout=seconds)
        yield runner


def working(services: Services) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    """Every worker of `travelbuddy serve` running, stopped on exit as a shutdown stops them."""
    return running(run_workers(services, all_workers(services)))
