"""Bounded waiting: every wait of the harness gives up after a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(condition: Callable[[], bool], seconds: float, every: float = 0.02) -> bool:
    """Poll `condition` every `every` s for at most `seconds`; whether it came true."""
    deadline = time.perf_counter() + seconds
    for _ in range(int(seconds / every) + 2):
        if condition():
            return True
        if time.perf_counter() >= deadline:
            break
        await asyncio.sleep(every)
    return condition()
