"""`python -m bench.profile NAME [--backend embedded|mongodb] [--count N]`: one benchmark's
own side, in this process, under pyinstrument.

    projection   the ProjectorRunner over a pre-filled store          (benchmark 2)
    commands     BookingCommands.handle, booking lives, one at a time (benchmark 1)
    queries      GraphQL booking(id) over the ASGI app, one at a time (benchmark 4)
    mutations    GraphQL RequestBooking over the ASGI app             (benchmark 3's load)
    peer         SqliteEventStore.append, one event per append        (benchmark 5)

Prints the call tree and writes bench/results/profile-NAME-BACKEND.txt (and, with --html,
the interactive HTML report beside it).

pyinstrument samples the event loop's thread only: work handed to `asyncio.to_thread` (every
SQLite call of the embedded default) shows as `[await]`. `--inline-threads` runs those calls
on the event loop instead, so that their Python work (a commit's JSON encoding, say) and
SQLite's are attributed; the total is then CPU, not wall time with waits.

Metrics and tracing are as the environment says, as in the service
(`TRAVELBUDDY_METRICS_ENABLED`, `TRAVELBUDDY_TRACING_ENABLED`, `OTEL_EXPORTER_OTLP_ENDPOINT`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from pyinstrument import Profiler
from pyinstrument.renderers import ConsoleRenderer

from bench.context import EMBEDDED, MONGODB, BenchContext, mongodb, mongodb_label
from bench.identity import headers
from bench.operations import operation
from bench.prefill import fill_mongo_after_anchor, fill_sqlite
from bench.projection_throughput import projector
from bench.sizes import FULL
from bench.traffic import booking_commands, lone_request, recorded_events, request_input
from travelbuddy.bootstrap import EVENTS_FILE, Services
from travelbuddy.eventstore.port import NewEvent
from travelbuddy.eventstore.sqlite import SqliteEventStore
from travelbuddy.observability.tracing import configure_tracing

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_COUNTS = {"projection": 3_000, "commands": 3_000, "queries": 1_000,
                  "mutations": 500, "peer": 3_000}

Work = Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def prepared(ctx: BenchContext, name: str, backend: str, count: int
                   ) -> AsyncIterator[Work]:
    """The work to profile, with everything it needs set up (and not profiled)."""
    settings = ctx.settings(backend, f"profile-{name}")
    # As the service sets tracing up (TRAVELBUDDY_TRACING_ENABLED, OTEL_EXPORTER_OTLP_ENDPOINT).
    configure_tracing(settings, "profile")
    if name == "projection":
        events = await recorded_events(count)
        if backend == EMBEDDED:
            await fill_sqlite(settings.data_dir / EVENTS_FILE, events)
        async with ctx.services(settings) as services:
            token: Any = 0
            if backend == MONGODB:
                async with ctx.mongo_database(settings.mongodb_database) as database:
                    token = await fill_mongo_after_anchor(database, await lone_request(),
                                                          events, 60)

            async def project() -> None:
                await projector(services, token, count, 600)

            yield project
    elif name == "commands":
        async with ctx.services(settings) as services:

            async def handle() -> None:
                for n in range(-(-count // 3)):
                    for command, caller in booking_commands(n, f"profile-{n % 50}"):
                        await services.commands.handle(command, caller)

            yield handle
    elif name in ("queries", "mutations"):
        events = await recorded_events(600, customers=20)
        if backend == EMBEDDED:
            await fill_sqlite(settings.data_dir / EVENTS_FILE, events)
        async with ctx.services(settings) as services, _asgi_client(services) as http:
            if backend == MONGODB:
                from bench.prefill import fill_mongo

                async with ctx.mongo_database(settings.mongodb_database) as database:
                    await fill_mongo(database, events)
            await _caught_up(services)
            bookings = [(e.stream_id.removeprefix("booking-"), e.event.metadata.customer_id)
                        for e in events if e.version == 1]

            async def query() -> None:
                for n in range(count):
                    booking_id, customer = bookings[n % len(bookings)]
                    response = await http.post("/graphql", headers=headers(customer), json={
                        "query": operation("Booking"), "variables": {"id": booking_id}})
                    assert response.json()["data"]["booking"], response.text

            async def mutate() -> None:
                for n in range(count):
                    response = await http.post(
                        "/graphql/command", headers=headers("profile-customer"),
                        json={"query": operation("RequestBooking"),
                              "variables": {"input": request_input(n)}})
                    assert response.json()["data"]["requestBooking"]["__typename"] == \
                        "CommandAccepted", response.text

            yield query if name == "queries" else mutate
    elif name == "peer":
        sample = await recorded_events(count)
        store = SqliteEventStore(settings.data_dir / "peer.sqlite3") if backend == EMBEDDED \
            else SqliteEventStore(ctx.folder("peer") / "peer.sqlite3")
        streams = [f"booking-{uuid.uuid4()}" for _ in range(max(1, count // 10))]

        async def append() -> None:
            for number, recorded in enumerate(sample):
                event = recorded.event
                await store.append(streams[number % len(streams)], number // len(streams),
                                   [NewEvent(event.type, event.schema_version, event.data,
                                             event.metadata)])

        try:
            yield append
        finally:
            store.close()
    else:
        raise SystemExit(f"unknown profile {name}; one of {', '.join(DEFAULT_COUNTS)}")


async def _caught_up(services: Services) -> None:
    runner = services.projector()
    ready = asyncio.Event()
    task = asyncio.create_task(runner.run(ready))
    try:
        await asyncio.wait_for(ready.wait(), timeout=240)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@contextlib.asynccontextmanager
async def _asgi_client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    from travelbuddy.app import create_app

    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        yield client


async def _inline(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """`asyncio.to_thread` run on the event loop, for `--inline-threads`."""
    return func(*args, **kwargs)


async def profile(ctx: BenchContext, name: str, backend: str, count: int,
                  inline_threads: bool = False) -> Profiler:
    if inline_threads:
        asyncio.to_thread = _inline
    async with prepared(ctx, name, backend, count) as work:
        profiler = Profiler(async_mode="enabled", interval=0.0005)
        began = time.perf_counter()
        with profiler:
            await work()
        ctx.log(f"profiled {name} on {backend}: {count:,} in {time.perf_counter() - began:.1f} s")
    return profiler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(DEFAULT_COUNTS))
    parser.add_argument("--backend", choices=[EMBEDDED, MONGODB], default=EMBEDDED)
    parser.add_argument("--count", type=int, help="operations (events for projection)")
    parser.add_argument("--show-all", action="store_true",
                        help="show library frames too (strawberry, graphql-core, pymongo)")
    parser.add_argument("--show", metavar="REGEX",
                        help="also show library frames whose file matches, e.g. "
                        "'strawberry/schema/schema.py|graphql/validation/validate.py'")
    parser.add_argument("--html", action="store_true", help="also write the HTML report")
    parser.add_argument("--inline-threads", action="store_true",
                        help="run asyncio.to_thread calls on the event loop, so that the "
                        "profile sees them (the SQLite work of the embedded default)")
    args = parser.parse_args(argv)
    count = args.count or DEFAULT_COUNTS[args.name]
    # Its timer costs ~3 µs a call on this kind of machine: known, and the same for all.
    os.environ.setdefault("PYINSTRUMENT_IGNORE_OVERHEAD_WARNING", "1")
    scratch = Path(tempfile.mkdtemp(prefix="travelbuddy-profile-"))
    try:
        with mongodb(scratch, wanted=args.backend == MONGODB) as url:
            ctx = BenchContext(sizes=FULL, quick=False, scratch=scratch, mongodb_url=url,
                               mongodb_label=mongodb_label(args.backend == MONGODB))
            profiler = asyncio.run(profile(ctx, args.name, args.backend, count,
                                           args.inline_threads))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"profile-{args.name}-{args.backend}"
    renderer = ConsoleRenderer(unicode=True, color=False, show_all=args.show_all,
                               processor_options={"show_regex": args.show})
    text = profiler.output(renderer)
    command = " ".join(["python -m bench.profile", *(argv if argv is not None else sys.argv[1:])])
    stem.with_suffix(".txt").write_text(f"{command}\n{text}")
    written = [f"{stem}.txt"]
    if args.html:  # tens of MB: not kept in the repository (bench/results/.gitignore)
        stem.with_suffix(".html").write_text(profiler.output_html())
        written.append(f"{stem}.html")
    print(text)
    print(f"written: {', '.join(written)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
