"""Helpers for the tariff tests: EVN's residential table, and real readings written the
way ingest writes them (raw rows plus rollups)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from meterhub.protocol.readings import Reading
from meterhub.store import Batch, TelemetryStore

EVN_TIERS = [50, 100, 200, 300, 400, None]
EVN_2025 = [1984, 2050, 2380, 2998, 3350, 3460]
EVN_2024 = [1893, 1956, 2271, 2860, 3197, 3302]
HCM = "Asia/Ho_Chi_Minh"


def tiers(prices: list[int]) -> list[dict[str, Any]]:
    return [{"up_to_kwh": up, "price": p} for up, p in zip(EVN_TIERS, prices, strict=True)]


def evn(name: str = "EVN residential", **extra: Any) -> dict[str, Any]:
    """EVN's six-tier residential tariff (from 2025-05-10), 8 % VAT."""
    doc: dict[str, Any] = {
        "name": name,
        "currency": "VND",
        "vat_percent": 8,
        "timezone": HCM,
        "billing_day": 1,
        "versions": [{"effective_from": "2025-05-10", "kind": "tiered", "tiers": tiers(EVN_2025)}],
    }
    return doc | extra


def feed(
    ctx: Any,
    serial: str,
    zone: str,
    first: date,
    days: int,
    step_min: int,
    wh_per_step: int,
    counter_kwh: float = 100.0,
    reset_at: int | None = None,
) -> int:
    """Readings every `step_min` minutes from one step before local midnight of `first`
    for `days` local days, the counter rising `wh_per_step` each step (so each step books
    exactly that to the slot of its later reading). `reset_at`: the counter restarts from
    0 at that reading index. Returns the Wh booked inside the days."""
    tz = ZoneInfo(zone)
    start = datetime(first.year, first.month, first.day, tzinfo=tz).timestamp() - step_min * 60
    end = datetime.combine(first + timedelta(days=days), datetime.min.time(), tz).timestamp()
    readings = []
    counter_wh = round(counter_kwh * 1000)
    ts, i = start, 0
    while ts < end:
        if i:
            counter_wh = wh_per_step if i == reset_at else counter_wh + wh_per_step
        readings.append(
            Reading(
                serial=serial,
                ts=ts,
                ts_from_device=True,
                voltage=230.0,
                current=1.0,
                power=wh_per_step * 60 / step_min,
                energy=counter_wh / 1000,
                frequency=50.0,
                pf=0.99,
            )
        )
        ts += step_min * 60
        i += 1
    TelemetryStore(ctx.engine).write(Batch(readings=readings))
    return (len(readings) - 1) * wh_per_step
