"""The results: `latest.json`, `latest.md` (every figure beside its baseline) and
`latency.png` (end-to-end latency percentiles against load)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.stats import Figure, Side

E2E_BENCHMARK = "3 end-to-end latency"


def _number(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _side_value(side: Side) -> str:
    return f"{_number(side.value)} {side.unit}"


def _percentiles(side: Side) -> str:
    if side.p50_ms is None:
        return "–"
    return f"{_number(side.p50_ms, 2)} / {_number(side.p95_ms, 2)} / {_number(side.p99_ms, 2)}"


def _r(value: float) -> str:
    return f"{value:.3g}" if value < 10 else f"{value:,.0f}"


def _ratio(figure: Figure) -> str:
    low, high = figure.ratio_range
    spread = "" if math.isclose(low, high) else f" ({_r(low)}–{_r(high)})"
    return f"**{_r(figure.ratio)}**{spread}"


def write_json(path: Path, run: dict[str, Any], figures: Sequence[Figure]) -> None:
    """Everything, machine-readable."""
    document = dict(run) | {"figures": [dataclasses.asdict(f) for f in figures]}
    path.write_text(json.dumps(document, indent=2, default=str, allow_nan=True) + "\n")


def markdown(run: dict[str, Any], figures: Sequence[Figure]) -> str:
    """The table: every figure, its baseline and ours / baseline, with percentiles."""
    machine = run["machine"]
    lines = [
        f"# Benchmark results ({run['mode']} run)",
        "",
        f"- date: {machine['date']}; wall time {run['wall_seconds']:.0f} s",
        f"- machine: {machine['cores']} cores ({machine['cpu']}), "
        f"{machine['memory_gib']} GiB, load average at start "
        f"{', '.join(str(x) for x in machine['load_average_at_start'])}"
        + (f", at the end {', '.join(str(x) for x in run['load_average_at_end'])}"
           if run.get("load_average_at_end") else ""),
        f"- Python {machine['python']} ({machine['implementation']}), {machine['os']}",
        f"- commit: {machine['commit']}",
        "- backends: " + "; ".join(f"`{name}` = {label}"
                                   for name, label in run["backends"].items()),
        "",
        "Ratio = ours / baseline, measured in the same run (throughput: median of paired "
        "rounds, range in brackets; latency and memory: of the headline value). For "
        "throughput higher is better, for latency and memory lower is better. "
        "Percentiles are per operation, in milliseconds.",
        "",
        "| benchmark | backend | case | ours | baseline | ours / baseline | "
        "ours p50 / p95 / p99 ms | baseline p50 / p95 / p99 ms | p99 ratio |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in figures:
        p99 = "–" if f.p99_ratio is None or math.isnan(f.p99_ratio) else _r(f.p99_ratio)
        lines.append(
            f"| {f.benchmark} | {f.backend} | {f.case} | {_side_value(f.ours)} | "
            f"{_side_value(f.baseline)} | {_ratio(f)} | {_percentiles(f.ours)} | "
            f"{_percentiles(f.baseline)} | {p99} |")
    lines += ["", "## What each side is", ""]
    seen: set[tuple[str, str, str]] = set()
    for f in figures:
        key = (f.benchmark, f.ours.name, f.baseline.name)
        if key not in seen:
            seen.add(key)
            lines.append(f"- {f.benchmark}: ours = {f.ours.name}; baseline = {f.baseline.name}")
    notes = [f"- {f.benchmark}, {f.backend}, {f.case}: {f.note}" for f in figures if f.note]
    notes += [f"- {note}" for note in run.get("notes", [])]
    if notes:
        lines += ["", "## Notes", "", *notes]
    if run.get("failures"):
        lines += ["", "## Benchmarks that failed", ""]
        lines += [f"- {name}: {error}" for name, error in run["failures"].items()]
    timings = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in run["timings"].items())
    lines += ["", f"Time per benchmark: {timings}.", ""]
    return "\n".join(lines)


def plot_latency(path: Path, figures: Sequence[Figure]) -> bool:
    """End-to-end latency p50 / p95 / p99 against offered load, one panel per backend.
    Returns False when there is nothing to plot."""
    e2e = [f for f in figures if f.benchmark == E2E_BENCHMARK and f.load is not None]
    if not e2e:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = sorted({f.backend for f in e2e})
    fig, axes = plt.subplots(1, len(backends), figsize=(6 * len(backends), 4.5), squeeze=False)
    styles = (("p50_ms", "p50", "o", "tab:blue"), ("p95_ms", "p95", "s", "tab:orange"),
              ("p99_ms", "p99", "^", "tab:red"))
    for axis, backend in zip(axes[0], backends, strict=True):
        rows = sorted((f for f in e2e if f.backend == backend), key=lambda f: f.load or 0)
        loads = [f.load for f in rows]
        for attribute, label, marker, color in styles:
            axis.plot(loads, [getattr(f.ours, attribute) for f in rows], marker=marker,
                      color=color, label=f"ours {label}")
        for attribute, label, marker, color in styles:
            axis.plot(loads, [getattr(f.baseline, attribute) for f in rows], marker=marker,
                      color=color, linestyle="--", alpha=0.5, label=f"raw path {label}")
        axis.set_title(f"{backend}: mutation response → subscription push")
        axis.set_xlabel("offered load (commands per second)")
        axis.set_ylabel("latency (ms)")
        axis.set_yscale("log")
        axis.set_xticks(loads)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
