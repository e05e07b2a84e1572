"""The SQLite bus beyond the port's contract: what it keeps in its file outlives the bus
that wrote it (a restarted process), and another process's appends reach a waiting reader.

A second SqliteBus on the same file stands for another process: it shares the file and
nothing in memory (no wake-ups, no group membership).
"""

from __future__ import annotations

import asyncio
import sqlite3
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.buses import poll_until, sqlite_bus, subscribed
from travelbuddy.integration.bus import CommitRejected, Message, TopicPartition
from travelbuddy.integration.sqlite_bus import SqliteBus
from travelbuddy.integration.topics import TopicSpec

TOPIC = "travelbuddy.sqlite-bus.v1"
TOPICS = (TopicSpec(TOPIC, 3),)
GROUP = "sqlite-bus-test"
POLL_SECONDS = 30.0


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bus.sqlite3"


def values(messages: list[Message]) -> list[bytes | None]:
    return [message.value for message in messages]


def count(n: int) -> Callable[[list[Message]], bool]:
    return lambda kept: len(kept) >= n


async def publish_all(bus: SqliteBus, key: bytes, *texts: str) -> None:
    for text in texts:
        await bus.publish(TOPIC, key, text.encode(), [("n", text.encode())])


async def test_messages_and_committed_offsets_survive_closing_and_reopening_the_file(
    path: Path,
) -> None:
    async with sqlite_bus(path, TOPICS) as bus:
        await publish_all(bus, b"booking-1", "a", "b", "c")
        await bus.publish(TOPIC, b"booking-2", None)
        await bus.reset_offsets(GROUP, {TopicPartition(TOPIC, 1): 7})
        ends = await bus.end_offsets([TOPIC])

    async with sqlite_bus(path, TOPICS) as reopened:
        async with reopened.read_to_end(TOPIC) as backlog:
            kept = [message async for message in backlog]
        assert await reopened.end_offsets([TOPIC]) == ends
        assert await reopened.committed_offsets(GROUP, [TOPIC]) == {TopicPartition(TOPIC, 1): 7}

    first = [m for m in kept if m.key == b"booking-1"]
    assert values(first) == [b"a", b"b", b"c"]
    assert [m.headers for m in first] == [[("n", b"a")], [("n", b"b")], [("n", b"c")]]
    assert {m.partition for m in first} == {zlib.crc32(b"booking-1") % 3}  # as in every run
    assert [(m.key, m.value) for m in kept if m.key == b"booking-2"] == [(b"booking-2", None)]
    assert sum(ends.values()) == 4


async def test_a_publish_is_in_the_file_when_it_returns(path: Path) -> None:
    async with sqlite_bus(path, TOPICS) as bus:
        await bus.publish(TOPIC, b"booking-1", b"requested")
        # Another connection, as another process would open it, while the bus stays open.
        with sqlite3.connect(path) as other:
            rows = other.execute("SELECT key, value FROM messages WHERE topic = ?",
                                 (TOPIC,)).fetchall()

    assert rows == [(b"booking-1", b"requested")]


async def test_a_group_resumes_after_its_committed_offset_in_a_new_bus_on_the_file(
    path: Path,
) -> None:
    async with sqlite_bus(path, TOPICS) as bus, subscribed(bus, [TOPIC], GROUP) as first:
        await publish_all(bus, b"booking-1", "m1", "m2", "m3", "m4")
        received = await poll_until(first, count(4))
        await first.commit(received[1])  # m1 and m2 done; m3 and m4 seen, not done

    async with sqlite_bus(path, TOPICS) as restarted:
        await publish_all(restarted, b"booking-1", "m5")
        async with subscribed(restarted, [TOPIC], GROUP, from_end=True) as second:
            resumed = await poll_until(second, lambda kept: b"m5" in values(kept))

    assert values(resumed) == [b"m3", b"m4", b"m5"]


async def test_a_rewind_redelivers_but_a_restart_resumes_from_what_was_committed(
    path: Path,
) -> None:
    async with sqlite_bus(path, TOPICS) as bus, subscribed(bus, [TOPIC], GROUP) as subscription:
        await publish_all(bus, b"booking-1", "a", "b", "c", "d")
        batch = await poll_until(subscription, count(4))
        await subscription.commit(batch[0])
        subscription.rewind(batch[2])  # c and d could not be finished
        again = await poll_until(subscription, count(2))
        subscription.rewind(batch[1])  # b too, and then the process stops

    async with sqlite_bus(path, TOPICS) as restarted:
        async with subscribed(restarted, [TOPIC], GROUP) as resumed_member:
            resumed = await poll_until(resumed_member, count(3))

    assert values(again) == [b"c", b"d"]
    assert [m.offset for m in again] == [m.offset for m in batch[2:]]
    assert values(resumed) == [b"b", b"c", b"d"]  # the rewind was not a commit


async def test_a_commit_still_waiting_for_the_file_when_its_member_stops_does_not_land(
    path: Path,
) -> None:
    async with sqlite_bus(path, TOPICS) as bus:
        await publish_all(bus, b"booking-1", "a", "b", "c")
        first = bus.subscribe([TOPIC], GROUP)
        await first.start()
        batch = await poll_until(first, count(3))
        await first.commit(batch[0])
        with bus._file._lock:  # the file busy: the next commit waits on its worker thread
            late = asyncio.create_task(first.commit(batch[2]))
            await asyncio.sleep(0)  # let it reach the file
            await first.stop()
        with pytest.raises(CommitRejected):
            await late
        async with subscribed(bus, [TOPIC], GROUP) as next_member:
            resumed = await poll_until(next_member, count(2))

    assert values(resumed) == [b"b", b"c"]


async def test_a_waiting_reader_gets_what_another_process_appended_to_the_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        sqlite_bus(path, TOPICS) as bus,
        sqlite_bus(path, TOPICS) as other_process,
        subscribed(bus, [TOPIC], GROUP) as subscription,
    ):
        waiting = asyncio.Event()
        wait_for_change = bus._wait_for_change

        async def noting_the_wait(changed: Callable[[], bool], within: float) -> None:
            waiting.set()
            await wait_for_change(changed, within)

        monkeypatch.setattr(bus, "_wait_for_change", noting_the_wait)
        poll = asyncio.create_task(subscription.poll(POLL_SECONDS))
        await waiting.wait()  # the poll found nothing and waits: no wake-up will come
        loop = asyncio.get_running_loop()
        published_at = loop.time()
        await other_process.publish(TOPIC, b"booking-1", b"from the CLI")
        messages = await poll
        waited = loop.time() - published_at

    assert values(messages) == [b"from the CLI"]
    # Seen by looking at the file (every 0.25 s), long before the poll would have ended.
    assert waited < POLL_SECONDS / 6


async def test_a_file_whose_topic_has_other_partitions_is_refused(path: Path) -> None:
    async with sqlite_bus(path, TOPICS) as bus:
        await bus.publish(TOPIC, b"booking-1", b"a")

    async with sqlite_bus(path, (TopicSpec(TOPIC, 2),)) as fewer_partitions:
        with pytest.raises(ValueError, match="3 partitions"):
            await fewer_partitions.end_offsets([TOPIC])


async def test_a_bus_never_used_leaves_no_file(path: Path) -> None:
    async with sqlite_bus(path, TOPICS):
        pass

    assert not await asyncio.to_thread(path.exists)
