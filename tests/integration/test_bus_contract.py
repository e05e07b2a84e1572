"""The Bus port's contract, held against both adapters: Kafka (the session's test broker)
and the SQLite bus (a new file per test).

The contract topics are this suite's own, but on Kafka they live as long as the broker:
every test marks its messages with a fresh run id in their keys and reads from positions
taken before it published (from-end subscriptions, or groups reset to the ends).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from tests.integration.buses import BUS_KINDS, bus_of_kind, poll_until, subscribed
from travelbuddy.integration.bus import (
    Bus,
    Message,
    Subscription,
    TopicPartition,
    by_partition,
)
from travelbuddy.integration.topics import TOPICS, TopicSpec

TOPIC = "travelbuddy.bus-contract.v1"
OTHER_TOPIC = "travelbuddy.bus-contract.other.v1"
CONTRACT_TOPICS = (TopicSpec(TOPIC, 3), TopicSpec(OTHER_TOPIC, 1))


@pytest.fixture(params=BUS_KINDS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    async with bus_of_kind(request.param, request, TOPICS + CONTRACT_TOPICS) as opened:
        yield opened


def new_run() -> str:
    return uuid.uuid4().hex[:12]


def of_run(run: str) -> Callable[[Message], bool]:
    """Whether a message is one of this test's (its key starts with the run id)."""
    return lambda message: (message.key or b"").startswith(run.encode())


def values(messages: list[Message]) -> list[bytes | None]:
    return [message.value for message in messages]


async def publish_all(bus: Bus, key: bytes, *texts: str, topic: str = TOPIC) -> None:
    for text in texts:
        await bus.publish(topic, key, text.encode())


async def group_starting_now(bus: Bus, group_id: str, *topics: str) -> None:
    """Commit the group at the topics' current ends: it starts with what comes next."""
    await bus.reset_offsets(group_id, await bus.end_offsets(topics or (TOPIC,)))


async def test_a_message_arrives_with_its_key_value_and_headers(bus: Bus) -> None:
    run = new_run()
    key = f"{run}-booking".encode()
    headers = [("correlation-id", b"c-1"), ("binary", bytes([0, 255, 10])), ("empty", b"")]
    async with subscribed(bus, [TOPIC], from_end=True) as subscription:
        await bus.publish(TOPIC, key, b'{"type": "hotel.reserved"}', headers)
        await bus.publish(TOPIC, key, None)  # a tombstone: no value at all
        await bus.publish(TOPIC, f"{run}-other".encode(), b"second key", ())
        received = await poll_until(subscription, lambda kept: len(kept) == 3, of_run(run))

    first, tombstone, other = sorted(received, key=lambda m: (m.key != key, m.offset))
    assert (first.topic, first.key, first.value) == (TOPIC, key, b'{"type": "hotel.reserved"}')
    assert first.headers == headers
    assert (tombstone.key, tombstone.value, tombstone.headers) == (key, None, [])
    assert tombstone.partition == first.partition and tombstone.offset == first.offset + 1
    assert (other.key, other.value) == (f"{run}-other".encode(), b"second key")
    assert all(0 <= m.partition < 3 for m in received)


async def test_messages_of_one_key_stay_in_one_partition_in_the_order_published(
    bus: Bus,
) -> None:
    run = new_run()
    keys = [f"{run}-{n}".encode() for n in range(8)]
    async with subscribed(bus, [TOPIC], from_end=True) as subscription:
        for n in range(10):
            for key in keys:
                await bus.publish(TOPIC, key, f"{key.decode()}#{n}".encode())
        received = await poll_until(subscription, lambda kept: len(kept) == 80, of_run(run))

    for key in keys:
        mine = [m for m in received if m.key == key]
        assert len({m.partition for m in mine}) == 1
        assert [m.offset for m in mine] == sorted(m.offset for m in mine)
        assert values(mine) == [f"{key.decode()}#{n}".encode() for n in range(10)]
    assert len({m.partition for m in received}) > 1, "eight keys, all in one partition"


