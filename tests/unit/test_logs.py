"""The service's log lines (travelbuddy/observability/logs.py): one line per event, JSON or
key=value, with the ids bound where the work started and the current span's trace id; a
library's records rendered the same way; repeated warnings and errors held back."""

from __future__ import annotations

import io
import json
import logging
import shlex
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.logged import json_lines, printed
from travelbuddy.observability.logs import RepeatedMessages, bound, get_logger, log_handler

TRACER = TracerProvider().get_tracer("tests")  # not the process's provider: none is set


@pytest.fixture
def name() -> Iterator[str]:
    """A logger of this test alone, logging from DEBUG up."""
    name = f"travelbuddy.tests.{uuid.uuid4().hex[:8]}"
    logging.getLogger(name).setLevel(logging.DEBUG)
    yield name
    logging.getLogger(name).setLevel(logging.NOTSET)


def logfmt(line: str) -> dict[str, str]:
    """A key=value line's fields (double quotes around values with spaces or `=`)."""
    assert "\n" not in line.rstrip("\n")
    return dict(token.split("=", 1) for token in shlex.split(line))


def test_a_json_line_has_time_level_logger_event_fields_bound_ids_and_trace(
    name: str,
) -> None:
    with printed("json", name) as out, bound(booking_id="b-1", command_id="c-1",
                                             correlation_id=None):
        with TRACER.start_as_current_span("handle") as span:
            get_logger(name).info("reply_applied", version=3, reason="a b")
    [line] = json_lines(out.getvalue())
    context = span.get_span_context()

    assert list(line)[:4] == ["timestamp", "level", "logger", "event"]
    assert line["timestamp"].endswith("Z") and "T" in line["timestamp"]
    assert {k: v for k, v in line.items() if k != "timestamp"} == {
        "level": "info", "logger": name, "event": "reply_applied", "version": 3,
        "reason": "a b", "booking_id": "b-1", "command_id": "c-1",
        "trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}",
    }


def test_a_text_line_is_key_value_with_quoted_values_on_one_line(name: str) -> None:
    hostile = 'a b=c "quoted"\nsecond line\r\x1b[31mred'
    with printed("text", name) as out, bound(booking_id="b-2"):
        with TRACER.start_as_current_span("handle") as span:
            get_logger(name).warning("request_refused", reason=hostile, status=401)
    text = out.getvalue()
    fields = logfmt(text)

    assert text.count("\n") == 1 and "\r" not in text and "\x1b" not in text
    assert text.startswith("timestamp=") and " level=warning logger=" in text
    assert fields["event"] == "request_refused" and fields["status"] == "401"
    assert fields["logger"] == name and fields["booking_id"] == "b-2"
    assert fields["reason"] == 'a b=c "quoted"\\nsecond line\\r\\x1b[31mred'
    assert fields["trace_id"] == f"{span.get_span_context().trace_id:032x}"


def test_a_library_record_is_rendered_like_an_event_with_the_bound_ids(name: str) -> None:
    library = logging.getLogger(f"{name}.library")  # as aiokafka's or uvicorn's loggers
    with printed("json", name) as out, bound(booking_id="b-3"):
        library.warning("Unable connect to node with id %s: %s", 1, "refused")
        try:
            raise ValueError("broken")
        except ValueError:
            library.exception("Unexpected error")
    warning, error = json_lines(out.getvalue())

    assert {k: v for k, v in warning.items() if k != "timestamp"} == {
        "level": "warning", "logger": library.name, "booking_id": "b-3",
        "event": "Unable connect to node with id 1: refused"}
    assert error["level"] == "error" and error["event"] == "Unexpected error"
    assert "ValueError: broken" in error["exception"]


def test_no_trace_ids_without_a_valid_span_and_nothing_bound_outside_the_block(
    name: str,
) -> None:
    log = get_logger(name)
    with printed("json", name) as out:
        with bound(booking_id="b-4"):
            log.info("inside")
        log.info("outside")
    inside, outside = json_lines(out.getvalue())

    assert inside["booking_id"] == "b-4" and "booking_id" not in outside
    assert not {"trace_id", "span_id"} & (inside.keys() | outside.keys())


def test_levels_below_the_logger_level_are_not_rendered(name: str) -> None:
    logging.getLogger(name).setLevel(logging.INFO)
    with printed("json", name) as out:
        get_logger(name).debug("too_fine")
        get_logger(name).info("kept")

    assert [line["event"] for line in json_lines(out.getvalue())] == ["kept"]


def test_a_repeated_error_is_printed_once_per_window_then_with_the_count_held_back(
    name: str,
) -> None:
    now = [100.0]
    stream = io.StringIO()
    handler = log_handler("json", stream)
    handler.filters = [RepeatedMessages(window=30.0, clock=lambda: now[0])]
    logging.getLogger(name).addHandler(handler)
    log, library = get_logger(name), logging.getLogger(f"{name}.client")
    try:
        for attempt in range(1000):
            log.error("publish_failed", attempt=attempt)
            library.error("Unable connect to node with id %s: %s", 1, attempt)
            log.info("retrying")  # below WARNING: every one is printed
        log.warning("publish_failed")  # another level: a line of its own
        now[0] += 30.0
        log.error("publish_failed", attempt=1000)
        library.error("Unable connect to node with id %s: %s", 1, 1000)
        log.error("publish_failed", attempt=1001)
    finally:
        logging.getLogger(name).removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    errors = [(line["logger"], line["event"], line.get("held_back")) for line in lines
              if line["level"] == "error"]

    assert errors == [
        (name, "publish_failed", None),
        (f"{name}.client", "Unable connect to node with id 1: 0", None),
        (name, "publish_failed", 999),
        (f"{name}.client", "Unable connect to node with id 1: 1000", 999),
    ]
    assert [line["attempt"] for line in lines if line["event"] == "publish_failed"
            and line["level"] == "error"] == [0, 1000]
    assert sum(line["event"] == "retrying" for line in lines) == 1000
    assert sum(line["level"] == "warning" for line in lines) == 1


def test_the_handler_holds_back_a_storm_of_one_error(name: str) -> None:
    with printed("text", name) as out:
        for _ in range(5000):
            logging.getLogger(f"{name}.conn").error("Unable connect to node with id %s", 1)

    assert len(out.getvalue().splitlines()) == 1
