"""What the workers of this process say about themselves, for readiness: whether the relay's
last publish went through, and how many partitions the inbound consumer reads. Followers
that run in another process are judged by their checkpoints instead (see bootstrap)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass
class WorkerHealth:
    """Set by the workers as they run; None for a worker this process does not run."""

    relay_publishing: bool | None = None
    relay_error: str | None = None
    relay_failing_since: dt.datetime | None = None
    """Since when the relay has had an event it could not get acknowledged (a publish
    waiting, or failing and retried), or None."""
    inbound_partitions: int | None = None

    def publishing(self) -> None:
        """The relay starts publishing an event."""
        if self.relay_failing_since is None:
            self.relay_failing_since = dt.datetime.now(dt.UTC)

    def published(self) -> None:
        """The relay's last publish was acknowledged."""
        self.relay_publishing, self.relay_error, self.relay_failing_since = True, None, None

    def publish_failed(self, error: BaseException) -> None:
        """The relay's last publish failed; it retries."""
        self.relay_publishing, self.relay_error = False, repr(error)

    def relay_stuck_for(self) -> float:
        """Seconds the relay has been trying to get one event acknowledged."""
        if self.relay_failing_since is None:
            return 0.0
        return (dt.datetime.now(dt.UTC) - self.relay_failing_since).total_seconds()
