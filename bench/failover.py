"""9. Failover: how soon a standby `travelbuddy projector` takes over after `kill -9` of
the active one (embedded default; the same lease code runs on MongoDB).

Two `travelbuddy projector` processes on one data folder with the production lease (6 s,
renewed every 2 s; 2 s / 0.5 s with --quick). Once the first holds the lease and the second
stands by, a booking is requested, the active projector is killed with SIGKILL, and another
booking is requested at once. Measured per round: the time from the kill to the standby
holding the lease (its fencing number one higher), and to the new booking's view being
served. Baseline, same run: the lease's time to live, the bound the design promises a
takeover within (plus the standby's one-second poll). Ratio below 1 means faster than the
lease alone would allow; the target is a takeover within 10 s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.context import EMBEDDED, BenchContext
from bench.stats import Figure, Measurement, Side, figure
from travelbuddy.application import Caller
from travelbuddy.bootstrap import READ_MODELS_PROJECTOR, Services, build_services
from travelbuddy.config import Settings
from travelbuddy.domain import Cabin, FlightRequest, HotelStayRequest, RequestBooking, Traveler

NAME = "9 failover"
USES_MONGODB = False
TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))


def _request(number: int) -> RequestBooking:
    day = dt.date.today() + dt.timedelta(days=30 + number % 20)
    return RequestBooking(
        booking_id=str(uuid.uuid4()), customer_id="failover",
        hotel_stays=(HotelStayRequest(hotel_id="hotel-sapporo-1", room_type="STD",
                                      check_in=day, check_out=day + dt.timedelta(days=2),
                                      guests=2),),
        flights=(FlightRequest(flight_id="NH-061-HND-CTS", date=day, seats=1,
                               cabin=Cabin.ECONOMY),),
        travelers=(Traveler(name="Aiko Tanaka"),),
    )


async def _until(probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool],
                 seconds: float) -> float:
    """Poll `probe` every 20 ms until `done(value)`; the monotonic time it became so."""
    deadline = time.monotonic() + seconds
    while True:
        if done(await probe()):
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached in time")
        await asyncio.sleep(0.02)


def _projector(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([TRAVELBUDDY, "projector"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _round(ctx: BenchContext, number: int, ttl: float, renew: float) -> tuple[float, float]:
    data = ctx.folder(f"failover-{number}")
    settings = Settings(mongodb_url=None, kafka_bootstrap_servers=None, data_dir=data)
    services: Services = await build_services(settings)
    env = {k: v for k, v in os.environ.items()
           if k not in {"TRAVELBUDDY_MONGODB_URL", "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS"}}
    env |= {"TRAVELBUDDY_DATA_DIR": str(data), "TRAVELBUDDY_LEASE_TTL_SECONDS": str(ttl),
            "TRAVELBUDDY_LEASE_RENEW_SECONDS": str(renew), "TRAVELBUDDY_LOG_LEVEL": "WARNING",
            "TRAVELBUDDY_METRICS_PORT": "0"}  # two projectors on one machine
    leases = services.read_models.leases
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(_projector(env))
        await _until(lambda: leases.holder(READ_MODELS_PROJECTOR), bool, 60)
        processes.append(_projector(env))
        await asyncio.sleep(1.0)  # let the second start and stand by (it finds the lease held)
        first = await services.commands.handle(_request(0), Caller("failover"))
        await _until(lambda: services.read_models.views.get(first.booking_id), bool, 60)
        os.kill(processes[0].pid, signal.SIGKILL)
        killed = time.monotonic()
        later = await services.commands.handle(_request(1), Caller("failover"))
        took_over = await _until(
            lambda: leases.holder(READ_MODELS_PROJECTOR),
            lambda lease: lease is not None and lease.fencing == 2, 60)
        served = await _until(lambda: services.read_models.views.get(later.booking_id),
                              bool, 60)
        return took_over - killed, served - killed
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)
        await services.close()


async def run(ctx: BenchContext) -> list[Figure]:
    """Takeover and recovery times after kill -9, beside the lease's time to live."""
    ttl, renew, rounds = (2.0, 0.5, 1) if ctx.quick else (6.0, 2.0, 3)
    takeovers: list[Measurement] = []
    recoveries: list[Measurement] = []
    for number in range(rounds):
        takeover, recovery = await _round(ctx, number, ttl, renew)
        ctx.log(f"{NAME}: round {number + 1}: takeover {takeover:.2f} s, view {recovery:.2f} s")
        takeovers.append(Measurement(value=takeover, count=1))
        recoveries.append(Measurement(value=recovery, count=1))
    bound = [Measurement(value=ttl, count=1) for _ in range(rounds)]
    lease = Side.of(f"lease time to live ({ttl:.0f} s)", "s", bound)
    note = "target: takeover within 10 s of kill -9"
    return [
        figure(NAME, EMBEDDED, "kill -9 of the active projector: standby holds the lease",
               Side.of("standby takes over", "s", takeovers), lease,
               higher_is_better=False, note=note),
        figure(NAME, EMBEDDED, "kill -9 of the active projector: a new booking's view served",
               Side.of("view served by the standby", "s", recoveries), lease,
               higher_is_better=False, note=note),
    ]
