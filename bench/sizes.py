"""How big each benchmark runs: the full run (about ten minutes) and `--quick` (under one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    """Counts and durations; every loop of the harness is bounded by these."""

    rounds: int
    """Paired rounds (ours, baseline) for the benchmarks cheap enough to repeat."""
    command_rounds: int
    """Paired rounds of benchmark 1: short and many, because the test MongoDB's speed
    swings from one second to the next and a median of many pairs holds still."""
    command_seconds: float
    """Length of one throughput round at one concurrency."""
    command_warm_up_seconds: float
    command_concurrency: tuple[int, ...]
    max_operations: int
    """Hard cap on operations in one throughput round, whatever the time says."""
    projection_events: int
    """Events in the pre-filled store the projector runs through (both backends)."""
    projection_seconds: float
    """Longest the projector runs; past it, the figure is its rate until then."""
    e2e_rates: tuple[int, ...]
    e2e_seconds: float
    e2e_warm_up_seconds: float
    query_bookings: int
    query_customers: int
    query_requests: int
    """Requests per side and round, at `query_concurrency`."""
    query_warm_up_requests: int
    query_concurrency: int
    peer_events: int
    peer_streams: int
    memory_events: tuple[int, ...]
    fanout_subscriptions: tuple[int, ...]
    """Open `bookingUpdated` subscriptions at each step of benchmark 7 (one booking each)."""
    fanout_idle_seconds: float
    """How long the server's idle CPU is sampled at each step."""
    fanout_rate: int
    """Changes per second on subscribed bookings while push latency is measured."""
    fanout_seconds: float
    fanout_warm_up_seconds: float
    fanout_mongodb: bool
    """Whether benchmark 7 also runs on MongoDB (not in --quick: the minute would not do)."""
    restart_events: tuple[int, ...]
    """Events in the store before each restart of benchmark 8 (the store grows)."""
    restart_rounds: int
    """Restarts measured per size; the RSS a while later is read on the first."""
    restart_later_seconds: float
    """How long after /readyz said ready the RSS is read again."""
    ownership_tries: int
    """Refusals per side and round of benchmark 10 (a foreign booking, an unknown id)."""
    ownership_bookings: int
    """Other customers' bookings benchmark 10 cycles through."""
    instrumentation_rounds: int
    """Rotated rounds of benchmark 11 (every side's servers running side by side)."""
    instrumentation_command_seconds: float
    """Length of one command round of benchmark 11 (its queries: `query_requests`)."""
    instrumentation_parts: bool
    """Whether benchmark 11 also measures the default (tracing on, no exporter), metrics
    alone and a tenth of the traces sampled."""
    instrumentation_mongodb: bool
    """Whether benchmark 11 also runs on MongoDB."""
    time_limit: float
    """Seconds any single wait of the harness may take before it gives up."""


FULL = Sizes(
    rounds=3,
    command_rounds=8,
    command_seconds=0.75,
    command_warm_up_seconds=0.3,
    command_concurrency=(1, 8, 32),
    max_operations=50_000,
    projection_events=20_000,
    projection_seconds=45.0,
    e2e_rates=(20, 50, 100),
    e2e_seconds=6.0,
    e2e_warm_up_seconds=2.0,
    query_bookings=600,
    query_customers=20,
    query_requests=400,
    query_warm_up_requests=64,
    query_concurrency=16,
    peer_events=8_000,
    peer_streams=800,
    memory_events=(10_000, 50_000),
    fanout_subscriptions=(1_000, 5_000, 10_000),
    fanout_idle_seconds=5.0,
    fanout_rate=20,
    fanout_seconds=5.0,
    fanout_warm_up_seconds=1.0,
    fanout_mongodb=True,
    restart_events=(10_000, 100_000),
    restart_rounds=3,
    restart_later_seconds=10.0,
    ownership_tries=1_000,
    ownership_bookings=200,
    instrumentation_rounds=5,
    instrumentation_command_seconds=1.5,
    instrumentation_parts=True,
    instrumentation_mongodb=True,
    time_limit=240.0,
)

QUICK = Sizes(
    rounds=1,
    command_rounds=1,
    command_seconds=0.25,
    command_warm_up_seconds=0.1,
    command_concurrency=(1, 8, 32),
    max_operations=5_000,
    # mongo-java-server scans its whole oplog on every change-stream getMore: keep it small.
    projection_events=600,
    projection_seconds=15.0,
    e2e_rates=(20, 100),  # two loads, not three: the quick run must stay under a minute
    e2e_seconds=0.5,
    e2e_warm_up_seconds=0.3,
    query_bookings=100,
    query_customers=4,
    query_requests=64,
    query_warm_up_requests=16,
    query_concurrency=16,
    peer_events=1_000,
    peer_streams=100,
    memory_events=(1_000, 2_000),
    fanout_subscriptions=(200,),
    fanout_idle_seconds=0.5,
    fanout_rate=20,
    fanout_seconds=1.0,
    fanout_warm_up_seconds=0.3,
    fanout_mongodb=False,
    restart_events=(1_000,),
    restart_rounds=1,
    restart_later_seconds=0.5,
    ownership_tries=300,
    ownership_bookings=50,
    instrumentation_rounds=1,
    instrumentation_command_seconds=0.5,
    instrumentation_parts=False,
    instrumentation_mongodb=False,
    time_limit=30.0,
)
