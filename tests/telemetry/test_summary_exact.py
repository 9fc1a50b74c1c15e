"""Period summaries equal a brute-force sum of the raw readings, on SQLite and PostgreSQL:
local days of 23 and 25 hours (Europe/Berlin), +05:30 and +05:45 offsets whose midnights
split UTC hours (Asia/Kolkata, Asia/Kathmandu), UTC, weeks, months and years, a range
across a new year, partial coverage and periods without data."""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from meterhub.protocol.readings import Reading
from meterhub.services import devices
from meterhub.store import Batch, TelemetryStore
from meterhub.telemetry import queries
from meterhub.telemetry.energy import counter_delta
from meterhub.telemetry.periods import PERIODS, Period, period_buckets

SERIAL = "SUM-1"
ZONES = ("Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "UTC")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type, misc]


@dataclass(frozen=True)
class Scenario:
    data_from: datetime
    data_to: datetime
    query_from: datetime  # mid-day: the first and last periods reach past the range
    query_to: datetime
    now: datetime  # inside the range: later periods are partly or not yet elapsed
    berlin_day_hours: int  # the DST day that must be among Berlin's days (24: none)


SCENARIOS = {
    "spring-dst": Scenario(
        utc(2026, 3, 22),
        utc(2026, 4, 4),
        utc(2026, 3, 23, 5, 17),
        utc(2026, 4, 3, 13),
        utc(2026, 4, 1, 10, 7),
        23,
    ),
    "autumn-dst": Scenario(
        utc(2026, 10, 19),
        utc(2026, 10, 31),
        utc(2026, 10, 20, 21, 30),
        utc(2026, 10, 30, 2),
        utc(2026, 11, 2),
        25,
    ),
    "new-year": Scenario(
        utc(2025, 12, 24),
        utc(2026, 1, 8),
        utc(2025, 12, 26, 12),
        utc(2026, 1, 7, 18, 45),
        utc(2026, 1, 5, 3),
        24,
    ),
}


def fill(ctx: Any, scenario: Scenario, seed: int) -> int:
    """Readings 1 to 9 minutes apart with random power, voltage and counter steps, and a
    silent stretch of five hours (coverage below 1); returns the device id."""
    with ctx.sessions() as db:
        device_id = devices.create(db, None, SERIAL).id
        db.commit()
    rng = random.Random(seed)
    start, end = scenario.data_from.timestamp(), scenario.data_to.timestamp()
    silent = start + (end - start) / 3
    counter_wh = 1_234_567
    readings = []
    ts = start + rng.randint(0, 600)
    while ts < end:
        if not silent <= ts < silent + 5 * 3600:
            counter_wh += rng.randint(0, 40)
            power = round(rng.uniform(40.0, 3500.0), 1)
            readings.append(
                Reading(
                    serial=SERIAL,
                    ts=ts,
                    ts_from_device=True,
                    voltage=round(rng.uniform(215.0, 245.0), 1),
                    current=round(power / 230, 3),
                    power=power,
                    energy=counter_wh / 1000,
                    frequency=50.0,
                    pf=0.95,
                )
            )
        ts += rng.randint(60, 540)
    TelemetryStore(ctx.engine).write(Batch(readings=readings))
    return device_id


@dataclass(frozen=True)
class Raw:
    ts: list[float]
    wh: list[int]
    power: list[float]
    voltage: list[float]


def raw_readings(ctx: Any, device_id: int) -> Raw:
    """The stored readings, each with the Wh it consumed since the one before."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ts, power, voltage, energy FROM readings WHERE device_id = :d ORDER BY ts"
            ),
            {"d": device_id},
        ).all()
    wh = [0]
    for prev, cur in itertools.pairwise(rows):
        wh.append(counter_delta(prev[3], prev[0] / 1000, cur[3], cur[0] / 1000, cur[1]).wh)
    return Raw([r[0] / 1000 for r in rows], wh, [r[1] for r in rows], [r[2] for r in rows])


def brute_force(
    raw: Raw, start: datetime, end: datetime, period: Period, zone: ZoneInfo, now: datetime
) -> list[dict[str, Any]]:
    """Each period's figures straight from the readings inside it."""
    out = []
    for bucket in period_buckets(start, end, period, zone):
        lo = bisect.bisect_left(raw.ts, bucket.start_ts)
        hi = bisect.bisect_left(raw.ts, bucket.end_ts)
        inside = range(lo, hi)
        quarters = {int(raw.ts[i] // 900) for i in inside}
        elapsed = (min(bucket.end_ts, now.timestamp()) - bucket.start_ts) / 900
        out.append(
            {
                "start": bucket.start.isoformat(),
                "end": bucket.end.isoformat(),
                "energy_kwh": sum(raw.wh[i] for i in inside) / 1000,
                "readings": len(inside),
                "power": [raw.power[i] for i in inside],
                "voltage": [raw.voltage[i] for i in inside],
                "coverage": round(min(1.0, len(quarters) / elapsed), 4)
                if elapsed > 0 and quarters
                else 0.0,
            }
        )
    return out


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert (got["start"], got["end"]) == (want["start"], want["end"])
    assert got["energy_kwh"] == want["energy_kwh"]
    assert got["readings"] == want["readings"]
    assert got["coverage"] == want["coverage"]
    power, voltage = want["power"], want["voltage"]
    if not power:
        assert got["avg_power_w"] is got["max_power_w"] is got["min_voltage"] is None
        return
    assert got["avg_power_w"] == pytest.approx(sum(power) / len(power), rel=1e-12)
    assert got["max_power_w"] == max(power)
    assert (got["min_voltage"], got["max_voltage"]) == (min(voltage), max(voltage))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_summaries_equal_a_brute_force_sum_of_the_readings(name: str, ctx: Any) -> None:
    scenario = SCENARIOS[name]
    device_id = fill(ctx, scenario, seed=len(name))
    raw = raw_readings(ctx, device_id)
    checked = 0
    with ctx.engine.connect() as conn:
        for zone_name in ZONES:
            zone = ZoneInfo(zone_name)
            for period in PERIODS:
                total, got = queries.summary(
                    conn,
                    device_id,
                    scenario.query_from,
                    scenario.query_to,
                    period,
                    zone,
                    scenario.now,
                )
                want = brute_force(
                    raw, scenario.query_from, scenario.query_to, period, zone, scenario.now
                )
                assert len(got) == len(want), (zone_name, period)
                for g, w in zip(got, want, strict=True):
                    assert_same(g, w)
                assert total * 1000 == pytest.approx(sum(w["energy_kwh"] * 1000 for w in want))
                checked += sum(1 for w in want if w["readings"])
    assert checked >= 50  # the data really met the periods


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenarios_hold_the_days_they_claim(name: str) -> None:
    scenario = SCENARIOS[name]
    days = period_buckets(scenario.query_from, scenario.query_to, "day", "Europe/Berlin")
    lengths = {round(d.seconds / 3600) for d in days}
    assert scenario.berlin_day_hours in lengths
    years = period_buckets(scenario.query_from, scenario.query_to, "year", "UTC")
    assert len(years) == (2 if name == "new-year" else 1)
    # Kolkata's and Kathmandu's midnights fall inside UTC hours: 15-minute rows are read
    for zone in ("Asia/Kolkata", "Asia/Kathmandu"):
        starts = period_buckets(scenario.query_from, scenario.query_to, "day", zone)
        assert all(b.start_ts % 3600 for b in starts)


def test_several_devices_add_up(ctx: Any) -> None:
    """`period_sums` over two devices is the sum of each (the dashboard's fleet case)."""
    scenario = SCENARIOS["new-year"]
    first = fill(ctx, scenario, seed=1)
    with ctx.sessions() as db:
        second = devices.create(db, None, "SUM-2").id
        db.commit()
    copy = [
        Reading(
            serial="SUM-2",
            ts=t + 30,
            ts_from_device=True,
            voltage=230.0,
            current=1.0,
            power=200.0,
            energy=5 + n / 1000,
            frequency=50.0,
            pf=1.0,
        )
        for n, t in enumerate(raw_readings(ctx, first).ts[:2000])
    ]
    TelemetryStore(ctx.engine).write(Batch(readings=copy))
    days = period_buckets(scenario.data_from, scenario.data_to, "day", "Asia/Kathmandu")
    bounds = [*(int(b.start_ts) for b in days), int(days[-1].end_ts)]
    with ctx.engine.connect() as conn:
        both = queries.period_sums(conn, [first, second], bounds)
        one = queries.period_sums(conn, [first], bounds)
        two = queries.period_sums(conn, [second], bounds)
    assert [a.wh for a in both] == [a.wh + b.wh for a, b in zip(one, two, strict=True)]
    assert [a.count for a in both] == [a.count + b.count for a, b in zip(one, two, strict=True)]
    assert sum(a.count for a in two) == 2000


def test_float_sums_come_back_bit_for_bit(ctx: Any) -> None:
    """SQLite hands each period's figures back as text: floats must survive the trip."""
    scenario = SCENARIOS["spring-dst"]
    device_id = fill(ctx, scenario, seed=3)
    days = period_buckets(scenario.data_from, scenario.data_to, "day", "Europe/Berlin")
    bounds = [*(int(b.start_ts) for b in days), int(days[-1].end_ts)]  # whole hours only
    with ctx.engine.connect() as conn:
        sums = queries.period_sums(conn, [device_id], bounds)
        for acc, (lo, hi) in zip(sums, itertools.pairwise(bounds), strict=True):
            direct = conn.execute(
                text(
                    "SELECT sum(power_sum), max(power_max), min(voltage_min), max(voltage_max) "
                    "FROM rollups_1h WHERE device_id = :d AND bucket >= :lo AND bucket < :hi"
                ),
                {"d": device_id, "lo": lo, "hi": hi},
            ).one()
            if acc.count:
                assert (acc.power_sum, acc.power_max, acc.v_min, acc.v_max) == tuple(direct)
    assert sum(1 for acc in sums if acc.count and acc.power_sum % 1) > 5  # not just .0
