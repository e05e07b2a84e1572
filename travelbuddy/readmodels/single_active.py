"""Single-active workers: the read-model projector, the relay and the catalog projector
run on every replica, but only the holder of the worker's lease works; the others stand by
and take over once the lease expires (a killed holder) or is released (a clean stop).

The holder renews its lease every `renew_every` seconds for `ttl` seconds. It stops working
(LeaseLost) when a renewal finds the lease taken, or when it could not renew before the
lease ran out (the store away): from then on a standby may hold it. Every checkpoint the
worker writes carries the lease's fencing number, and the store refuses a number that is
no longer current, so a paused or cut-off holder cannot move a checkpoint backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

from travelbuddy.observability.logs import get_logger
from travelbuddy.observability.metrics import FOLLOWER_LEASE_HELD, follower_of
from travelbuddy.readmodels.ports import Lease, LeaseLost, LeaseStore

log = get_logger(__name__)

# A holder stops this long before its lease runs out, so it never works past the moment a
# standby may take over (the clocks of one deployment are taken to agree this closely).
SAFETY_MARGIN_SECONDS = 0.5


def worker_identity() -> str:
    """Who this process is, in lease documents: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SingleActive:
    """Runs one worker only while this process holds the worker's lease."""

    def __init__(
        self,
        name: str,
        leases: LeaseStore,
        *,
        owner: str | None = None,
        ttl: float = 6.0,
        renew_every: float = 2.0,
        standby_poll: float = 1.0,
    ) -> None:
        self.name = name
        self.owner = owner or worker_identity()
        self._leases = leases
        self._ttl = ttl
        self._renew_every = renew_every
        self._standby_poll = standby_poll
        self.lease: Lease | None = None
        self._held = FOLLOWER_LEASE_HELD.labels(follower_of(name))  # 0 while standing by

    @property
    def fencing(self) -> int | None:
        """The fencing number of the lease held now (None before it is held)."""
        return self.lease.fencing if self.lease else None

    def check(self) -> None:
        """Raise LeaseLost unless the lease is held and not about to run out."""
        lease = self.lease
        margin = dt.timedelta(seconds=SAFETY_MARGIN_SECONDS)
        if lease is None or dt.datetime.now(dt.UTC) >= lease.expires_at - margin:
            raise LeaseLost(self.name, self.fencing)

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Wait for the lease, then run `work` while renewing it. Returns when `work`
        does; raises LeaseLost when the lease is lost (the worker is stopped first)."""
        await self._take()
        worker = asyncio.ensure_future(work())
        keeper = asyncio.ensure_future(self._keep())
        try:
            done, _ = await asyncio.wait({worker, keeper}, return_when=asyncio.FIRST_COMPLETED)
            if keeper in done:  # lost: stop working before anyone else starts
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError, LeaseLost):
                    await worker
                keeper.result()
            worker.result()
        finally:
            for task in (worker, keeper):
                task.cancel()
            await asyncio.gather(worker, keeper, return_exceptions=True)
            await self._release()

    async def _take(self) -> None:
        standing_by = False
        while True:
            lease = await self._leases.acquire(self.name, self.owner, self._ttl)
            if lease is not None:
                self.lease = lease
                self._held.inc()
                log.info("lease_acquired", lease=self.name, owner=self.owner,
                         fencing=lease.fencing)
                return
            if not standing_by:
                holder = await self._leases.holder(self.name)
                log.info("standing_by", lease=self.name, owner=self.owner,
                         holder=holder.owner if holder else None)
                standing_by = True
            await asyncio.sleep(self._standby_poll)

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            assert self.lease is not None
            try:
                renewed = await self._leases.renew(self.lease, self._ttl)
            except Exception as error:  # the store away: keep trying until the lease runs out
                log.warning("lease_renewal_failed", lease=self.name, error=repr(error))
                self.check()
                continue
            if renewed is None:
                log.warning("lease_lost", lease=self.name, owner=self.owner,
                            fencing=self.lease.fencing)
                raise LeaseLost(self.name, self.lease.fencing)
            self.lease = renewed

    async def _release(self) -> None:
        lease, self.lease = self.lease, None
        if lease is None:
            return
        self._held.dec()
        with contextlib.suppress(Exception):  # a clean stop should not fail on the way out
            await asyncio.shield(self._leases.release(lease))
