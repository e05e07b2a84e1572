"""The subscription fan-out: one feed of booking-view changes, handed out in memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from typing import Any

import pytest
from prometheus_client import REGISTRY

from travelbuddy.graphql.fanout import BookingUpdates, SubscriberTooSlow
from travelbuddy.readmodels.ports import RESYNC, PageKey, Resync, View
from travelbuddy.readmodels.queries import Reader

TIMEOUT = 5.0
ALICE = Reader("customer-alice")
BOB = Reader("customer-bob")


class FeedBroke(Exception):
    """What the fake feed raises when told to fail."""


class FakeBookingViews:
    """Booking views in a dict, and a feed that yields RESYNC once opened, then what is put
    on `feed` (an exception put there is raised, ending that feed)."""

    def __init__(self) -> None:
        self.views: dict[str, View] = {}
        self.feed: asyncio.Queue[list[View] | Resync | Exception] = asyncio.Queue()
        self.opened = 0
        self.reads = 0
        self._read = asyncio.Condition()

    def store(self, view: View) -> None:
        """The view is written, and the feed misses it."""
        self.views[view["_id"]] = view

    def write(self, *views: View) -> None:
        """The views are written, and the feed brings them as one batch."""
        for view in views:
            self.store(view)
        self.feed.put_nowait(list(views))

    async def dispatched(self) -> None:
        """Wait until the hub has taken everything put on the feed."""
        await asyncio.wait_for(self.feed.join(), TIMEOUT)

    async def current_state_read(self, times: int) -> None:
        """Wait until the current state was read `times` times in all (a subscriber reads
        it once registered)."""
        async with self._read:
            await asyncio.wait_for(self._read.wait_for(lambda: self.reads >= times), TIMEOUT)

    async def _count_read(self) -> None:
        async with self._read:
            self.reads += 1
            self._read.notify_all()

    async def get(self, booking_id: str) -> View | None:
        await self._count_read()
        return self.views.get(booking_id)

    async def get_many(self, booking_ids: Collection[str]) -> dict[str, View]:
        return {i: self.views[i] for i in booking_ids if i in self.views}

    async def customer_page(
        self, customer_id: str, status: str | None, first: int, after: PageKey | None
    ) -> list[View]:
        raise NotImplementedError

    async def of_customer(self, customer_id: str) -> list[View]:
        await self._count_read()
        return [v for v in self.views.values() if v["customer_id"] == customer_id]

    async def count(self) -> int:
        return len(self.views)

    async def changes(self) -> AsyncIterator[list[View] | Resync]:
        self.opened += 1
        yield RESYNC
        while True:
            item = await self.feed.get()
            try:
                if isinstance(item, Exception):
                    raise item
                yield item
            finally:
                # The hub asks for the next item only once it has handed this one out.
                self.feed.task_done()


def booking(booking_id: str, version: int, customer: Reader = ALICE, **fields: Any) -> View:
    return {"_id": booking_id, "customer_id": customer.customer_id, "version": version, **fields}


async def next_of(updates: AsyncIterator[View]) -> View:
    return await asyncio.wait_for(anext(updates), TIMEOUT)


@pytest.fixture
def views() -> FakeBookingViews:
    return FakeBookingViews()


@pytest.fixture
async def hub(views: FakeBookingViews) -> AsyncIterator[BookingUpdates]:
    updates = BookingUpdates(views, buffer_size=3)
    yield updates
    await updates.close()


async def test_subscription_starts_with_the_current_view_then_sends_each_change(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    views.store(booking("b-1", 1, status="PENDING"))
    assert not hub.running

    updates = hub.watch(ALICE, "b-1")
    assert (await next_of(updates))["status"] == "PENDING"
    assert hub.running
    views.write(booking("b-1", 2, status="CONFIRMED"))
    views.write(booking("b-1", 3, status="CANCELLED"))

    assert (await next_of(updates))["status"] == "CONFIRMED"
    assert (await next_of(updates))["status"] == "CANCELLED"
    await updates.aclose()


async def test_customer_subscription_starts_with_every_booking_of_the_customer(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    views.store(booking("b-1", 1))
    views.store(booking("b-2", 4))
    views.store(booking("b-3", 1, customer=BOB))

    updates = hub.watch(ALICE, None)
    first = [await next_of(updates), await next_of(updates)]
    views.write(booking("b-3", 2, customer=BOB), booking("b-2", 5))

    assert sorted((v["_id"], v["version"]) for v in first) == [("b-1", 1), ("b-2", 4)]
    assert (await next_of(updates))["_id"] == "b-2"
    await updates.aclose()


async def test_change_to_another_booking_is_not_sent(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    views.store(booking("b-1", 1))
    views.store(booking("b-2", 1))
    updates = hub.watch(ALICE, "b-1")
    await next_of(updates)

    views.write(booking("b-2", 2))
    views.write(booking("b-1", 2))

    assert (await next_of(updates))["_id"] == "b-1"
    await updates.aclose()


async def test_change_to_another_customers_booking_is_not_sent_to_a_customer_subscription(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    updates = hub.watch(ALICE, None)
    first = asyncio.ensure_future(next_of(updates))
    await views.current_state_read(1)

    views.write(booking("b-bob", 1, customer=BOB))
    views.write(booking("b-alice", 1))

    assert (await first)["_id"] == "b-alice"
    await updates.aclose()


async def test_another_customers_booking_yields_nothing_ever(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    views.store(booking("b-alice", 1))
    views.store(booking("b-bob", 1, customer=BOB))
    received: list[View] = []
    own_seen = asyncio.Event()

    async def consume(updates: AsyncGenerator[View, None]) -> None:
        async for view in updates:
            received.append(view)
            if view["_id"] == "b-bob" and view["version"] == 2:
                own_seen.set()

    prying = asyncio.create_task(consume(hub.watch(BOB, "b-alice")))
    own = asyncio.create_task(consume(hub.watch(BOB, "b-bob")))
    await views.current_state_read(2)
    views.write(booking("b-alice", 2))
    views.write(booking("b-bob", 2, customer=BOB))
    await asyncio.wait_for(own_seen.wait(), TIMEOUT)
    await hub.close()
    await asyncio.wait_for(asyncio.gather(prying, own), TIMEOUT)

    assert [(v["_id"], v["version"]) for v in received] == [("b-bob", 1), ("b-bob", 2)]


async def test_agent_sees_any_booking_it_subscribes_to(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    views.store(booking("b-1", 1))
    updates = hub.watch(Reader("agent-1", sees_every_booking=True), "b-1")

    assert (await next_of(updates))["customer_id"] == ALICE.customer_id
    await updates.aclose()


async def test_duplicate_and_older_versions_are_not_sent_again(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    views.store(booking("b-1", 2))
    updates = hub.watch(ALICE, "b-1")
    assert (await next_of(updates))["version"] == 2

    views.write(booking("b-1", 1))
    views.write(booking("b-1", 2))
    views.write(booking("b-1", 3), booking("b-1", 3))
    views.write(booking("b-1", 4))

    assert (await next_of(updates))["version"] == 3
    assert (await next_of(updates))["version"] == 4
    await updates.aclose()


async def test_resync_rereads_the_current_state_and_sends_only_what_is_newer(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    views.store(booking("b-1", 1))
    views.store(booking("b-2", 1))
    updates = hub.watch(ALICE, None)
    await next_of(updates)
    await next_of(updates)

    views.store(booking("b-2", 3))  # the feed missed it...
    views.feed.put_nowait(RESYNC)  # ...and says so
    resent = await next_of(updates)
    views.write(booking("b-1", 2))

    assert (resent["_id"], resent["version"]) == ("b-2", 3)
    assert (await next_of(updates))["version"] == 2  # b-1 at version 1 was not sent again
    await updates.aclose()


def metric(name: str, **labels: str) -> float:
    """The process's metric now (travelbuddy.observability.metrics), 0 before its first use."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_slow_subscriber_is_ended_while_others_on_the_booking_get_every_change(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    dropped, pushes = (metric("travelbuddy_subscribers_dropped_total", reason="too_slow"),
                       metric("travelbuddy_subscription_pushes_total"))
    opened = metric("travelbuddy_subscriptions_open")
    views.store(booking("b-1", 1))
    slow = hub.watch(ALICE, "b-1")
    fast = hub.watch(ALICE, "b-1")
    await next_of(slow)
    await next_of(fast)
    assert metric("travelbuddy_subscriptions_open") == opened + 2

    for version in range(2, 8):
        views.write(booking("b-1", version))
        assert (await next_of(fast))["version"] == version

    assert hub.dropped_slow == 1
    assert hub.subscribers == 1
    assert metric("travelbuddy_subscribers_dropped_total", reason="too_slow") == dropped + 1
    assert metric("travelbuddy_subscription_pushes_total") == pushes + 2 + 6
    assert metric("travelbuddy_subscriptions_open") == opened + 1
    with pytest.raises(SubscriberTooSlow, match="did not keep up"):
        await next_of(slow)
    await fast.aclose()
    assert hub.subscribers == 0
    assert metric("travelbuddy_subscriptions_open") == opened


