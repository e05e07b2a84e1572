"""`travelbuddy dlq list|replay`, run as the real command against the test Kafka and against
the embedded default's SQLite bus file; and the same listing and replay as functions, on
Kafka and on the SQLite bus.

On Kafka the DLQ and the replays topic are shared by every test of the session: each test
chooses its own dead letters (the DLQ offsets from where it stood when the test began, or
their ids) and finds them by the run id in their keys.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any

import pytest

from tests.integration.buses import BUS_KINDS, bus_of_kind, kafka_bus
from tests.integration.test_inbound_consumer import (
    ALICE,
    Message,
    event_types,
    groups_starting_now,
    lag_of,
    new_run,
    publish,
    reply,
    request_trips,
    running,
    trip,
    until,
)
from travelbuddy.application import BookingCommands, Caller, CommandContext, CommandOutcome
from travelbuddy.bootstrap import Services, build_services
from travelbuddy.config import Settings
from travelbuddy.domain import Command
from travelbuddy.integration.bus import Bus, BusUnavailable
from travelbuddy.integration.dead_letter_replay import (
    ReplayState,
    Selection,
    reason_counts,
    replay_dead_letters,
    tracked_dead_letters,
)
from travelbuddy.integration.dead_letters import DeadLetter, Fault, read_dead_letters
from travelbuddy.integration.inbound import InboundConsumer
from travelbuddy.integration.kafka_bus import KafkaBus
from travelbuddy.integration.topics import FLIGHT_REPLIES, HOTEL_REPLIES, RESERVATIONS_DLQ

TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))
REPLY_TOPICS = (HOTEL_REPLIES, FLIGHT_REPLIES)


@pytest.fixture
async def bus(kafka_bootstrap_servers: str) -> AsyncIterator[KafkaBus]:
    async with kafka_bus(kafka_bootstrap_servers) as opened:
        yield opened


@pytest.fixture(params=BUS_KINDS)
async def either_bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    async with bus_of_kind(request.param, request) as opened:
        yield opened


class BuggyCommands(BookingCommands):
    """The service's commands with a bug that breaks every command for some bookings."""

    def __init__(self, commands: BookingCommands, broken_bookings: Collection[str]) -> None:
        self._commands = commands
        self._broken = set(broken_bookings)

    async def handle(
        self, command: Command, caller: Caller, context: CommandContext | None = None
    ) -> CommandOutcome:
        if command.booking_id in self._broken:
            raise RuntimeError(f"a bug, for booking {command.booking_id}")
        return await self._commands.handle(command, caller, context)


