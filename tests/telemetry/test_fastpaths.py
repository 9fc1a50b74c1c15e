"""The read side's fast paths (telemetry/fastpaths.py) return exactly what their plain
reference paths return, on SQLite and PostgreSQL: chart buckets from every rollup width,
period summaries in zones whose midnights split UTC hours, and the dashboard's fleet
figures for several devices and ranges (online or not, with and without data)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from meterhub.db.models import Device
from meterhub.protocol.readings import Reading
from meterhub.services import dashboard, devices, users
from meterhub.store import Batch, TelemetryStore
from meterhub.telemetry import fastpaths, queries
from meterhub.telemetry.periods import PERIODS
from tests.telemetry.test_summary_exact import SCENARIOS, ZONES, fill

SCENARIO = SCENARIOS["autumn-dst"]


@pytest.fixture
def reference() -> Iterator[Any]:
    """reference(fn) -> fn's result on the plain paths."""

    def run(fn: Any) -> Any:
        queries.FAST_PATHS = False
        try:
            return fn()
        finally:
            queries.FAST_PATHS = True

    yield run
    queries.FAST_PATHS = True


def test_chart_buckets_match_the_reference(ctx: Any, reference: Any) -> None:
    device_id = fill(ctx, SCENARIO, seed=7)
    start_ms = int(SCENARIO.query_from.timestamp() * 1000)
    end_ms = int(SCENARIO.query_to.timestamp() * 1000)
    widths = set()
    with ctx.engine.connect() as conn:
        for max_points in (5, 40, 100, 300, 800):  # daily, hourly and 15-minute rollups
            fast = queries.series(conn, device_id, start_ms, end_ms, max_points)
            plain = reference(
                lambda m=max_points: queries.series(conn, device_id, start_ms, end_ms, m)
            )
            assert fast.resolution == plain.resolution
            assert fast.points == plain.points
            assert [list(p) for p in fast.points] == [list(p) for p in plain.points]  # key order
            assert fast.points and fast.points[0]["energy_kwh"] is not None
            widths.add(fast.resolution)
    assert len(widths) >= 3


def test_summaries_match_the_reference(ctx: Any, reference: Any) -> None:
    device_id = fill(ctx, SCENARIO, seed=3)
    with ctx.engine.connect() as conn:
        for zone_name in ZONES:
            for period in PERIODS:
                args = (
                    conn,
                    device_id,
                    SCENARIO.query_from,
                    SCENARIO.query_to,
                    period,
                    ZoneInfo(zone_name),
                    SCENARIO.now,
                )
                fast = queries.summary(*args)
                assert fast == reference(lambda a=args: queries.summary(*a))
                assert any(0 < b["coverage"] < 1 for b in fast[1]) or period != "day"


def test_fleet_figures_match_fleet_now_and_energy_since(ctx: Any) -> None:
    first = fill(ctx, SCENARIO, seed=5)
    with ctx.sessions() as db:
        second = devices.create(db, None, "FAST-2").id
        third = devices.create(db, None, "FAST-3").id  # no data at all
        db.execute(update(Device).where(Device.id.in_([first, second])).values(online=True))
        db.execute(update(Device).where(Device.id == second).values(last_power=123.5))
        db.commit()
    t0 = SCENARIO.data_from.timestamp()
    TelemetryStore(ctx.engine).write(
        Batch(
            readings=[
                Reading(
                    serial="FAST-2",
                    ts=t0 + 600 * n + 30,
                    ts_from_device=True,
                    voltage=230.0,
                    current=1.0,
                    power=200.0,
                    energy=5 + n / 100,
                    frequency=50.0,
                    pf=1.0,
                )
                for n in range(600)
            ]
        )
    )
    day = SCENARIO.data_from.replace(hour=0, minute=0) + timedelta(days=2)
    ranges = [
        (day, day + timedelta(hours=13, minutes=45)),  # 15-minute, hourly pieces
        (day - timedelta(days=1, hours=1), day + timedelta(days=4, minutes=15)),  # all three
        (day + timedelta(days=60), day + timedelta(days=61)),  # nothing there
    ]
    with ctx.engine.connect() as conn:
        for ids in ([first, second, third], [second], [third], []):
            online, power, kwh = fastpaths.fleet_figures(
                conn,
                ids,
                [(int(a.timestamp()), int(b.timestamp())) for a, b in ranges],
                queries.ROLLUP_TABLES,
            )
            assert (online, power) == queries.fleet_now(conn, ids)
            assert kwh == [queries.energy_since(conn, ids, a, until=b) for a, b in ranges]
        _, _, kwh = fastpaths.fleet_figures(
            conn,
            [first, second],
            [(int(a.timestamp()), int(b.timestamp())) for a, b in ranges],
            queries.ROLLUP_TABLES,
        )
        assert kwh[0] > 0 and kwh[1] > kwh[0] and kwh[2] == 0


def test_the_dashboard_figures_match_the_reference(ctx: Any, reference: Any) -> None:
    fill(ctx, SCENARIO, seed=9)
    with ctx.sessions() as db:
        devices.create(db, None, "FAST-ROOT")  # a device without data
        admin = users.create(db, None, "root", "root-pass-1234", role="admin")
        db.commit()
        zone = ZoneInfo("Asia/Kolkata")
        now = SCENARIO.data_to - timedelta(hours=30)  # today and this month hold data
        fast = dashboard.fleet_stats(db, admin, zone, now)
        assert fast == reference(lambda: dashboard.fleet_stats(db, admin, zone, now))
        assert fast["energy_month_kwh"] > 0