async def test_closing_a_subscription_unregisters_it(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    views.store(booking("b-1", 1))
    one, every = hub.watch(ALICE, "b-1"), hub.watch(ALICE, None)
    await next_of(one)
    await next_of(every)
    assert hub.subscribers == 2

    await one.aclose()
    await every.aclose()

    assert hub.subscribers == 0
    views.write(booking("b-1", 2))
    await views.dispatched()


async def test_each_of_a_thousand_subscribers_gets_exactly_its_own_change(
    views: FakeBookingViews,
) -> None:
    ids = [f"b-{n}" for n in range(1000)]
    for booking_id in ids:
        views.store(booking(booking_id, 1))
    hub = BookingUpdates(views)
    subscriptions = [hub.watch(ALICE, booking_id) for booking_id in ids]
    try:
        await asyncio.gather(*(next_of(updates) for updates in subscriptions))
        assert hub.subscribers == 1000

        views.write(*(booking(booking_id, 2, n=n) for n, booking_id in enumerate(ids)))
        changes = await asyncio.gather(*(next_of(updates) for updates in subscriptions))

        assert [(v["_id"], v["version"]) for v in changes] == [(i, 2) for i in ids]
        await views.dispatched()
        assert hub.dropped_slow == 0
    finally:
        await hub.close()


async def test_feed_that_fails_is_reopened_and_subscribers_resync(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    views.store(booking("b-1", 1))
    updates = hub.watch(ALICE, "b-1")
    await next_of(updates)

    views.store(booking("b-1", 2))  # written while the feed is down
    views.feed.put_nowait(FeedBroke("connection reset"))
    assert (await next_of(updates))["version"] == 2
    views.write(booking("b-1", 3))

    assert (await next_of(updates))["version"] == 3
    assert views.opened == 2
    assert hub.running
    await updates.aclose()


async def test_closing_the_hub_ends_every_subscription_and_the_feed(
    views: FakeBookingViews, hub: BookingUpdates
) -> None:
    views.store(booking("b-1", 1))
    updates = hub.watch(ALICE, "b-1")
    await next_of(updates)
    waiting = asyncio.ensure_future(next_of(updates))

    await hub.close()

    with pytest.raises(StopAsyncIteration):
        await waiting
    assert hub.subscribers == 0
    assert not hub.running
    with pytest.raises(StopAsyncIteration):
        await next_of(hub.watch(ALICE, "b-1"))
