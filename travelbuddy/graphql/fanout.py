"""Subscription fan-out: one feed of booking-view changes per serving process, handed out in
memory to every subscription that watches the booking or its customer.

The feed is `BookingViewStore.changes()`, followed by one task that the first subscription
starts. The task only sorts changes into the subscribers' buffers (two dicts: booking id
and customer id to subscribers) and never awaits a subscriber, so a change costs what its
own subscribers cost and no subscription holds a database cursor or polls.

A subscriber registers once the feed is open and only then reads the current state, so no
change falls between the two; it yields a view only when its version is newer than the
last one it sent, which drops the overlap and any duplicate. A `RESYNC` from the feed (or
a feed reopened after a failure, which starts with one) makes every subscriber read its
current state again. A subscriber whose buffer is full when a change arrives is ended with
`SubscriberTooSlow`: it can subscribe again, and nobody else waits for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress

from travelbuddy.observability.logs import get_logger
from travelbuddy.observability.metrics import (
    SUBSCRIBERS_DROPPED,
    SUBSCRIPTION_PUSHES,
    SUBSCRIPTIONS_OPEN,
)
from travelbuddy.readmodels.ports import BookingViewStore, Resync, View
from travelbuddy.readmodels.queries import Reader

log = get_logger(__name__)

# After a feed failure: wait this long before reopening, doubling up to the maximum. A feed
# that stayed open at least the maximum starts over from the first delay.
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 10.0


class SubscriberTooSlow(Exception):
    """A subscription whose client did not read its updates as fast as they came."""

    def __init__(self) -> None:
        super().__init__(
            "subscription ended: the client did not keep up with updates; subscribe again"
        )


class _Subscriber:
    """One subscription's state: what the feed buffered for it and what it already sent."""

    __slots__ = ("booking_id", "ended", "pending", "reader", "resync", "sent", "too_slow",
                 "wakeup")

    def __init__(self, reader: Reader, booking_id: str | None) -> None:
        self.reader = reader
        self.booking_id = booking_id
        self.pending: deque[View] = deque()
        self.sent: dict[str, int] = {}  # the version last yielded, by booking id
        self.wakeup = asyncio.Event()
        self.resync = True  # the current state is read first
        self.ended = False
        self.too_slow = False

    def is_news(self, view: View) -> bool:
        if not self.reader.may_see(view):
            return False
        last = self.sent.get(view["_id"])
        return last is None or last < view["version"]

    def end(self, too_slow: bool = False) -> None:
        self.ended = True
        self.too_slow = too_slow
        self.pending.clear()
        self.wakeup.set()


