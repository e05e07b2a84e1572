"""Structured logs: one line per thing that happened, JSON or key=value, on stderr.

The service logs events with fields through structlog (`log = get_logger(__name__)`,
`log.info("lease_acquired", lease=name, fencing=3)`). Each line carries the time (UTC,
ISO-8601), the level, the logger's name, the event and its fields; the booking, command
and correlation ids bound where the work starts (`bound(...)`: a command, a message, an
event, a batch); and the trace and span ids of OpenTelemetry's current span, when one is
valid. Every other logger of the process (uvicorn, aiokafka, pymongo, strawberry, asyncio)
goes through the same handler and is rendered the same way, with its text as the event.

structlog's events are stdlib `LogRecord`s until the root handler renders them, so levels,
`caplog` and library loggers work as they always did; a record's `msg` is the event's
dict. The handler holds back repeats of a warning or an error (`RepeatedMessages`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TextIO, cast

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

if TYPE_CHECKING:
    from travelbuddy.eventstore.port import StoredEvent

LogFormat = Literal["json", "text"]
KEY_ORDER = ("timestamp", "level", "logger", "event")
REPEAT_WINDOW_SECONDS = 30.0


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """The structlog logger of a module (`get_logger(__name__)`); its events go to the
    stdlib logger of that name, stamped with time, level, name, bound ids and trace ids."""
    return cast(structlog.stdlib.BoundLogger, structlog.wrap_logger(
        logging.getLogger(name), processors=_EVENT_CHAIN,
        wrapper_class=structlog.stdlib.BoundLogger, cache_logger_on_first_use=True))


@contextlib.contextmanager
def bound(**ids: object) -> Iterator[None]:
    """Bind these fields (those not None) to every line logged in the block, by this task
    and the tasks it starts: where a command, a message, an event or a batch is handled."""
    with structlog.contextvars.bound_contextvars(
        **{key: value for key, value in ids.items() if value is not None}
    ):
        yield


def event_ids(event: StoredEvent) -> dict[str, object]:
    """The ids the lines about a stored event carry (for `bound`): its booking, its own
    id, and the command and correlation it came with."""
    return {"booking_id": event.stream_id.removeprefix("booking-"),
            "event_id": event.metadata.event_id, "command_id": event.metadata.command_id,
            "correlation_id": event.metadata.correlation_id}


def configure(level: str = "INFO", log_format: LogFormat = "text",
              stream: TextIO | None = None) -> None:
    """Render every log line of this process in `log_format` on `stream` (stderr), from
    `level` up, Python's warnings included. Like `logging.basicConfig`, it does nothing
    when the root logger has a handler already (a test runner's, say)."""
    root = logging.getLogger()
    if root.handlers:
        return
    root.addHandler(log_handler(log_format, stream))
    root.setLevel(level.upper())
    logging.captureWarnings(True)


def log_handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A handler that renders any record, structlog's or a library's, as one line in
    `log_format`, holding back repeated warnings and errors."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_STAMPS,
        processors=[
            structlog.stdlib.ExtraAdder(allow=["held_back"]),
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            *_renderer(log_format),
        ],
    ))
    handler.addFilter(RepeatedMessages())
    return handler


def add_trace_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The trace and span ids of OpenTelemetry's current span, if there is a valid one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", trace.format_trace_id(context.trace_id))
        event_dict.setdefault("span_id", trace.format_span_id(context.span_id))
    return event_dict


_STAMPS: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    add_trace_ids,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
"""What every line gets, a structlog event (when logged) or a library's record (when
rendered: the same task, so the same bound ids and current span)."""

_EVENT_CHAIN: list[Processor] = [
    structlog.stdlib.filter_by_level,
    *_STAMPS,
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
]

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\x85\u2028\u2029]")
"""Control characters but the newline, which the logfmt renderer escapes itself."""


def _ordered(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Time, level, logger and event first, then the fields."""
    return {**{key: event_dict[key] for key in KEY_ORDER if key in event_dict}, **event_dict}


def _one_line(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Values as text with control characters escaped: a field can break no line and
    colour no terminal (JSON escapes them itself)."""
    for key, value in event_dict.items():
        if value is None or isinstance(value, bool | int | float):
            continue
        text = value if isinstance(value, str) else str(value)
        event_dict[key] = _CONTROL.sub(_escaped, text)
    return event_dict


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def _renderer(log_format: LogFormat) -> list[Processor]:
    if log_format == "json":
        return [_ordered, structlog.processors.JSONRenderer()]
    return [_ordered, _one_line, structlog.processors.LogfmtRenderer(bool_as_flag=False)]


class RepeatedMessages(logging.Filter):
    """Lets a warning or an error through once per `window` seconds per logger and event
    (a library's: its message before the arguments), and the next one after the window
    says how many like it were held back (`held_back=N`): an outage of minutes is a few
    lines, not tens of thousands (aiokafka's "Unable connect to node" every few
    milliseconds). Lines below `least_level` all pass: each is a thing that happened."""

    MAX_KEYS = 1024

    def __init__(self, window: float = REPEAT_WINDOW_SECONDS,
                 least_level: int = logging.WARNING,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window = window
        self._least_level = least_level
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}
        """(logger, level, event) -> (when one was let through, how many held back since)"""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self._least_level:
            return True
        key = (record.name, record.levelno, _event_of(record))
        now = self._clock()
        with self._lock:
            passed, held = self._seen.get(key, (None, 0))
            if passed is not None and now - passed < self._window:
                self._seen[key] = (passed, held + 1)
                return False
            if len(self._seen) >= self.MAX_KEYS:
                self._forget_before(now - self._window)
            self._seen[key] = (now, 0)
        if held:
            record.held_back = held
        return True

    def _forget_before(self, moment: float) -> None:
        self._seen = {key: seen for key, seen in self._seen.items() if seen[0] >= moment}


def _event_of(record: logging.LogRecord) -> str:
    message: Any = record.msg
    return str(message.get("event")) if isinstance(message, dict) else str(message)
