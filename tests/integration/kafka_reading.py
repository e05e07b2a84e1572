"""Reading the service's Kafka topics back in tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


async def read_until(
    bootstrap_servers: str,
    topic: str,
    done: Callable[[list[Record]], bool],
    keep: Callable[[Record], bool] = lambda _: True,
    seconds: float = 30.0,
) -> list[Record]:
    """Read `topic` from the beginning (no group) until `done(kept records)` or time runs out."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, group_id=None,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    kept: list[Record] = []
    try:
        deadline = asyncio.get_running_loop().time() + seconds
        while not done(kept):
            assert asyncio.get_running_loop().time() < deadline, (
                f"{topic}: only {len(kept)} matching records in {seconds}s"
            )
            batches = await consumer.getmany(timeout_ms=500)
            kept.extend(r for records in batches.values() for r in records if keep(r))
    finally:
        await consumer.stop()
    return kept
