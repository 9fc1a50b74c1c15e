"""Case `queries`: the read side on one device with a year of 10-second data and a fleet of
1,000 devices, timed directly (query functions on a connection) and through the HTTP API
(FastAPI TestClient, in process) to show the web overhead.

Data set (built once, cached in `cache_dir()` under a key naming its version and month):
* the year device: readings every 10 s, generated directly (a daily load shape plus noise,
  a growing counter) and written through `TelemetryStore.write` one day per batch, so its
  15-minute rollups are exactly what ingest would have made;
* the fleet: 1,000 active devices with 15-minute rollup rows written directly from the
  start of last month's final day to now (the dashboard stats read only rollups, device
  rows and ingest's counters), all online with a current power.
Baselines, same run: `SELECT 1` on the same connection, and `GET /healthz` over HTTP.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from meterhub.bench.common import (
    CaseResult,
    Size,
    Target,
    cache_dir,
    percentile,
    r2,
    timed_ms,
)
from meterhub.bench.fleet import Fleet, make_fleet
from meterhub.config import load_settings
from meterhub.db.migrate import upgrade
from meterhub.db.models import Device, User
from meterhub.protocol.readings import Reading
from meterhub.store import Batch, TelemetryStore
from meterhub.telemetry import queries
from meterhub.telemetry.periods import QUARTER_HOUR_S, Period
from meterhub.web.app import build_context, create_app

DATA_VERSION = "q1"
ZONE = "Europe/Berlin"
SPLIT_ZONE = "Asia/Kolkata"
YEAR_SERIAL = "BQYEAR0001"
TARGETS = [
    Target("summary_year_ms", 20, False),
    Target("chart_year_ms", 100, False),
    Target("stats_1000_devices_ms", 50, False),
]


@dataclass(frozen=True)
class Sizes:
    days: int
    fleet: int
    repeats: int


SIZES: dict[Size, Sizes] = {
    "tiny": Sizes(2, 20, 3),
    "quick": Sizes(30, 1000, 15),
    "full": Sizes(365, 1000, 30),
}


# -- the data set -------------------------------------------------------------------------
def _year_chunks(serial: str, start: float, days: int) -> Iterator[list[Reading]]:
    """A day of 10-second readings at a time: daily load shape, noise, growing counter."""
    rng = random.Random(2026)
    energy = 1234.5
    for day in range(days):
        chunk = []
        t0 = start + day * 86400
        for i in range(8640):
            ts = t0 + i * 10
            shape = 0.5 + 0.5 * math.sin(2 * math.pi * ((ts % 86400) / 86400 - 0.3))
            power = 150 + 1800 * shape * shape + 120 * rng.random()
            energy += power * 10 / 3_600_000
            volts = 229 + 3 * rng.random()
            chunk.append(
                Reading(
                    serial,
                    ts,
                    True,
                    round(volts, 1),
                    round(power / volts, 3),
                    round(power, 1),
                    round(energy, 3),
                    50.0,
                    0.95,
                    False,
                    day * 8640 + i + 1,
                )
            )
        yield chunk


def _fleet_rollups(conn: sqlite3.Connection, device_ids: list[int], start: int, end: int) -> int:
    rng = random.Random(7)
    rows = 0
    for device_id in device_ids:
        batch = []
        for bucket in range(start, end, QUARTER_HOUR_S):
            power = 100 + 900 * rng.random()
            batch.append(
                (
                    device_id,
                    bucket,
                    90,
                    int(power / 4),
                    228.0,
                    233.0,
                    90 * 230.5,
                    90 * power / 230,
                    power / 200,
                    90 * power,
                    power * 0.8,
                    power * 1.2,
                    90 * 0.95,
                    90,
                    90 * 50.0,
                    90,
                )
            )
        conn.executemany(
            "INSERT OR IGNORE INTO rollups_15m (device_id, bucket, count, "
            "energy_wh, voltage_min, voltage_max, voltage_sum, current_sum, "
            "current_max, power_sum, power_min, power_max, pf_sum, pf_count, "
            "frequency_sum, frequency_count) VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            batch,
        )
        rows += len(batch)
    seen = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    conn.executemany(
        "UPDATE devices SET online = 1, last_power = 500.0, last_seen = ? WHERE id = ?",
        [(seen, device_id) for device_id in device_ids],
    )
    return rows


def build(db_path: Path, s: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """Make the data set at `db_path`; returns its description (kept next to it)."""
    fleet_serials = [f"BQF{n:05d}" for n in range(s.fleet)]
    fleet = make_fleet(db_path, [YEAR_SERIAL, *fleet_serials], 0, 0)
    ctx = build_context(
        load_settings(
            {
                "DATABASE_URL": f"sqlite:///{db_path}",
                "METERHUB_DATA_DIR": db_path.parent,
                "SESSION_SECRET": "bench-" + "x" * 40,
            }
        )
    )
    now = time.time()
    end = math.floor(now / 86400) * 86400  # midnight UTC today
    start = end - s.days * 86400
    store = TelemetryStore(ctx.engine)
    t0 = time.monotonic()
    for n, chunk in enumerate(_year_chunks(YEAR_SERIAL, start, s.days), 1):
        store.write(Batch(readings=chunk))
        if n % 30 == 0:
            log(
                f"  queries data: {n}/{s.days} days of the year device "
                f"({n * 8640 / (time.monotonic() - t0):,.0f} readings/s)"
            )
    with ctx.engine.connect() as conn:
        ids = list(
            conn.execute(select(Device.id).where(Device.serial_number.in_(fleet_serials))).scalars()
        )
    ctx.engine.dispose()
    month = datetime.fromtimestamp(now, UTC).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    fleet_from = int((month - timedelta(days=1)).timestamp())
    with contextlib.closing(sqlite3.connect(db_path)) as raw:
        rollups = _fleet_rollups(raw, ids, fleet_from, int(now) // QUARTER_HOUR_S * QUARTER_HOUR_S)
        raw.commit()
    meta = {
        "version": DATA_VERSION,
        "year_serial": YEAR_SERIAL,
        "start": start,
        "end": end,
        "days": s.days,
        "fleet": s.fleet,
        "fleet_rollups": rollups,
        "admin": fleet.admin,
        "readings": s.days * 8640,
        "built_s": round(time.monotonic() - t0, 1),
    }
    db_path.with_suffix(".json").write_bytes(orjson.dumps(meta))
    return meta


def dataset(
    s: Sizes, workdir: Path, size: Size, log: Callable[[str], None]
) -> tuple[Path, dict[str, Any], bool]:
    """The cached data set for these sizes (built when missing); (path, meta, reused)."""
    month = time.strftime("%Y-%m", time.gmtime())
    root = workdir if size == "tiny" else cache_dir()
    path = root / f"queries-{DATA_VERSION}-{s.days}d-{s.fleet}f-{month}.db"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        return path, orjson.loads(meta_path.read_bytes()), True
    partial = path.with_name(path.name + f".{os.getpid()}.tmp")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    meta = build(partial, s, log)
    os.replace(partial, path)
    os.replace(partial.with_suffix(".json"), meta_path)
    return path, meta, False


# -- the measurements ---------------------------------------------------------------------
def run(size: Size, workdir: Path, log: Callable[[str], None] = print) -> CaseResult:
    s = SIZES[size]
    result = CaseResult("queries", targets=TARGETS)
    started = time.monotonic()
    db_path, meta, reused = dataset(s, workdir, size, log)
    build_s = time.monotonic() - started
    ctx = build_context(
        load_settings(
            {
                "DATABASE_URL": f"sqlite:///{db_path}",
                "METERHUB_DATA_DIR": workdir,
                "SESSION_SECRET": "bench-" + "x" * 40,
            }
        )
    )
    upgrade(ctx.engine)  # a cached data set may predate the newest migrations
    zone = ZoneInfo(ZONE)
    start, end = float(meta["start"]), float(meta["end"])
    year_from = datetime.fromtimestamp(start, UTC)
    year_to = datetime.fromtimestamp(end, UTC)
    now = datetime.now(UTC)
    stats: dict[str, list[float]] = {}
    try:
        with ctx.sessions() as db:
            device = db.scalar(select(Device).where(Device.serial_number == YEAR_SERIAL))
            admin = db.scalar(select(User).where(User.username == meta["admin"]))
            assert device is not None and admin is not None
            conn = db.connection()
            dev_id = device.id
            fleet_ids = [
                d.id for d in db.scalars(select(Device).where(Device.serial_number != YEAR_SERIAL))
            ]
            start_ms, end_ms = int(start * 1000), int(end * 1000)
            day_ms = end_ms - 86400 * 1000
            from meterhub.api.routes import dashboard

            checks = {
                "query_baseline": lambda: conn.execute(text("SELECT 1")).scalar(),
                "summary_year": lambda: _summary(
                    conn, dev_id, year_from, year_to, "day", zone, now
                ),
                "summary_year_monthly": lambda: _summary(
                    conn, dev_id, year_from, year_to, "month", zone, now
                ),
                "summary_year_weekly": lambda: _summary(
                    conn, dev_id, year_from, year_to, "week", zone, now
                ),
                # +05:30: local midnights split UTC hours, so 15-minute rows are read too
                "summary_year_kolkata": lambda: _summary(
                    conn, dev_id, year_from, year_to, "day", ZoneInfo(SPLIT_ZONE), now
                ),
                "chart_year": lambda: queries.series(conn, dev_id, start_ms, end_ms, 2000),
                "chart_day_raw": lambda: queries.series(conn, dev_id, day_ms, end_ms, 10000),
                "stats_1000_devices_queries": lambda: _stats_queries(conn, fleet_ids, zone),
                "stats_1000_devices": lambda: dashboard.stats(admin, db, ctx),
            }
            for key, fn in checks.items():
                stats[key] = timed_ms(fn, s.repeats)
            points_year = len(queries.series(conn, dev_id, start_ms, end_ms, 2000).points)
            points_day = len(queries.series(conn, dev_id, day_ms, end_ms, 10000).points)
            db.rollback()
        app = create_app(ctx=ctx)
        with TestClient(app, base_url="http://localhost") as client:  # an allowed host
            res = client.post(
                "/api/auth/login",
                json={"username": meta["admin"], "password": Fleet.password(meta["admin"])},
            )
            res.raise_for_status()
            iso_from = year_from.isoformat().replace("+00:00", "Z")
            iso_to = year_to.isoformat().replace("+00:00", "Z")
            day_from = datetime.fromtimestamp(day_ms / 1000, UTC).isoformat()
            http = {
                "http_baseline": "/healthz",
                "summary_year_http": f"/api/readings/{YEAR_SERIAL}/summary?period=day"
                f"&from={iso_from}&to={iso_to}&tz={ZONE}",
                "chart_year_http": f"/api/readings/{YEAR_SERIAL}?from={iso_from}&to={iso_to}"
                "&max_points=2000",
                "chart_day_raw_http": f"/api/readings/{YEAR_SERIAL}?from={day_from}"
                f"&to={iso_to}&max_points=10000",
                "stats_1000_devices_http": "/api/dashboard/stats",
            }
            for key, path in http.items():

                def get(path: str = path) -> None:
                    client.get(path).raise_for_status()

                stats[key] = timed_ms(get, s.repeats)
    finally:
        ctx.engine.dispose()

    span = "a year" if meta["days"] >= 365 else f"{meta['days']} days"

    def p50(key: str) -> float | None:
        return r2(percentile(stats[key], 50))

    for key, label in (
        ("summary_year", f"daily summary, {span} ({meta['days']} local days)"),
        ("summary_year_monthly", f"monthly summary, {span}"),
        ("summary_year_weekly", f"weekly summary, {span}"),
        ("summary_year_kolkata", f"daily summary, {span}, in {SPLIT_ZONE}"),
        ("chart_year", f"chart, {span} at 2,000 points ({points_year} buckets)"),
        ("chart_day_raw", f"chart, a day raw ({points_day} points)"),
        ("stats_1000_devices", f"dashboard stats, {s.fleet} devices (route function)"),
        ("stats_1000_devices_queries", "  of which the four queries"),
        ("query_baseline", "baseline: SELECT 1"),
        ("summary_year_http", f"HTTP: daily summary, {span}"),
        ("chart_year_http", f"HTTP: chart, {span}"),
        ("chart_day_raw_http", "HTTP: chart, a day raw"),
        ("stats_1000_devices_http", "HTTP: dashboard stats"),
        ("http_baseline", "baseline: HTTP GET /healthz"),
    ):
        result.add(f"{key}_ms", p50(key), f"{label} p50", "ms")
        result.figures[f"{key}_p95_ms"] = r2(percentile(stats[key], 95))
    result.figures["queries_year_readings"] = meta["readings"]
    result.figures["queries_fleet_rollups"] = meta["fleet_rollups"]
    result.figures["queries_dataset_reused"] = reused
    result.figures["queries_dataset_build_s"] = round(build_s, 1)
    result.header = ["measure", "p50", "target", "ok"]
    result.note(
        f"{meta['readings']:,} readings ({meta['days']} days at 10 s) for one device; "
        f"{meta['fleet']} devices with {meta['fleet_rollups']:,} rollup rows; "
        f"p95 in the JSON; {s.repeats} runs each; data set "
        f"{'reused from' if reused else 'built in'} {db_path}"
    )
    return result


def _summary(
    conn: Any,
    device_id: int,
    start: datetime,
    end: datetime,
    period: Period,
    zone: ZoneInfo,
    now: datetime,
) -> Any:
    """queries.summary, whichever of its recent signatures is installed (an older one also
    took the reading interval)."""
    extra: dict[str, Any] = {}
    if "interval_s" in inspect.signature(queries.summary).parameters:
        extra["interval_s"] = 10
    return queries.summary(conn, device_id, start, end, period, zone, now=now, **extra)


def _stats_queries(conn: Any, ids: list[int], zone: ZoneInfo) -> None:
    today = datetime.now(UTC).astimezone(zone).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=zone)
    queries.fleet_now(conn, ids)
    queries.energy_since(conn, ids, midnight)
    queries.energy_since(conn, ids, midnight.replace(day=1))
    queries.readings_stored(conn, None)
