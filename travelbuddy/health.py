"""What the workers of this process say about themselves, for readiness: whether the relay's
last publish went through, and how many partitions the inbound consumer reads. Followers
that run in another process are judged by their checkpoints instead (see bootstrap)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class WorkerHealth:
    """Set by the workers as they run; None for a worker this process does not run."""

    relay_publishing: bool | None = None
    relay_error: str | None = None
    relay_failing_since: dt.datetime | None = None
    """Since when the relay has had an event it could not get acknowledged (a publish
    waiting, or failing and retried), or None."""
    inbound_partitions: int | None = None
    followers: FollowerFailures = field(default_factory=lambda: FollowerFailures())
    """Followers failing on an event (see `FollowerFailures`)."""

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


STUCK_AFTER_FAILURES = 3
"""A follower that failed this many times in a row on the same event is stuck."""


@dataclass
class FollowerFailure:
    """A follower's failures in a row on one event (position, stream id, version)."""

    position: str | None
    stream_id: str | None
    version: int | None
    error: str
    failures: int = 1

    def same_event(self, other: FollowerFailure) -> bool:
        return (self.position, self.stream_id, self.version) == (
            other.position, other.stream_id, other.version)


@dataclass
class FollowerFailures:
    """The failures of this process's followers (projectors, the relay) since each last
    made progress: a follower failing again and again on the same event is stuck, and
    readiness says which event it is."""

    failing: dict[str, FollowerFailure] = field(default_factory=dict)

    def failed(self, follower: str, failure: FollowerFailure) -> None:
        """The follower failed on an event (or, without one, at a position)."""
        last = self.failing.get(follower)
        if last is not None and last.same_event(failure):
            failure.failures = last.failures + 1
        self.failing[follower] = failure

    def progressed(self, follower: str) -> None:
        """The follower committed a batch: whatever failed before is behind it."""
        self.failing.pop(follower, None)

    def stuck(self) -> dict[str, FollowerFailure]:
        """The followers that failed STUCK_AFTER_FAILURES times in a row on one event."""
        return {name: failure for name, failure in self.failing.items()
                if failure.failures >= STUCK_AFTER_FAILURES}
