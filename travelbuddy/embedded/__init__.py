"""The embedded default: what the service runs on without a MongoDB server (issue 6).

`InMemoryDatabase` stands in for PyMongo's `AsyncDatabase` for the calls the read side
makes, so the projections, checkpoints, dead letters and queries run on it unchanged.
"""

from travelbuddy.embedded.document_changes import InMemoryChangeStream
from travelbuddy.embedded.documents import InMemoryCollection, InMemoryCursor, InMemoryDatabase

__all__ = ["InMemoryChangeStream", "InMemoryCollection", "InMemoryCursor", "InMemoryDatabase"]