async def travelbuddy(env: dict[str, str], *args: str) -> str:
    """Run the command; its standard output."""
    process = await asyncio.create_subprocess_exec(
        TRAVELBUDDY, *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await process.communicate()
    assert process.returncode == 0, (output + errors).decode()
    return output.decode()


def on_kafka(kafka_bootstrap_servers: str) -> dict[str, str]:
    return {**os.environ, "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers}


async def dlq_end(bus: Bus) -> int:
    [end] = (await bus.end_offsets([RESERVATIONS_DLQ])).values()
    return end


async def park(bus: Bus, commands: BookingCommands, messages: list[Message]) -> list[DeadLetter]:
    """Publish the messages, let an inbound consumer take them all; the dead letters it
    parked, in DLQ order."""
    _, group = new_run()
    await groups_starting_now(bus, group)
    start = await dlq_end(bus)
    await publish(bus, messages)
    consumer = InboundConsumer(bus, commands, group_id=group)
    async with lag_of(bus, group) as lag, running(consumer) as task:
        await until(lag.is_zero, task)
    return [letter for letter in await read_dead_letters(bus) if letter.offset >= start]


async def reply_topic_messages(bus: Bus) -> int:
    return sum((await bus.end_offsets(REPLY_TOPICS)).values())


def by_offset(letter: DeadLetter) -> int:
    return letter.offset


def by_key(letters: list[DeadLetter]) -> dict[str, DeadLetter]:
    return {(letter.key or b"").decode(): letter for letter in letters}


# --- replaying, as functions on either bus -----------------------------------------------


async def test_a_replay_sends_a_retryable_dead_letter_once_and_refuses_permanent_ones(
    either_bus: Bus, services: Services
) -> None:
    bus = either_bus
    run, group = new_run()
    booking_id = f"{run}-b1"
    await request_trips(services, [booking_id])
    start = await dlq_end(bus)
    parked = await park(bus, BuggyCommands(services.commands, {booking_id}), [
        reply("hotel.reserved", booking_id, f"{run}-h"),  # meets the bug
        (HOTEL_REPLIES, f"{run}-junk".encode(), b"no JSON here"),
        reply("hotel.reserved", f"{run}-nobody", f"{run}-n"),
    ])
    letters = by_key(parked)
    assert {key: letter.reason for key, letter in letters.items()} == {
        booking_id: "handler_error", f"{run}-junk": "invalid_json",
        f"{run}-nobody": "unknown_booking"}
    bug = letters[booking_id]
    mine = Selection(from_offset=start)

    await groups_starting_now(bus, group)
    fixed = InboundConsumer(bus, services.commands, group_id=group)
    async with lag_of(bus, group) as lag, running(fixed) as task:
        first = await replay_dead_letters(bus, mine)
        await until(lambda: event_types_are(services, booking_id, "HotelReserved"), task)
        await until(lag.is_zero, task)
        sent_before = await reply_topic_messages(bus)
        second = await replay_dead_letters(bus, mine)
        await until(lag.is_zero, task)

    assert first.sent == [bug.id]
    assert first.refused == Counter(invalid_json=1, unknown_booking=1)
    assert second.sent == [] and second.replayed_before == [bug.id]
    assert second.refused == first.refused
    assert await reply_topic_messages(bus) == sent_before
    tracked = [t for t in await tracked_dead_letters(bus) if t.letter.offset >= start]
    assert len(tracked) == 3  # the replayed one applied: nothing came back
    assert {t.letter.id: t.state for t in tracked} == {
        bug.id: ReplayState.REPLAYED,
        letters[f"{run}-junk"].id: ReplayState.WAITING,
        letters[f"{run}-nobody"].id: ReplayState.WAITING}
    counts = {line.reason: (line.fault, line.total, line.states[ReplayState.REPLAYED])
              for line in reason_counts(tracked)}
    assert counts == {"handler_error": (Fault.RETRYABLE, 1, 1),
                      "invalid_json": (Fault.PERMANENT, 1, 0),
                      "unknown_booking": (Fault.PERMANENT, 1, 0)}


async def event_types_are(services: Services, booking_id: str, *wanted: str) -> bool:
    return set(wanted) <= set(await event_types(services, booking_id))


async def test_forced_replays_send_each_dead_letter_at_most_once_also_when_it_comes_back(
    either_bus: Bus, services: Services
) -> None:
    bus = either_bus
    run, group = new_run()
    start = await dlq_end(bus)
    originals = await park(bus, services.commands, [
        (HOTEL_REPLIES, f"{run}-junk-1".encode(), b"no JSON here"),
        (FLIGHT_REPLIES, f"{run}-junk-2".encode(), b"nor here"),
    ])
    mine = Selection(from_offset=start)

    await groups_starting_now(bus, group)
    consumer = InboundConsumer(bus, services.commands, group_id=group)
    async with lag_of(bus, group) as lag, running(consumer) as task:
        before = await reply_topic_messages(bus)
        first = await replay_dead_letters(bus, mine, force=True)
        await until(lag.is_zero, task)
        await until(lambda: dead_letters_from(bus, start, 4), task)
        second = await replay_dead_letters(bus, mine, force=True)
        await until(lag.is_zero, task)
        await until(lambda: dead_letters_from(bus, start, 6), task)
        third = await replay_dead_letters(bus, mine)
        sent = await reply_topic_messages(bus) - before

    everything = [letter for letter in await read_dead_letters(bus) if letter.offset >= start]
    came_back = {letter.replay_of: letter.id for letter in everything if letter.replay_of}
    assert sorted(first.sent) == sorted(letter.id for letter in originals)
    assert sorted(second.sent) == sorted(came_back[sent_id] for sent_id in first.sent)
    assert sorted(second.replayed_before) == sorted(first.sent)
    assert sorted(came_back) == sorted(first.sent + second.sent)  # each came back once
    assert (third.sent, third.refused) == ([], Counter(invalid_json=2))
    all_sent = first.sent + second.sent
    assert len(all_sent) == len(set(all_sent)) == sent == 4  # each dead letter at most once


async def dead_letters_from(bus: Bus, start: int, count: int) -> bool:
    return len([m for m in await read_dead_letters(bus) if m.offset >= start]) >= count


async def test_a_replay_sends_only_the_dead_letters_chosen_by_id_reason_or_offsets(
    either_bus: Bus, services: Services
) -> None:
    bus = either_bus
    run, _ = new_run()
    await request_trips(services, [f"{run}-trip"])
    topic, _, value = reply("hotel.reserved", f"{run}-trip", f"{run}-m")
    letters = by_key(await park(bus, services.commands, [
        (HOTEL_REPLIES, f"{run}-junk-1".encode(), b"no JSON here"),
        (HOTEL_REPLIES, f"{run}-junk-2".encode(), b"nor here"),
        reply("hotel.reserved", f"{run}-nobody", f"{run}-n"),
        (topic, f"{run}-mismatch".encode(), value),
    ]))
    offsets = sorted(letter.offset for letter in letters.values())

    by_id = await replay_dead_letters(
        bus, Selection(ids=frozenset({letters[f"{run}-junk-2"].id, "0:999999"})), force=True)
    by_reason = await replay_dead_letters(
        bus, Selection(reasons=frozenset({"unknown_booking", "key_mismatch"}),
                       from_offset=offsets[0]), force=True)
    by_offsets = await replay_dead_letters(
        bus, Selection(from_offset=offsets[0], to_offset=offsets[-1]), force=True)

    assert by_id.sent == [letters[f"{run}-junk-2"].id]
    assert by_id.unknown_ids == ["0:999999"]
    assert sorted(by_reason.sent) == sorted(
        [letters[f"{run}-nobody"].id, letters[f"{run}-mismatch"].id])
    assert by_offsets.sent == [letters[f"{run}-junk-1"].id]
    assert len(by_offsets.replayed_before) == 3


async def test_a_dead_letter_whose_send_was_cut_short_is_in_doubt_and_sent_only_again(
    either_bus: Bus, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = either_bus
    run, _ = new_run()
    [letter] = await park(bus, services.commands, [
        (HOTEL_REPLIES, f"{run}-junk".encode(), b"no JSON here")])
    only_it = Selection(ids=frozenset({letter.id}))
    publish_for_real = bus.publish

    async def bus_away_for_replies(topic: str, *args: Any, **kwargs: Any) -> None:
        if topic in REPLY_TOPICS:
            raise BusUnavailable("the broker went away")
        await publish_for_real(topic, *args, **kwargs)

    monkeypatch.setattr(bus, "publish", bus_away_for_replies)
    with pytest.raises(BusUnavailable):
        await replay_dead_letters(bus, only_it, force=True)
    monkeypatch.undo()
    [in_doubt] = [t.state for t in await tracked_dead_letters(bus) if t.letter.id == letter.id]
    before = await reply_topic_messages(bus)
    skipped = await replay_dead_letters(bus, only_it, force=True)
    resent = await replay_dead_letters(bus, only_it, force=True, again=True)

    assert in_doubt is ReplayState.IN_DOUBT
    assert (skipped.sent, skipped.replayed_before) == ([], [letter.id])
    assert resent.sent == [letter.id]
    assert await reply_topic_messages(bus) == before + 1


# --- the command, on Kafka and on the embedded default's bus file --------------------------


async def test_the_command_lists_counts_per_reason_and_replays_each_dead_letter_once_on_kafka(
    kafka_bootstrap_servers: str, bus: KafkaBus, services: Services
) -> None:
    run, _ = new_run()
    booking_id = f"{run}-b1"
    await request_trips(services, [booking_id])
    letters = by_key(await park(bus, BuggyCommands(services.commands, {booking_id}), [
        reply("hotel.reserved", booking_id, f"{run}-h"),
        (HOTEL_REPLIES, f"{run}-poison".encode(), f"no JSON here {run}".encode()),
    ]))
    bug, poison = letters[booking_id], letters[f"{run}-poison"]
    env = on_kafka(kafka_bootstrap_servers)

    listed = await travelbuddy(env, "dlq", "list")
    refused = await travelbuddy(env, "dlq", "replay", "--id", poison.id)
    before = await reply_topic_messages(bus)
    replayed = await travelbuddy(env, "dlq", "replay", "--id", bug.id, "--id", poison.id,
                                 "--force")
    again = await travelbuddy(env, "dlq", "replay", "--id", bug.id, "--id", poison.id,
                              "--force")
    relisted = await travelbuddy(env, "dlq", "list")

    [line] = [line for line in listed.splitlines() if f"key='{run}-poison'" in line]
    assert f"id={poison.id} reason=invalid_json fault=permanent state=waiting" in line
    assert f"source={HOTEL_REPLIES}/" in line and "not JSON: Expecting value" in line
    assert re.search(r"^handler_error +retryable +\d+ ", listed, re.MULTILINE)
    assert re.search(r"^invalid_json +permanent +\d+ ", listed, re.MULTILINE)
    assert re.search(r"^\d+ dead letters, \d+ replayed$", listed.rstrip().splitlines()[-1])
    assert "replayed 0 dead letters" in refused
    assert "refused, permanent: 1 (invalid_json=1; --force sends them)" in refused
    in_dlq_order = " ".join(letter.id for letter in sorted((bug, poison), key=by_offset))
    assert f"replayed 2 dead letters: {in_dlq_order}" in replayed
    assert await reply_topic_messages(bus) == before + 2
    assert "replayed 0 dead letters" in again
    assert "not sent again, replayed before: 2" in again
    assert await reply_topic_messages(bus) == before + 2
    for letter in (bug, poison):
        assert f"id={letter.id} reason={letter.reason} fault={letter.fault} state=replayed" in (
            relisted)


async def test_the_command_replays_from_the_embedded_services_bus_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    services = await build_services(Settings(mongodb_url=None, kafka_bootstrap_servers=None,
                                             data_dir=data_dir))
    try:
        bus = services.bus
        run, _ = new_run()
        booking_id = f"{run}-b1"
        await services.commands.handle(trip(booking_id), ALICE)
        letters = by_key(await park(bus, BuggyCommands(services.commands, {booking_id}), [
            reply("hotel.reserved", booking_id, f"{run}-h"),
            (HOTEL_REPLIES, f"{run}-poison".encode(), b"no JSON here"),
        ]))
        env = {name: value for name, value in os.environ.items()
               if name != "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS"}
        env["TRAVELBUDDY_DATA_DIR"] = str(data_dir)

        listed = await travelbuddy(env, "dlq", "list")
        before = await reply_topic_messages(bus)
        replayed = await travelbuddy(env, "dlq", "replay")
        again = await travelbuddy(env, "dlq", "replay")
        after = await reply_topic_messages(bus)
    finally:
        await services.close()

    bug, poison = letters[booking_id], letters[f"{run}-poison"]
    assert f"id={bug.id} reason=handler_error fault=retryable state=waiting" in listed
    assert f"id={poison.id} reason=invalid_json fault=permanent state=waiting" in listed
    assert listed.rstrip().splitlines()[-1] == "2 dead letters, 0 replayed"
    assert f"replayed 1 dead letters: {bug.id}" in replayed
    assert "refused, permanent: 1 (invalid_json=1; --force sends them)" in replayed
    assert "replayed 0 dead letters" in again and "replayed before: 1" in again
    assert after == before + 1


async def test_the_command_on_no_bus_says_where_it_looked(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items()
           if name != "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS"}
    env["TRAVELBUDDY_DATA_DIR"] = str(tmp_path / "nothing-here")
    process = await asyncio.create_subprocess_exec(
        TRAVELBUDDY, "dlq", "list", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, errors = await process.communicate()

    assert process.returncode == 2
    assert f"no bus at {tmp_path / 'nothing-here' / 'bus.sqlite3'}" in errors.decode()
    assert not (tmp_path / "nothing-here").exists()