class BookingUpdates:
    """The subscription hub of one serving process (see the module doc)."""

    def __init__(self, views: BookingViewStore, buffer_size: int = 100) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        self._views = views
        self._buffer_size = buffer_size
        self._by_booking: dict[str, set[_Subscriber]] = {}
        self._by_customer: dict[str, set[_Subscriber]] = {}
        self._everyone: set[_Subscriber] = set()
        self._dropped_slow = 0
        self._task: asyncio.Task[None] | None = None
        self._open = asyncio.Event()
        self._closed = False

    @property
    def subscribers(self) -> int:
        """How many subscriptions are registered."""
        return len(self._everyone)

    @property
    def dropped_slow(self) -> int:
        """How many subscriptions were ended because their client did not keep up."""
        return self._dropped_slow

    @property
    def running(self) -> bool:
        """Whether the feed task is alive."""
        return self._task is not None and not self._task.done()

    async def watch(
        self, reader: Reader, booking_id: str | None
    ) -> AsyncGenerator[View, None]:
        """The current view(s) first, then every newer one: one booking (`booking_id`), or
        every booking of `reader.customer_id` (None). Views the reader may not see are
        never yielded. Raises `SubscriberTooSlow` once the client falls `buffer_size`
        changes behind; ends when the hub is closed."""
        if not await self._feed_open():
            return
        subscriber = _Subscriber(reader, booking_id)
        self._register(subscriber)
        try:
            ready: deque[View] = deque()
            while True:
                if subscriber.too_slow:
                    raise SubscriberTooSlow()
                if subscriber.ended:
                    return
                if subscriber.resync:
                    subscriber.resync = False
                    # What was still to send from an earlier read is replaced, not merged:
                    # the new read is at least as new.
                    ready = deque(await self._current_state(subscriber))
                elif ready or subscriber.pending:
                    view = ready.popleft() if ready else subscriber.pending.popleft()
                    if subscriber.is_news(view):
                        subscriber.sent[view["_id"]] = view["version"]
                        SUBSCRIPTION_PUSHES.inc()
                        yield view
                else:
                    subscriber.wakeup.clear()
                    await subscriber.wakeup.wait()
        finally:
            self._unregister(subscriber)

    async def close(self) -> None:
        """Stop the feed task and end every subscription (their iteration simply stops)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        for subscriber in list(self._everyone):
            self._unregister(subscriber)
            subscriber.end()
        self._open.set()  # watches still waiting for the feed see that the hub is closed

    async def _feed_open(self) -> bool:
        """Start the feed task if it is not running and wait until its feed is open;
        False when the hub is closed."""
        if self._closed:
            return False
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._follow(), name="booking-updates-feed")
        await self._open.wait()
        return not self._closed

    async def _current_state(self, subscriber: _Subscriber) -> list[View]:
        if subscriber.booking_id is not None:
            view = await self._views.get(subscriber.booking_id)
            views = [] if view is None else [view]
        else:
            views = await self._views.of_customer(subscriber.reader.customer_id)
        return [view for view in views if subscriber.reader.may_see(view)]

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RETRY_FIRST_SECONDS
        try:
            while True:
                opened_at: float | None = None
                feed = self._views.changes()
                try:
                    async for change in feed:
                        if isinstance(change, Resync):
                            if opened_at is None:
                                opened_at = loop.time()
                            self._resync_everyone()
                            self._open.set()
                        else:
                            self._dispatch(change)
                    log.warning("booking_feed_ended", retry_in=round(delay, 1))
                except Exception as error:
                    log.warning("booking_feed_failed", error=repr(error), retry_in=round(delay, 1))
                finally:
                    await _close(feed)
                self._open.clear()
                if opened_at is not None and loop.time() - opened_at >= RETRY_MAX_SECONDS:
                    delay = RETRY_FIRST_SECONDS
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        finally:
            self._open.clear()

    def _dispatch(self, views: list[View]) -> None:
        for view in views:
            watchers = (
                *self._by_booking.get(view["_id"], ()),
                *self._by_customer.get(view.get("customer_id", ""), ()),
            )
            for subscriber in watchers:
                self._offer(subscriber, view)

    def _offer(self, subscriber: _Subscriber, view: View) -> None:
        if not subscriber.is_news(view):
            return
        if len(subscriber.pending) >= self._buffer_size:
            self._unregister(subscriber)
            subscriber.end(too_slow=True)
            self._dropped_slow += 1
            SUBSCRIBERS_DROPPED.labels("too_slow").inc()
            log.warning(
                "subscriber_too_slow", booking_id=view["_id"],
                customer_id=subscriber.reader.customer_id,
            )
            return
        subscriber.pending.append(view)
        subscriber.wakeup.set()

    def _resync_everyone(self) -> None:
        for subscriber in self._everyone:
            subscriber.pending.clear()  # the read after the resync covers them
            subscriber.resync = True
            subscriber.wakeup.set()

    def _index_of(self, subscriber: _Subscriber) -> tuple[dict[str, set[_Subscriber]], str]:
        if subscriber.booking_id is not None:
            return self._by_booking, subscriber.booking_id
        return self._by_customer, subscriber.reader.customer_id

    def _register(self, subscriber: _Subscriber) -> None:
        self._everyone.add(subscriber)
        SUBSCRIPTIONS_OPEN.inc()
        index, key = self._index_of(subscriber)
        index.setdefault(key, set()).add(subscriber)

    def _unregister(self, subscriber: _Subscriber) -> None:
        if subscriber not in self._everyone:
            return
        self._everyone.discard(subscriber)
        SUBSCRIPTIONS_OPEN.dec()
        index, key = self._index_of(subscriber)
        watchers = index.get(key)
        if watchers is not None:
            watchers.discard(subscriber)
            if not watchers:
                del index[key]


async def _close(feed: AsyncIterator[list[View] | Resync]) -> None:
    aclose = getattr(feed, "aclose", None)
    if aclose is not None:
        with suppress(Exception):
            await aclose()
