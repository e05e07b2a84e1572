"""`travelbuddy dlq list|replay`: inspect the partners' dead letters and send them back.

They run as their own process, on the service's bus: Kafka when
TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS is set, else the embedded default's SQLite bus in the
data folder (`bus.sqlite3`; a running service sees what they publish there within a
fraction of a second). They read the DLQ without a consumer group and publish only to the
reply topics and the replays topic, so they never take part in the service's groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Annotated, Protocol, TypeVar

import typer

from travelbuddy.config import Settings
from travelbuddy.integration.bus import Bus
from travelbuddy.integration.dead_letter_replay import (
    ReplayReport,
    ReplayState,
    Selection,
    reason_counts,
    replay_dead_letters,
    tracked_dead_letters,
)
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.sqlite_bus import SqliteBus

T = TypeVar("T")

dlq_app = typer.Typer(
    help="Inspect and replay the partners' replies that could not be handled.",
    no_args_is_help=True,
)


class _Bar(Protocol):
    def update(self, n_steps: int) -> None: ...


class _Progress:
    """A progress bar on stderr, opened at the first report, when the total is known."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._stack = contextlib.ExitStack()
        self._bar: _Bar | None = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stack.close()

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = self._stack.enter_context(
                typer.progressbar(length=total, label=self._label, file=sys.stderr)
            )
        self._bar.update(1)


def open_bus(settings: Settings) -> Bus:
    """The service's bus as these settings name it: Kafka, or the SQLite bus of the data
    folder, which must exist already (a listing must not make an empty one)."""
    if settings.kafka_bootstrap_servers:
        return KafkaBus(settings.kafka_bootstrap_servers)
    from travelbuddy.bootstrap import BUS_FILE  # the composition root names the file

    path = settings.data_dir / BUS_FILE
    if not path.exists():
        typer.echo(f"no bus at {path}: set TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS, or "
                   "TRAVELBUDDY_DATA_DIR to the embedded service's data folder", err=True)
        raise typer.Exit(2)
    return SqliteBus(path)


def _on_bus(work: Callable[[Bus], Awaitable[T]]) -> T:
    bus = open_bus(Settings())

    async def run() -> T:
        try:
            return await work(bus)
        finally:
            await bus.close()

    return asyncio.run(run())


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


@dlq_app.command("list")
def list_dead_letters() -> None:
    """Show each dead letter (its id, reason, replay state, source and key), then how many
    there are per reason and replay state."""
    with _Progress("reading dead letters") as progress:
        tracked = _on_bus(lambda bus: tracked_dead_letters(bus, progress))
    for item in tracked:
        letter = item.letter
        came_back = f" replay_of={letter.replay_of}" if letter.replay_of else ""
        typer.echo(
            f"id={letter.id} reason={letter.reason} fault={letter.fault} state={item.state}"
            f"{came_back} source={letter.source_topic}/{letter.source_partition}/"
            f"{letter.source_offset} key={_text(letter.key)!r} error={letter.error!r}"
        )
    states = list(ReplayState)
    typer.echo(f"{'reason':<20} {'fault':<10} {'total':>6}"
               + "".join(f" {state:>9}" for state in states))
    for line in reason_counts(tracked):
        typer.echo(f"{line.reason:<20} {line.fault:<10} {line.total:>6}"
                   + "".join(f" {line.states[state]:>9}" for state in states))
    replayed = sum(item.state is ReplayState.REPLAYED for item in tracked)
    typer.echo(f"{len(tracked)} dead letters, {replayed} replayed")


@dlq_app.command("replay")
def replay(
    ids: Annotated[list[str] | None, typer.Option(
        "--id", help="A dead letter's id, as listed; repeatable.")] = None,
    reasons: Annotated[list[str] | None, typer.Option(
        "--reason", help="Only dead letters of this reason; repeatable.")] = None,
    from_offset: int | None = typer.Option(
        None, min=0, help="Only dead letters at this DLQ offset or later."),
    to_offset: int | None = typer.Option(
        None, min=0, help="Only dead letters at this DLQ offset or earlier."),
    force: bool = typer.Option(
        False, help="Also send dead letters of a permanent (or unknown) reason."),
    again: bool = typer.Option(
        False, help="Also send dead letters replayed before (or in doubt)."),
) -> None:
    """Send the chosen dead letters (all, without a choice) back to the topics they came
    from, except those replayed before and, without --force, those whose reason says
    sending them again cannot help."""
    if from_offset is not None and to_offset is not None and from_offset > to_offset:
        typer.echo("--from-offset is after --to-offset", err=True)
        raise typer.Exit(2)
    selection = Selection(frozenset(ids or ()), frozenset(reasons or ()), from_offset, to_offset)
    with _Progress("replaying dead letters") as progress:
        report = _on_bus(lambda bus: replay_dead_letters(
            bus, selection, force=force, again=again, progress=progress))
    _print_report(report)


def _print_report(report: ReplayReport) -> None:
    typer.echo(f"replayed {len(report.sent)} dead letters"
               + (f": {' '.join(report.sent)}" if report.sent else ""))
    if report.replayed_before:
        typer.echo(f"not sent again, replayed before: {len(report.replayed_before)}"
                   " (--again sends them)")
    if report.refused:
        reasons = " ".join(f"{reason}={count}" for reason, count in sorted(report.refused.items()))
        typer.echo(f"refused, permanent: {sum(report.refused.values())} ({reasons};"
                   " --force sends them)")
    if report.not_replayable:
        typer.echo(f"not from a reply topic, never sent: {' '.join(report.not_replayable)}")
    if report.unknown_ids:
        typer.echo(f"no such dead letter: {' '.join(report.unknown_ids)}")
