"""10. Ownership timing: another customer's booking against a booking id that does not exist.

A customer's command on another customer's booking must be refused exactly as one on an
unknown id (`BOOKING_NOT_FOUND`), and take the same time, or the time tells the booking
exists. Ours: `BookingCommands.handle(CancelBooking)` by a customer on other customers'
bookings (each a booking life of three events: requested, hotel and flight confirmed),
as the command schema calls it. Baseline: the same command on a fresh unknown id. A
third side, another fresh unknown id, measures the noise: unknown vs unknown (A/A) is
what "within noise" means. The three are interleaved one try each, the order rotated
every try, so drift of the machine lands on all of them.

The second figure is the same measurement with the stream read unfiltered and another
customer's events dropped after loading, as the handler did before the store filtered
by owner: what the first figure would show without the change.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

from bench.context import BenchContext
from bench.stats import Figure, Measurement, Side, figure
from bench.traffic import booking_commands
from travelbuddy.application import BookingCommands, Caller, StaticCatalog
from travelbuddy.domain import BookingNotFound, CancelBooking
from travelbuddy.eventstore.port import EventStore, StoredEvent

NAME = "10 ownership timing"
USES_MONGODB = True
OWNER, INTRUDER = Caller("bench-owner"), Caller("bench-intruder")
WARM_UP_TRIES = 50


class UnfilteredReads:
    """The store, with reads as they were before the owner filter: the whole stream is
    loaded, and another customer's is dropped afterwards."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def read(self, stream_id: str, owner: str | None = None) -> list[StoredEvent]:
        events = await self._store.read(stream_id)
        if owner is not None and events and events[0].metadata.customer_id != owner:
            return []
        return events


async def refused_in_ms(commands: BookingCommands, booking_id: str) -> float:
    """How long the intruder's cancellation of `booking_id` takes to be refused."""
    begun = time.perf_counter()
    try:
        await commands.handle(CancelBooking(booking_id=booking_id, reason="mine now"), INTRUDER)
    except BookingNotFound:
        return (time.perf_counter() - begun) * 1000
    raise AssertionError(f"the intruder's cancellation of {booking_id} was accepted")


async def owners_bookings(commands: BookingCommands, count: int) -> list[str]:
    """`count` booking lives of the owner, through the handler."""
    booking_ids = []
    for n in range(count):
        for command, caller in booking_commands(n, OWNER.customer_id):
            await commands.handle(command, caller)
        booking_ids.append(command.booking_id)
    return booking_ids


async def interleaved(commands: BookingCommands, foreign: Sequence[str], tries: int
                      ) -> list[list[float]]:
    """Times of `tries` refusals each: foreign bookings, unknown ids, other unknown ids."""
    sides: list[Callable[[int], str]] = [
        lambda n: foreign[n % len(foreign)], lambda n: str(uuid.uuid4()),
        lambda n: str(uuid.uuid4())]
    times: list[list[float]] = [[] for _ in sides]
    for n in range(tries):
        for offset in range(len(sides)):
            side = (n + offset) % len(sides)
            times[side].append(await refused_in_ms(commands, sides[side](n)))
    return times


def _measurement(latencies_ms: list[float]) -> Measurement:
    return Measurement(value=statistics.median(latencies_ms) * 1000,
                       latencies_ms=latencies_ms, count=len(latencies_ms))


async def _figure(ctx: BenchContext, backend: str, commands: BookingCommands,
                  foreign: Sequence[str], case: str) -> Figure:
    await interleaved(commands, foreign, WARM_UP_TRIES)
    rounds = [await interleaved(commands, foreign, ctx.sizes.ownership_tries)
              for _ in range(ctx.sizes.rounds)]
    foreign_side, unknown_side, noise_side = (
        [_measurement(times[side]) for times in rounds] for side in range(3))
    ours = Side.of("another customer's booking", "µs median", foreign_side)
    baseline = Side.of("an unknown booking id", "µs median", unknown_side)
    noise = Side.of("another unknown booking id", "µs median", noise_side)
    result = figure(
        NAME, backend, f"{case}; {ctx.sizes.ownership_tries:,} tries per side and round, "
        f"{len(foreign)} foreign bookings of 3 events", ours, baseline,
        higher_is_better=False,
        note=f"A/A (unknown vs unknown id): {noise.value / baseline.value:.3f}; "
             f"difference of the medians {ours.value - baseline.value:+.1f} µs")
    ctx.log(f"{NAME} ({backend}, {case}): foreign {ours.value:.1f} µs, unknown "
            f"{baseline.value:.1f} µs, ratio {result.ratio:.3f}, A/A "
            f"{noise.value / baseline.value:.3f}")
    return result


async def run(ctx: BenchContext) -> list[Figure]:
    figures = []
    for backend in ctx.backends:
        async with ctx.services(ctx.settings(backend, "ownership")) as services:
            foreign = await owners_bookings(services.commands, ctx.sizes.ownership_bookings)
            figures.append(await _figure(ctx, backend, services.commands, foreign,
                                         "read filtered by owner in the store"))
            before = BookingCommands(cast(EventStore, UnfilteredReads(services.store)),
                                     StaticCatalog())
            figures.append(await _figure(ctx, backend, before, foreign,
                                         "before: read unfiltered, dropped after loading"))
    return figures
