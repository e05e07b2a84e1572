"""What every benchmark gets: the sizes, a scratch folder, and the two backends.

`mongodb` is the test MongoDB (tests/services: mongo-java-server with its oplog on),
started here the way tests/conftest.py starts it, or the server named by
TRAVELBUDDY_MONGODB_URL. `embedded` is the embedded default: events and read models in
two SQLite files.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from bench.identity import settings_overrides
from bench.sizes import Sizes
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings

MONGODB = "mongodb"
EMBEDDED = "embedded"
EMBEDDED_LABEL = "embedded default: SQLite event store + SQLite read models"


@dataclass
class BenchContext:
    """Sizes, scratch space and backends for one run of the harness."""

    sizes: Sizes
    quick: bool
    scratch: Path
    mongodb_url: str | None
    """The MongoDB of the benchmark running now (None: embedded only)."""
    mongodb_label: str
    started: float = field(default_factory=time.monotonic)

    @property
    def backends(self) -> list[str]:
        """The backends to run on: both, or the embedded default alone without MongoDB."""
        return [MONGODB, EMBEDDED] if self.mongodb_url else [EMBEDDED]

    def label(self, backend: str) -> str:
        """What a backend is, for the report."""
        return self.mongodb_label if backend == MONGODB else EMBEDDED_LABEL

    def log(self, message: str) -> None:
        """Progress on stderr, with the seconds since the run started."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr,
              flush=True)

    def folder(self, name: str) -> Path:
        """A fresh folder under the scratch space."""
        path = self.scratch / f"{name}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path

    def settings(self, backend: str, name: str) -> Settings:
        """Settings for a fresh database (MongoDB) or data folder (embedded), no Kafka."""
        if backend == MONGODB:
            return Settings(mongodb_url=self.mongodb_url,
                            mongodb_database=f"bench_{name}_{uuid.uuid4().hex[:8]}",
                            kafka_bootstrap_servers=None, **settings_overrides())
        return Settings(mongodb_url=None, kafka_bootstrap_servers=None,
                        data_dir=self.folder(name), **settings_overrides())

    @contextlib.asynccontextmanager
    async def services(self, settings: Settings) -> AsyncIterator[Services]:
        """The service's stores and command handler, built as the service builds them."""
        services = await build_services(settings)
        try:
            yield services
        finally:
            await services.close()

    @contextlib.asynccontextmanager
    async def mongo_database(self, name: str
                             ) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
        """Database `name` of this benchmark's MongoDB on a client of the harness's own,
        for what a benchmark does beside the service (pre-fill, raw baselines, emptying
        `events`): the service keeps its client to itself."""
        assert self.mongodb_url is not None, "a MongoDB benchmark without MongoDB"
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.mongodb_url,
                                                                   tz_aware=True)
        try:
            yield client[name]
        finally:
            await client.close()


TEST_MONGODB_LABEL = ("test MongoDB (tests/services): mongo-java-server 1.47.0, memory "
                      "backend, oplog on, a fresh server per benchmark")


def mongodb_label(wanted: bool) -> str:
    """What `mongodb()` will run on."""
    if not wanted:
        return "not run (--embedded-only)"
    if os.environ.get("TRAVELBUDDY_MONGODB_URL"):
        return "MongoDB at TRAVELBUDDY_MONGODB_URL"
    return TEST_MONGODB_LABEL


# The tests' JVM options favour a quick start (C1 only, 512 MiB, serial GC). A benchmark
# writes far more: the server keeps every write in its in-memory oplog, and with the
# tests' heap a long benchmark ends in back-to-back collections that stall both sides.
BENCH_JVM_OPTIONS = ("-Xmx4g", "-XX:+UseParallelGC")


@contextlib.contextmanager
def mongodb(scratch: Path, wanted: bool) -> Iterator[str | None]:
    """A MongoDB URL for one benchmark: TRAVELBUDDY_MONGODB_URL, or a test server started
    here and stopped by PID on the way out; None when not wanted.

    The test server is started afresh for each benchmark because it scans its whole
    oplog on every change-stream getMore: one benchmark's writes would slow the next.
    """
    if not wanted:
        yield None
        return
    if url := os.environ.get("TRAVELBUDDY_MONGODB_URL"):
        yield url
        return
    from tests.services.testbed import MongoTestServer

    server = MongoTestServer(scratch, jvm_options=BENCH_JVM_OPTIONS)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
