"""Retries with backoff, in one place: the service's policy, the two ways its code
retries, and what every retry leaves behind (a counter and a log line).

- `retrying(operation, call, on=...)`: an operation on the broker or the store that
  failed with one of the exception types named is tried again, for as long as it takes.
  Its failures say nothing about the work (a broker or MongoDB away), and giving up would
  lose or block it: the relay's publish, the inbound consumer's command, dead letter and
  commit. Any other exception goes to the caller at once.
- `restarting(worker, run)`: the supervisor runs a worker again each time it crashes.

Both wait `Backoff`: `initial` seconds before the first retry, doubling with each failure,
plus up to `jitter` at random so replicas do not retry in step, never more than `maximum`
(stamina does the waiting). The settings `TRAVELBUDDY_RETRY_*` and
`TRAVELBUDDY_WORKER_RESTART_*` choose them (`retry_backoff`, `restart_backoff`).

stamina calls its on-retry hooks, one set per process, before each wait; this module sets
its own on import: it counts `travelbuddy_retries_total{operation}` (a worker's restart:
`travelbuddy_worker_restarts_total{worker}` instead) and logs one line per retry.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import stamina
from prometheus_client import Counter
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from travelbuddy.config import Settings
from travelbuddy.observability.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")

RETRIES = Counter(
    "travelbuddy_retries_total",
    "Attempts of an operation that failed on I/O and were tried again, by operation.",
    ["operation"],
)
WORKER_RESTARTS = Counter(
    "travelbuddy_worker_restarts_total",
    "Times the supervisor started a crashed worker again, by worker.",
    ["worker"],
)


@dataclass(frozen=True)
class Backoff:
    """The wait before each retry: `initial` doubling per failure, plus up to `jitter` at
    random, never above `maximum` (seconds)."""

    initial: float
    maximum: float
    jitter: float


def retry_backoff(settings: Settings) -> Backoff:
    """The operations' backoff as configured."""
    return Backoff(settings.retry_initial_seconds, settings.retry_max_seconds,
                   settings.retry_jitter_seconds)


def restart_backoff(settings: Settings) -> Backoff:
    """The crashed workers' backoff as configured."""
    return Backoff(settings.worker_restart_initial_seconds,
                   settings.worker_restart_max_seconds, settings.retry_jitter_seconds)


_DEFAULTS = Settings.model_construct()  # the settings' defaults, no environment read
RETRY = retry_backoff(_DEFAULTS)
"""What an operation retried on I/O waits, by default."""
WORKER_RESTART = restart_backoff(_DEFAULTS)
"""What a crashed worker waits before it runs again, by default."""


@dataclass(frozen=True)
class _Retried:
    """What the hook counts and logs for the retry running in this context."""

    count: Callable[[], None]
    level: int
    event: str
    what: dict[str, str]
    """The fields naming what is retried (the work's own ids are bound in the context)."""


_retried: contextvars.ContextVar[_Retried | None] = contextvars.ContextVar(
    "travelbuddy_retried", default=None)


async def retrying(
    operation: str,
    call: Callable[[], Awaitable[T]],
    *,
    on: tuple[type[Exception], ...],
    backoff: Backoff = RETRY,
) -> T:
    """Await `call()` until it raises none of `on`, waiting `backoff` after each failure;
    each retry counted and logged under `operation`."""
    retried = _Retried(RETRIES.labels(operation).inc, logging.WARNING, "retry",
                       {"operation": operation})
    return await _forever(retried, call, on, backoff)


async def restarting(
    worker: str, run: Callable[[], Awaitable[None]], backoff: Backoff = WORKER_RESTART
) -> None:
    """Run a worker; each time it fails, count, log and run it again after `backoff`.
    Returns when the worker does."""
    retried = _Retried(WORKER_RESTARTS.labels(worker).inc, logging.ERROR, "worker_failed",
                       {"worker": worker})
    await _forever(retried, run, (Exception,), backoff)


async def _forever(
    retried: _Retried,
    call: Callable[[], Awaitable[T]],
    on: tuple[type[Exception], ...],
    backoff: Backoff,
) -> T:
    token = _retried.set(retried)
    try:
        async for attempt in stamina.retry_context(
            on=on, attempts=None, timeout=None, wait_initial=backoff.initial,
            wait_max=backoff.maximum, wait_jitter=backoff.jitter,
        ):
            with attempt:
                return await call()
    finally:
        _retried.reset(token)
    raise AssertionError("unreachable: stamina retries forever or raises")


def _on_retry(details: RetryDetails) -> None:
    """stamina's hook: count the retry and log it, as the retry's context says (a retry of
    stamina's outside this module's helpers: under its callable's name)."""
    retried = _retried.get() or _Retried(
        RETRIES.labels(details.name).inc, logging.WARNING, "retry", {"operation": details.name})
    retried.count()
    log.log(retried.level, retried.event, **retried.what, attempt=details.retry_num,
            retry_in=round(details.wait_for, 2), error=repr(details.caused_by))


def install_retry_hooks() -> None:
    """Make this module's hook stamina's only one in this process (instead of stamina's
    defaults, which would count and log every retry a second time)."""
    set_on_retry_hooks([_on_retry])


install_retry_hooks()
