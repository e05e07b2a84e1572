"""`travelbuddy seed` books sample trips once, however often it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from travelbuddy.eventstore.sqlite import SqliteEventStore

TRAVELBUDDY = str(Path(sys.executable).with_name("travelbuddy"))


def seed(data_dir: Path) -> str:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("TRAVELBUDDY_MONGODB_URL", "TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS")}
    result = subprocess.run(
        [TRAVELBUDDY, "seed", "--bookings", "3"], capture_output=True, text=True, timeout=60,
        env=environment | {"TRAVELBUDDY_DATA_DIR": str(data_dir)}, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def test_seeding_twice_books_the_sample_trips_once(tmp_path: Path) -> None:
    first, second = seed(tmp_path), seed(tmp_path)

    store = SqliteEventStore(tmp_path / "events.sqlite3")
    try:
        events = [e async for e in store.read_all()]
    finally:
        store.close()
    assert "seeded 3 bookings for demo-customer" in first
    assert "seeded 3 bookings for demo-customer" in second
    assert [e.type for e in events] == ["BookingRequested"] * 3
    assert {e.metadata.customer_id for e in events} == {"demo-customer"}
