"""Case `tariffs`: what costing takes, on one device with a year of data in its rollups.

The device gets a reading every 15 minutes for a year (a daily load shape), written
through `TelemetryStore.write` so the 15-minute, hourly and daily rollups are what ingest
would have made (costing reads only rollups: the raw rows' density does not matter).
Timed, as the service functions the API calls, on the same connection:
* a year of daily cost with EVN's six-tier residential tariff (365 local days, tiers
  counted per billing cycle from the cycle start of the first day);
* the same with a time-of-use tariff (reads the year's 15-minute rows: 35,000);
* the bill of last month (tiered), and of last month with a price change inside it.
Baseline, same run: `SELECT 1` on the same connection.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from meterhub.bench.common import CaseResult, Size, Target, percentile, r2, timed_ms
from meterhub.config import load_settings
from meterhub.db.migrate import upgrade
from meterhub.protocol.readings import Reading
from meterhub.services import cost, devices
from meterhub.store import Batch, TelemetryStore
from meterhub.tariffs.engine import Tariff
from meterhub.tariffs.model import TariffDoc
from meterhub.web.app import build_context

SERIAL = "BTARIFF001"
ZONE = "Asia/Ho_Chi_Minh"
TARGETS = [Target("cost_year_daily_ms", 20, False), Target("bill_month_ms", 10, False)]
SIZES: dict[Size, tuple[int, int]] = {"tiny": (40, 3), "quick": (366, 15), "full": (366, 40)}
"""days of data, repeats"""
EVN_TIERS = [(50, 1984), (100, 2050), (200, 2380), (300, 2998), (400, 3350), (None, 3460)]


def _evn(change: bool = False) -> Tariff:
    version = {
        "effective_from": "2020-01-01",
        "kind": "tiered",
        "tiers": [{"up_to_kwh": up, "price": price} for up, price in EVN_TIERS],
    }
    versions = [version]
    if change:  # a price change on the 10th of last month
        day = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).replace(day=10)
        versions.append(version | {"effective_from": day.date().isoformat()})
    doc = {"name": "EVN", "currency": "VND", "vat_percent": 8, "timezone": ZONE}
    return Tariff.of(TariffDoc.model_validate(doc | {"versions": versions}))


def _tou() -> Tariff:
    window = [{"days": "mon-sat", "from": "09:30", "to": "11:30"}]
    window.append({"days": "mon-sat", "from": "17:00", "to": "20:00"})
    rates = [
        {"name": "normal", "price": 3152},
        {"name": "peak", "price": 5422, "windows": window},
        {
            "name": "off-peak",
            "price": 1918,
            "windows": [{"days": "daily", "from": "22:00", "to": "04:00"}],
        },
    ]
    version = {"effective_from": "2020-01-01", "kind": "tou", "rates": rates}
    doc = {"name": "TOU", "currency": "VND", "vat_percent": 8, "timezone": ZONE}
    version["default_rate"] = "normal"
    return Tariff.of(TariffDoc.model_validate(doc | {"versions": [version]}))


def _fill(ctx: Any, days: int) -> int:
    end = math.floor(time.time() / 900) * 900
    start = end - days * 86400
    readings, energy = [], 1234.5
    for i in range((end - start) // 900):
        ts = start + i * 900
        shape = 0.5 + 0.5 * math.sin(2 * math.pi * ((ts % 86400) / 86400 - 0.3))
        power = 150 + 1800 * shape * shape
        energy += power * 900 / 3_600_000
        readings.append(
            Reading(SERIAL, ts, True, 230.0, power / 230, power, round(energy, 3), 50.0, 0.95)
        )
    TelemetryStore(ctx.engine).write(Batch(readings=readings))
    return len(readings)


def run(size: Size, workdir: Path) -> CaseResult:
    days, repeats = SIZES[size]
    result = CaseResult("tariffs", targets=TARGETS)
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'tariffs.db'}",
            "METERHUB_DATA_DIR": workdir,
            "SESSION_SECRET": "bench-" + "x" * 40,
        }
    )
    ctx = build_context(settings)
    upgrade(ctx.engine)
    stats: dict[str, list[float]] = {}
    try:
        with ctx.sessions() as db:
            device_id = devices.create(db, None, SERIAL).id
            db.commit()
        n = _fill(ctx, days)
        evn, tou, changed = _evn(), _tou(), _evn(change=True)
        today = cost.today_in(evn)
        first = today - timedelta(days=min(days, 366) - 1)
        last_cycle = evn.cycle_of(evn.cycle_of(today)[0] - timedelta(days=1))[0]
        with ctx.engine.connect() as conn:
            checks = {
                "query_baseline": lambda: conn.execute(text("SELECT 1")).scalar(),
                "cost_year_daily": lambda: cost.daily(conn, evn, device_id, first, today, today),
                "cost_year_daily_tou": lambda: cost.daily(
                    conn, tou, device_id, first, today, today
                ),
                "bill_month": lambda: cost.cycle_bill(conn, evn, device_id, last_cycle, today),
                "bill_month_change": lambda: cost.cycle_bill(
                    conn, changed, device_id, last_cycle, today
                ),
                "bill_month_tou": lambda: cost.cycle_bill(conn, tou, device_id, last_cycle, today),
            }
            for key, fn in checks.items():
                stats[key] = timed_ms(fn, repeats)
            costed = len(cost.daily(conn, evn, device_id, first, today, today))
    finally:
        ctx.engine.dispose()
    for key, label in (
        ("cost_year_daily", f"daily cost, {costed} days, six tiers"),
        ("cost_year_daily_tou", f"daily cost, {costed} days, time of use (3 rates)"),
        ("bill_month", "bill of last month, six tiers"),
        ("bill_month_change", "  with a price change on the 10th"),
        ("bill_month_tou", "bill of last month, time of use"),
        ("query_baseline", "baseline: SELECT 1"),
    ):
        result.add(f"{key}_ms", r2(percentile(stats[key], 50)), f"{label} p50", "ms")
        result.figures[f"{key}_p95_ms"] = r2(percentile(stats[key], 95))
    result.header = ["measure", "p50", "target", "ok"]
    result.note(
        f"{n:,} readings (every 15 min, {days} days) for one device on SQLite; "
        f"{repeats} runs each; p95 in the JSON"
    )
    return result