async def test_a_subscription_from_the_end_sees_only_what_comes_after_its_start(
    bus: Bus,
) -> None:
    run = new_run()
    key = f"{run}-k".encode()
    await publish_all(bus, key, "before")
    async with subscribed(bus, [TOPIC], from_end=True) as subscription:
        await publish_all(bus, key, "after", "last")
        received = await poll_until(subscription, lambda kept: b"last" in values(kept),
                                    of_run(run))
    async with subscribed(bus, [TOPIC]) as from_the_beginning:
        everything = await poll_until(from_the_beginning, lambda kept: b"last" in values(kept),
                                      of_run(run))

    assert values(received) == [b"after", b"last"]
    assert values(everything) == [b"before", b"after", b"last"]


async def test_a_new_member_of_a_group_resumes_after_the_committed_offset(bus: Bus) -> None:
    run, group = new_run(), f"contract-{new_run()}"
    key = f"{run}-k".encode()
    await publish_all(bus, b"warm-up", "so that the next publish is not slowed by a start")
    async with subscribed(bus, [TOPIC], group, from_end=True) as first:
        # Published at once: `start` returned, so the group's position is known already.
        await publish_all(bus, key, "m1", "m2", "m3", "m4", "m5")
        received = await poll_until(first, lambda kept: len(kept) == 5, of_run(run))
        await first.commit(received[2])  # m1..m3 done; m4 and m5 were seen, not done

    committed = await bus.committed_offsets(group, [TOPIC])
    assert committed[received[2].topic_partition] == received[2].offset + 1

    await publish_all(bus, key, "m6")
    async with subscribed(bus, [TOPIC], group, from_end=True) as second:
        resumed = await poll_until(second, lambda kept: b"m6" in values(kept), of_run(run))

    assert values(resumed) == [b"m4", b"m5", b"m6"]


async def test_rewind_delivers_again_from_the_message_given(bus: Bus) -> None:
    run, group = new_run(), f"contract-{new_run()}"
    key = f"{run}-k".encode()
    async with subscribed(bus, [TOPIC], group, from_end=True) as subscription:
        await publish_all(bus, key, "a", "b", "c")
        batch = await poll_until(subscription, lambda kept: len(kept) == 3, of_run(run))
        await subscription.commit(batch[0])
        subscription.rewind(batch[1])  # b and c could not be finished
        again = await poll_until(subscription, lambda kept: len(kept) == 2, of_run(run))
        assert not subscription.partitions_revoked

    assert values(again) == [b"b", b"c"]
    assert [m.offset for m in again] == [m.offset for m in batch[1:]]


async def test_two_groups_each_see_every_message(bus: Bus) -> None:
    run = new_run()
    groups = [f"contract-{new_run()}", f"contract-{new_run()}"]
    keys = [f"{run}-{n}".encode() for n in range(6)]
    async with (
        subscribed(bus, [TOPIC], groups[0], from_end=True) as one,
        subscribed(bus, [TOPIC], groups[1], from_end=True) as other,
    ):
        for key in keys:
            await bus.publish(TOPIC, key, key)
        seen = await asyncio.gather(
            poll_until(one, lambda kept: len(kept) == 6, of_run(run)),
            poll_until(other, lambda kept: len(kept) == 6, of_run(run)),
        )

    assert sorted(m.key or b"" for m in seen[0]) == sorted(keys)
    assert sorted(m.key or b"" for m in seen[1]) == sorted(keys)


