"""`travelbuddy dlq list|replay`: inspect the partners' dead letters and send them back.

These run as their own process, so they need Kafka: the in-process bus of a running
service is out of their reach."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol, TypeVar

import typer

from travelbuddy.config import Settings
from travelbuddy.integration.bus import Bus
from travelbuddy.integration.dead_letters import read_dead_letters, replay_dead_letters
from travelbuddy.integration.kafka_bus import KafkaBus

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


def _bootstrap_servers() -> str:
    servers = Settings().kafka_bootstrap_servers
    if not servers:
        typer.echo("TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS is not set", err=True)
        raise typer.Exit(2)
    return servers


def _on_kafka(servers: str, work: Callable[[Bus], Awaitable[T]]) -> T:
    async def run() -> T:
        bus = KafkaBus(servers)
        try:
            return await work(bus)
        finally:
            await bus.close()

    return asyncio.run(run())


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


@dlq_app.command("list")
def list_dead_letters() -> None:
    """Show each dead letter: where it came from, why it was parked, its key."""
    servers = _bootstrap_servers()
    with _Progress("reading dead letters") as progress:
        letters = _on_kafka(servers, lambda bus: read_dead_letters(bus, progress))
    for letter in letters:
        typer.echo(
            f"source={letter.source_topic}/{letter.source_partition}/{letter.source_offset} "
            f"error_type={letter.error_type} key={_text(letter.key)!r} "
            f"dlq_offset={letter.offset} error={letter.error!r}"
        )
    typer.echo(f"{len(letters)} dead letters")


@dlq_app.command("replay")
def replay(
    group: str = typer.Option(
        "dlq-replay", help="Consumer group that remembers what was replayed already."
    ),
) -> None:
    """Send the dead letters not replayed yet back to the topics they came from."""
    servers = _bootstrap_servers()
    with _Progress("replaying dead letters") as progress:
        replayed = _on_kafka(servers, lambda bus: replay_dead_letters(bus, group, progress))
    typer.echo(f"replayed {replayed} dead letters")
