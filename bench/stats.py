"""Figures and how they are computed: percentiles, paired rounds, ratios.

On a noisy two-core machine an absolute time means little, so every figure is measured
beside its baseline in rounds that alternate which side goes first, and the ratio is the
median of the per-round ratios (its range shows how much the machine moved under us).
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` (0..1) percentile by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Measurement:
    """One round of one side: its headline value and the per-operation times behind it."""

    value: float
    latencies_ms: list[float] = field(default_factory=list)
    count: int = 0
    note: str = ""


@dataclass
class Side:
    """One side of a figure (ours or the baseline) over every round."""

    name: str
    value: float
    unit: str
    rounds: list[float]
    count: int
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None

    @classmethod
    def of(cls, name: str, unit: str, measurements: Sequence[Measurement],
           headline: str = "median") -> Side:
        """Pool the rounds: median headline (or the pooled p50 for latency figures)."""
        pooled = [ms for m in measurements for ms in m.latencies_ms]
        rounds = [m.value for m in measurements]
        has_latencies = bool(pooled)
        p50 = percentile(pooled, 0.50) if has_latencies else None
        value = p50 if headline == "p50" and p50 is not None else statistics.median(rounds)
        return cls(
            name=name, value=value, unit=unit, rounds=rounds,
            count=sum(m.count for m in measurements),
            p50_ms=p50,
            p95_ms=percentile(pooled, 0.95) if has_latencies else None,
            p99_ms=percentile(pooled, 0.99) if has_latencies else None,
        )


@dataclass
class Figure:
    """A figure of ours beside its baseline, and ours / baseline."""

    benchmark: str
    backend: str
    case: str
    ours: Side
    baseline: Side
    higher_is_better: bool
    ratio: float
    ratio_range: tuple[float, float]
    p99_ratio: float | None = None
    note: str = ""
    load: float | None = None
    """The offered load (commands per second) of a latency-under-load figure."""


def _safe_ratio(ours: float, baseline: float) -> float:
    return ours / baseline if baseline else float("nan")


def figure(
    benchmark: str, backend: str, case: str, ours: Side, baseline: Side, *,
    higher_is_better: bool, note: str = "", load: float | None = None,
) -> Figure:
    """Ratio = median of per-round ours / baseline (paired rounds), with its range."""
    if len(ours.rounds) == len(baseline.rounds) and ours.rounds:
        per_round = [_safe_ratio(o, b) for o, b in zip(ours.rounds, baseline.rounds, strict=True)]
    else:  # unpaired (one ours between two baselines): each ours against each baseline
        per_round = [_safe_ratio(o, b) for o in ours.rounds for b in baseline.rounds]
    headline = _safe_ratio(ours.value, baseline.value)
    p99 = None
    if ours.p99_ms is not None and baseline.p99_ms is not None:
        p99 = _safe_ratio(ours.p99_ms, baseline.p99_ms)
    ratio = statistics.median(per_round) if ours.unit.endswith("/s") else headline
    return Figure(
        benchmark=benchmark, backend=backend, case=case, ours=ours, baseline=baseline,
        higher_is_better=higher_is_better, ratio=ratio,
        ratio_range=(min(per_round, default=headline), max(per_round, default=headline)),
        p99_ratio=p99, note=note, load=load,
    )


Run = Callable[[], Awaitable[Measurement]]


async def rotated_rounds(rounds: int, *sides: Run) -> list[list[Measurement]]:
    """Run every side `rounds` times, rotating which goes first each round, so drift in
    the machine's speed (another process waking, thermal steps) lands on all sides alike.
    Returns the measurements per side, in the order the sides were given."""
    results: list[list[Measurement]] = [[] for _ in sides]
    for number in range(rounds):
        for offset in range(len(sides)):
            index = (number + offset) % len(sides)
            results[index].append(await sides[index]())
    return results


async def paired_rounds(rounds: int, ours: Run, baseline: Run) -> tuple[
        list[Measurement], list[Measurement]]:
    """`rotated_rounds` of ours and one baseline."""
    mine, theirs = await rotated_rounds(rounds, ours, baseline)
    return mine, theirs
