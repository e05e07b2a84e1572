"""The ChangeFeed port: the store's events, in order, from a resume token on.

Followers (projectors, the relay) open a feed, take events with `try_next`, and save the
feed's `resume_token` after their effects. MongoDB (`eventstore/mongo.py`): a change
stream on `events` and its resume token. Embedded (`eventstore/sqlite.py`): the SQLite
store's global position.
"""

from __future__ import annotations

from typing import Any, Protocol

from travelbuddy.eventstore.port import StoredEvent

# The test MongoDB answers an empty getMore at once instead of waiting MAX_AWAIT_MS: pause
# between empty polls so an idle follower does not spin.
IDLE_POLL_SECONDS = 0.02


class FeedCursor(Protocol):
    """An open feed."""

    @property
    def resume_token(self) -> Any:
        """Where to resume to see only the events after the last one taken."""
        ...

    async def try_next(self) -> StoredEvent | None:
        """The next event, or None at once when there is none yet.

        Raises MalformedEvent for a stored document or row that is not an event; the
        cursor has moved past it.
        """
        ...

    async def wait(self) -> None:
        """Return when more events may be ready (after `try_next` answered None)."""
        ...

    async def close(self) -> None:
        """Release the cursor."""
        ...


class ChangeFeed(Protocol):
    """Opens cursors on the store's events."""

    async def open(self, resume_token: Any = None) -> FeedCursor:
        """A cursor after `resume_token`, or, without one, after the newest event now."""
        ...
