"""Readings API on both databases: raw vs bucketed series, summaries in time zones with
DST and :30/:45 offsets, export, stats."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from meterhub.protocol.readings import Reading
from meterhub.store import Batch, TelemetryStore

WH_PER_READING = 1  # each reading 10 s apart adds 1 Wh to the counter


def fill(
    ctx: Any, serial: str, start: float, end: float, step: float = 60.0, wh: int = WH_PER_READING
) -> int:
    """Readings every `step` s over [start, end); returns how many."""
    store = TelemetryStore(ctx.engine)
    batch = Batch()
    n = 0
    t = start
    while t < end:
        batch.readings.append(
            Reading(
                serial=serial,
                ts=t,
                ts_from_device=True,
                voltage=230.0,
                current=1.0,
                power=360.0,
                energy=100 + n * wh / 1000,
                frequency=50.0,
                pf=0.99,
            )
        )
        n += 1
        t += step
    store.write(batch)
    return n


@pytest.fixture
def device(admin_api: Any) -> dict[str, Any]:
    res = admin_api.post("/api/devices", json={"serial_number": "M-1", "name": "Main"})
    assert res.status_code == 201
    body: dict[str, Any] = res.json()
    return body


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Berlin", "2026-03-29", 23),
        ("Europe/Berlin", "2026-10-25", 25),
        ("Asia/Kolkata", "2026-06-01", 24),
        ("Asia/Kathmandu", "2026-06-01", 24),
        ("Asia/Ho_Chi_Minh", "2026-06-01", 24),
    ],
)
def test_daily_summary_in_zone(
    zone: str, day: str, hours: int, ctx: Any, admin_api: Any, device: dict[str, Any]
) -> None:
    tz = ZoneInfo(zone)
    midnight = datetime.fromisoformat(day).replace(tzinfo=tz)
    start = midnight.timestamp() - 3600
    n = fill(ctx, "M-1", start, start + (hours + 2) * 3600)
    res = admin_api.get(
        "/api/readings/M-1/summary", params={"period": "day", "from": day, "to": day, "tz": zone}
    )
    assert res.status_code == 200, res.text
    body = res.json()
    [bucket] = body["buckets"]
    assert bucket["start"] == midnight.isoformat()
    length = datetime.fromisoformat(bucket["end"]).timestamp() - midnight.timestamp()
    assert length == hours * 3600
    # one reading a minute, 1 Wh each: the day's energy is its minutes (the first reading
    # of the day consumed since the last one of the day before)
    assert bucket["energy_kwh"] == pytest.approx(hours * 60 / 1000)
    assert bucket["readings"] == hours * 60
    assert bucket["coverage"] == 1.0
    assert body["tz"] == zone and n > hours * 60


def test_summary_weeks_start_monday_and_months(
    ctx: Any, admin_api: Any, device: dict[str, Any]
) -> None:
    start = datetime(2026, 1, 26, tzinfo=ZoneInfo("UTC")).timestamp()
    fill(ctx, "M-1", start, start + 21 * 86400, step=600)
    res = admin_api.get(
        "/api/readings/M-1/summary",
        params={"period": "week", "from": "2026-01-26", "to": "2026-02-15", "tz": "UTC"},
    )
    weeks = res.json()["buckets"]
    assert [w["start"][:10] for w in weeks] == ["2026-01-26", "2026-02-02", "2026-02-09"]
    months = admin_api.get(
        "/api/readings/M-1/summary",
        params={"period": "month", "from": "2026-01-01", "to": "2026-02-28", "tz": "UTC"},
    ).json()
    assert [m["start"][:7] for m in months["buckets"]] == ["2026-01", "2026-02"]
    assert months["total_kwh"] == pytest.approx(sum(m["energy_kwh"] for m in months["buckets"]))


def test_series_is_raw_when_it_fits_and_bucketed_otherwise(
    ctx: Any, admin_api: Any, device: dict[str, Any]
) -> None:
    start = 1_780_000_000.0
    fill(ctx, "M-1", start, start + 3 * 86400, step=60)
    day = {"from": str(int(start)), "to": str(int(start + 3600))}
    raw = admin_api.get("/api/readings/M-1", params=day | {"max_points": 100}).json()
    assert raw["resolution"] == "raw" and len(raw["points"]) == 60
    fine = admin_api.get("/api/readings/M-1", params=day | {"max_points": 20}).json()
    assert fine["resolution"] == "180s" and len(fine["points"]) == 20
    assert {"voltage_min", "voltage_max", "power_max"} <= set(fine["points"][0])
    whole = {"from": str(int(start)), "to": str(int(start + 3 * 86400))}
    coarse = admin_api.get("/api/readings/M-1", params=whole | {"max_points": 50}).json()
    assert coarse["resolution"] == "7200s" and 36 <= len(coarse["points"]) <= 37  # hourly rollup
    assert sum(p["energy_kwh"] for p in coarse["points"]) == pytest.approx(
        3 * 1440 / 1000, abs=0.002
    )


def test_bad_parameters_are_422_with_the_field(admin_api: Any, device: dict[str, Any]) -> None:
    res = admin_api.get("/api/readings/M-1", params={"from": "2026-01-01T00:00"})
    assert res.status_code == 422 and res.json()["field"] == "from"
    assert "offset" in res.json()["error"]
    res = admin_api.get("/api/readings/M-1/summary", params={"tz": "Mars/Olympus"})
    assert res.status_code == 422 and res.json()["field"] == "tz"
    res = admin_api.get("/api/readings/M-1/summary", params={"period": "fortnight"})
    assert res.status_code == 422


def test_export_streams_csv_with_units_and_safe_cells(ctx: Any, admin_api: Any) -> None:
    admin_api.post("/api/devices", json={"serial_number": "-SUM"})
    start = 1_780_000_000.0
    fill(ctx, "-SUM", start, start + 600, step=10)
    res = admin_api.get(
        "/api/readings/-SUM/export", params={"from": str(int(start)), "to": str(int(start + 600))}
    )
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(res.text)))
    assert rows[0][:5] == ["timestamp_utc", "serial", "voltage_V", "current_A", "power_W"]
    assert len(rows) == 61 and rows[1][1] == "'-SUM"


def test_latest_and_stats_follow_the_data(
    ctx: Any, admin_api: Any, make_user: Any, device: dict[str, Any]
) -> None:
    import time

    now = time.time()
    fill(ctx, "M-1", now - 600, now, step=10)
    latest = admin_api.get("/api/readings/M-1/latest").json()
    assert latest["power"] == 360.0 and latest["online"] is True
    stats = admin_api.get("/api/dashboard/stats").json()
    assert stats["devices_total"] == 1 and stats["devices_online"] == 1
    assert stats["power_now_w"] == 360.0 and stats["readings_stored"] == 60
    outsider = make_user("outsider")
    assert outsider.get("/api/dashboard/stats").json()["devices_total"] == 0
    assert outsider.get("/api/readings/M-1/latest").status_code == 404


def test_coverage_is_the_share_of_quarter_hours_with_data(
    ctx: Any, admin_api: Any, device: dict[str, Any]
) -> None:
    midnight = datetime(2026, 6, 1, tzinfo=ZoneInfo("UTC")).timestamp()
    fill(ctx, "M-1", midnight, midnight + 6 * 3600, step=300)  # 6 of 24 hours
    [day] = admin_api.get(
        "/api/readings/M-1/summary",
        params={"period": "day", "from": "2026-06-01", "to": "2026-06-01", "tz": "UTC"},
    ).json()["buckets"]
    assert day["coverage"] == 0.25
