"""The latest known state of recently used bookings, so a command need not read its stream.

The cache is a hint, never the truth: the handler appends at the cached version, and the
store's optimistic-concurrency check refuses the append if another writer (another
process, or a concurrent command here) moved the stream on. The handler then forgets the
entry, reads the stream and decides again. A rule broken against a cached state is checked
again against the stream before it is answered, because a newer state might allow it.
"""

from __future__ import annotations

from collections import OrderedDict

from travelbuddy.domain import BookingState

DEFAULT_SIZE = 1_000


class RecentStates:
    """A bounded map from stream id to the newest state this process saw, least recently
    used first out."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._states: OrderedDict[str, BookingState] = OrderedDict()

    def get(self, stream_id: str) -> BookingState | None:
        state = self._states.get(stream_id)
        if state is not None:
            self._states.move_to_end(stream_id)
        return state

    def remember(self, stream_id: str, state: BookingState) -> None:
        """Keep `state` unless a newer one is known (appends can finish out of order)."""
        known = self._states.get(stream_id)
        if known is None or known.version < state.version:
            self._states[stream_id] = state
        self._states.move_to_end(stream_id)
        while len(self._states) > self._size:
            self._states.popitem(last=False)

    def forget(self, stream_id: str) -> None:
        self._states.pop(stream_id, None)

    def __len__(self) -> int:
        return len(self._states)
