"""Time-of-use energy summed by the database (per day and rate, hourly or 15-minute
rollups) equals the same energy priced row by row by wall clock, across a DST change,
on both databases."""

from __future__ import annotations

import random
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from meterhub.db.models import Rollup15m
from meterhub.protocol.readings import Reading
from meterhub.services import cost
from meterhub.store import Batch, TelemetryStore
from meterhub.tariffs.engine import Tariff, split_slots
from meterhub.tariffs.model import TariffDoc

BERLIN = ZoneInfo("Europe/Berlin")


def tou(windows: list[dict[str, str]]) -> Tariff:
    rates = [
        {"name": "day", "price": "0.30"},
        {"name": "night", "price": "0.10", "windows": windows},
        {
            "name": "peak",
            "price": "0.50",
            "windows": [{"days": "mon-fri", "from": "17:00", "to": "19:00"}],
        },
    ]
    doc = {
        "name": "t",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "versions": [
            {"effective_from": "2026-01-01", "kind": "flat", "price": "0.2"},
            {"effective_from": "2026-03-27", "kind": "tou", "default_rate": "day", "rates": rates},
        ],
    }
    return Tariff.of(TariffDoc.model_validate(doc))


@pytest.mark.parametrize(
    "windows",
    [
        [{"days": "daily", "from": "22:00", "to": "06:00"}],  # whole hours: hourly rollups
        [
            {"days": "sat,sun", "from": "01:45", "to": "03:30"},
            {"days": "mon-fri", "from": "23:15", "to": "05:00"},
        ],
    ],
    ids=["hourly", "quarter-hours"],
)
def test_database_sums_match_row_by_row(ctx: Any, admin_api: Any, windows: Any) -> None:
    device = admin_api.post("/api/devices", json={"serial_number": "T-1"}).json()
    rng = random.Random(5)
    start = datetime(2026, 3, 24, 21, 3, tzinfo=BERLIN).timestamp()
    end = datetime(2026, 4, 2, 2, 0, tzinfo=BERLIN).timestamp()
    readings, counter, ts = [], 1000.0, start
    while ts < end:
        counter += rng.randint(0, 90) / 1000
        readings.append(Reading("T-1", ts, True, 230.0, 1.0, 230.0, round(counter, 3), 50.0, 0.9))
        ts += rng.randint(120, 420)
    TelemetryStore(ctx.engine).write(Batch(readings=readings))
    tariff = tou(windows)
    first, last = date(2026, 3, 25), date(2026, 4, 1)
    with ctx.engine.connect() as conn:
        got = cost.usage(conn, tariff, device["id"], first, last)
        c = Rollup15m.__table__.c
        rows = conn.execute(
            select(c.bucket, c.energy_wh).where(c.device_id == device["id"]).order_by(c.bucket)
        ).all()
    lo = datetime(2026, 3, 25, tzinfo=BERLIN).timestamp()
    hi = datetime(2026, 4, 2, tzinfo=BERLIN).timestamp()
    expected = split_slots(tariff, [(int(b), int(wh)) for b, wh in rows if lo <= b < hi and wh])
    assert got == expected
    assert len(got[date(2026, 3, 30)]) == 3 and len(got[date(2026, 3, 25)]) == 1
    assert sum(got[date(2026, 3, 29)]) > 0  # the 23-hour day
