"""Event metadata as the stores keep it: events stored before the trace context existed
load with none."""

from __future__ import annotations

import datetime as dt

from travelbuddy.eventstore.port import EventMetadata


def test_metadata_stored_without_a_trace_context_loads_with_none() -> None:
    stored_before = {"event_id": "e-1", "customer_id": "alice", "command_id": "c-1",
                     "recorded_at": dt.datetime(2026, 1, 5, tzinfo=dt.UTC)}

    metadata = EventMetadata.from_document(stored_before)

    assert (metadata.traceparent, metadata.tracestate) == (None, None)
    assert metadata.command_id == "c-1"


def test_the_trace_context_goes_into_the_stored_document_and_back() -> None:
    metadata = EventMetadata(event_id="e-1", customer_id="alice",
                             recorded_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
                             traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                             tracestate="vendor=opaque")

    assert EventMetadata.from_document(metadata.as_document()) == metadata
