"""The service's log lines as tests read them: fields, not text.

In the test process a structlog event reaches `caplog` as a stdlib record whose `msg` is
the event's dict (travelbuddy/observability/logs.py); a `travelbuddy` process started with
`TRAVELBUDDY_LOG_FORMAT=json` writes one JSON object per line.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from travelbuddy.observability.logs import LogFormat, log_handler

JSON_LOGS = {"TRAVELBUDDY_LOG_FORMAT": "json"}
"""The environment that makes a `travelbuddy` process log JSON lines."""


def event_of(record: logging.LogRecord) -> dict[str, Any]:
    """The record's event and fields (a library's record: its text as the event)."""
    if isinstance(record.msg, dict):
        return dict(record.msg)
    return {"event": record.getMessage(), "logger": record.name}


def events(records: Iterable[logging.LogRecord], name: str | None = None
           ) -> list[dict[str, Any]]:
    """The events of these records, only those named `name` when given."""
    found = [event_of(record) for record in records]
    return [e for e in found if name is None or e["event"] == name]


@contextlib.contextmanager
def printed(log_format: LogFormat = "json", logger: str | None = None
            ) -> Iterator[io.StringIO]:
    """What the service's log handler prints while the block runs, for the records of
    `logger` and those under it (None: every logger, at the root)."""
    stream = io.StringIO()
    handler = log_handler(log_format, stream)
    target = logging.getLogger(logger)
    target.addHandler(handler)
    try:
        yield stream
    finally:
        target.removeHandler(handler)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of a JSON log, parsed; a line that is not a JSON object fails the test.
    An unfinished last line (no newline yet: the process is writing it) is left out."""
    finished = text[:text.rfind("\n") + 1]
    lines = [json.loads(line) for line in finished.splitlines() if line.strip()]
    assert all(isinstance(line, dict) for line in lines), text
    return lines


def json_events(text: str, name: str) -> list[dict[str, Any]]:
    """The lines of a JSON log whose event is `name`."""
    return [line for line in json_lines(text) if line.get("event") == name]