async def test_members_of_a_group_share_its_messages_and_one_takes_over_when_another_stops(
    bus: Bus,
) -> None:
    run, group = new_run(), f"contract-{new_run()}"
    await group_starting_now(bus, group)
    keys = [f"{run}-{n}".encode() for n in range(12)]
    first = bus.subscribe([TOPIC], group)
    await first.start()
    async with subscribed(bus, [TOPIC], group) as second:
        try:
            for key in keys[:6]:
                await bus.publish(TOPIC, key, b"early")
            early = await shared_by(first, second, count=6, run=run)
        finally:
            await first.stop()
        for key in keys[6:]:
            await bus.publish(TOPIC, key, b"late")
        late = await shared_by(second, count=6, run=run)

    assert sorted(m.key or b"" for m in early) == sorted(keys[:6])  # each once
    assert sorted(m.key or b"" for m in late) == sorted(keys[6:])
    assert await bus.committed_offsets(group, [TOPIC]) == await bus.end_offsets([TOPIC])


async def shared_by(*members: Subscription, count: int, run: str) -> list[Message]:
    """Poll the members in turn, each committing what it got, until `count` messages came."""
    got: list[Message] = []
    async with asyncio.timeout(20):
        while len(got) < count:
            for member in members:
                batch = [m for m in await member.poll(0.2) if of_run(run)(m)]
                for messages in by_partition(batch).values():
                    await member.commit(messages[-1])
                got += batch
    return got


async def test_reading_to_the_end_holds_what_the_topic_has_now(bus: Bus) -> None:
    run = new_run()
    key = f"{run}-dead-letter".encode()
    await publish_all(bus, key, "one", "two", topic=OTHER_TOPIC)

    read: list[Message] = []
    async with bus.read_to_end(OTHER_TOPIC) as backlog:
        total = backlog.total
        async for message in backlog:
            if not read:
                await bus.publish(OTHER_TOPIC, key, b"published while reading")
            read.append(message)

    assert values([m for m in read if m.key == key]) == [b"one", b"two"]
    assert total == len(read) >= 2  # and, on Kafka, earlier tests' messages
    ends = await bus.end_offsets([OTHER_TOPIC])
    assert ends[TopicPartition(OTHER_TOPIC, 0)] == read[-1].offset + 2


async def test_reading_to_the_end_in_a_group_starts_after_what_it_committed(bus: Bus) -> None:
    run, group = new_run(), f"contract-{new_run()}"
    key = f"{run}-dead-letter".encode()
    await group_starting_now(bus, group, OTHER_TOPIC)
    await publish_all(bus, key, "one", "two", "three", topic=OTHER_TOPIC)

    async with bus.read_to_end(OTHER_TOPIC, group) as backlog:
        assert backlog.total == 3
        async for message in backlog:
            if message.value == b"three":
                break  # cut short: "three" is not done
            await backlog.commit(message)
    remaining: list[Message] = []
    async with bus.read_to_end(OTHER_TOPIC, group) as rest:
        async for message in rest:
            remaining.append(message)
            await rest.commit(message)
    async with bus.read_to_end(OTHER_TOPIC, group) as nothing:
        assert nothing.total == 0

    assert values(remaining) == [b"three"]
    assert rest.total == 1


async def test_a_groups_lag_is_the_distance_from_its_commits_to_the_ends(bus: Bus) -> None:
    run, group = new_run(), f"contract-{new_run()}"
    key = f"{run}-k".encode()
    await group_starting_now(bus, group)
    start = await bus.committed_offsets(group, [TOPIC])
    assert start == await bus.end_offsets([TOPIC])

    await publish_all(bus, key, "a", "b")
    ends = await bus.end_offsets([TOPIC])
    lag = {tp: ends[tp] - start[tp] for tp in ends}
    assert sorted(lag.values()) == [0, 0, 2]

    async with subscribed(bus, [TOPIC], group) as subscription:
        received = await poll_until(subscription, lambda kept: len(kept) == 2, of_run(run))
        await subscription.commit(received[-1])
    assert await bus.committed_offsets(group, [TOPIC]) == ends
    assert await bus.committed_offsets(group, [OTHER_TOPIC]) == {}
