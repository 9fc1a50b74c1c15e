"""Cost of a device's energy: reads energy from the rollups, costs it with the engine.

Flat and tiered tariffs need energy per local day: one `period_sums` over the days (daily
rollups in the middle, hourly and 15-minute ones at the edges). Time of use needs energy
per wall-clock quarter hour: the 15-minute rollup rows of the range. Days after today (in
the tariff's zone) are not costed: no fixed charge is billed ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from meterhub.db.models import Device, Rollup1h, Rollup15m, TariffRow
from meterhub.services import tariffs
from meterhub.services.energy_sums import range_wh
from meterhub.services.tou_usage import tou_usage
from meterhub.tariffs.bill import Bill, bill
from meterhub.tariffs.engine import DayCost, Tariff, cost_days, scale_usage
from meterhub.tariffs.money import round_money
from meterhub.telemetry.periods import local_midnight, period_grid

_DAY = timedelta(days=1)


def today_in(tariff: Tariff, now: datetime | None = None) -> date:
    """Today's date in the tariff's zone."""
    return (now or datetime.now(UTC)).astimezone(tariff.zone).date()


def usage(
    conn: Connection, tariff: Tariff, device_id: int, first: date, last: date
) -> dict[date, list[int]]:
    """Wh per local day of [first, last] (per rate on time-of-use days)."""
    zone = tariff.zone
    start = local_midnight(first, zone)
    end = local_midnight(last + _DAY, zone)
    if tariff.has_tou(first, last):
        grid = period_grid(start, end, "day", zone)
        # Hourly rows (4x fewer) when rates change only on the hour and every local
        # midnight is on a UTC hour (then so is every DST shift in the range)
        whole_hours = all(b % 3600 == 0 for b in grid.bounds)
        table = Rollup1h if whole_hours and tariff.hourly(first, last) else Rollup15m
        return tou_usage(
            conn, tariff, device_id, grid.bounds, grid.starts, str(table.__tablename__)
        )
    grid = period_grid(start, end, "day", zone)
    return {
        date.fromisoformat(label[:10]): [wh]
        for label, wh in zip(
            grid.starts, range_wh(conn, device_id, list(pairwise(grid.bounds))), strict=True
        )
        if wh
    }


def daily(
    conn: Connection, tariff: Tariff, device_id: int, first: date, last: date, today: date
) -> list[DayCost]:
    """Exact cost of each day of [first, min(last, today)]; tiers count from the start of
    the cycle holding `first`."""
    last = min(last, today)
    if last < first:
        return []
    cycle_start = tariff.cycle_of(first)[0]
    return cost_days(tariff, usage(conn, tariff, device_id, cycle_start, last), first, last)


def cycle_bill(
    conn: Connection, tariff: Tariff, device_id: int, cycle_start: date, today: date
) -> Bill:
    """The bill of the cycle starting on `cycle_start`, with energy up to today."""
    start, end = tariff.cycle_of(cycle_start)
    last = min(end - _DAY, today)
    use = usage(conn, tariff, device_id, start, last) if last >= start else {}
    return bill(tariff, start, use)


@dataclass(frozen=True, slots=True)
class Outlook:
    """A device's cost this cycle so far, projected to the cycle's end, and last cycle."""

    currency: str
    so_far: Decimal
    projected: Decimal
    last_cycle: Decimal


def outlook(conn: Connection, tariff: Tariff, device_id: int, now: datetime) -> Outlook:
    """So far: the current cycle's day costs with VAT (exact, then rounded by the caller).
    Projected: the current bill with every day's use scaled by cycle length / time elapsed.
    Last cycle: the previous cycle's bill total."""
    today = today_in(tariff, now)
    start, end = tariff.cycle_of(today)
    use = usage(conn, tariff, device_id, start, today)
    days = cost_days(tariff, use, start, today)
    exact = sum((d.energy + d.fixed for d in days), Decimal(0))
    so_far = exact + tariff.vat_of(exact)
    elapsed = now.timestamp() - local_midnight(start, tariff.zone).timestamp()
    length = (
        local_midnight(end, tariff.zone).timestamp()
        - local_midnight(start, tariff.zone).timestamp()
    )
    factor = Fraction(int(length), max(int(elapsed), 3600))  # the first hour projects as one
    projected = bill(tariff, start, scale_usage(use, factor)).total
    previous = tariff.cycle_of(start - _DAY)[0]
    last = cycle_bill(conn, tariff, device_id, previous, today).total
    return Outlook(tariff.currency, so_far, projected, last)


def fleet_outlook(db: Session, device_ids: Sequence[int], now: datetime) -> list[dict[str, Any]]:
    """Cost figures of `device_ids` per currency (each device in its tariff's cycles):
    this cycle so far, projected to its end, and the last cycle; devices without a tariff
    are counted apart. Figures are rounded to the currency's minor unit."""
    rows = {r.id: r for r in db.scalars(select(TariffRow))}
    if not rows:
        return []  # no tariff at all: nothing to cost (and no query per device)
    conn = db.connection()
    default = tariffs.default(db)
    compiled: dict[int, Tariff] = {}
    sums: dict[str, list[Decimal]] = {}
    counts: dict[str, int] = {}
    assigned: dict[int, int | None] = {}
    if device_ids:
        query = select(Device.id, Device.tariff_id).where(Device.id.in_(device_ids))
        assigned = {int(i): t for i, t in db.execute(query)}
    for device_id in device_ids:
        row = rows.get(assigned.get(device_id) or -1) or default
        if row is None:
            continue
        tariff = compiled.setdefault(row.id, tariffs.compiled(row))
        o = outlook(conn, tariff, device_id, now)
        acc = sums.setdefault(o.currency, [Decimal(0)] * 3)
        for i, value in enumerate((o.so_far, o.projected, o.last_cycle)):
            acc[i] += value
        counts[o.currency] = counts.get(o.currency, 0) + 1
    return [
        {
            "currency": code,
            "devices": counts[code],
            "this_month": str(round_money(acc[0], code)),
            "projected_month": str(round_money(acc[1], code)),
            "last_month": str(round_money(acc[2], code)),
        }
        for code, acc in sorted(sums.items())
    ]


def bill_body(
    serial: str, row: TariffRow, tariff: Tariff, b: Bill, now: datetime
) -> dict[str, Any]:
    """A bill as the API shows it (also used by the monthly report)."""
    m = tariff.currency
    end_at = local_midnight(b.end, tariff.zone)
    return {
        "serial": serial,
        "tariff_id": row.id,
        "tariff": row.name,
        "currency": m,
        "cycle": f"{b.start:%Y-%m}",
        "start": local_midnight(b.start, tariff.zone).isoformat(),
        "end": end_at.isoformat(),
        "first_day": b.start.isoformat(),
        "last_day": (b.end - _DAY).isoformat(),
        "complete": end_at <= now,
        "energy_kwh": b.wh / 1000,
        "lines": [
            {
                "label": line.label,
                "kind": line.kind,
                "kwh": float(line.quantity) if line.unit == "kWh" else None,
                "quantity": _qty(line.quantity, line.unit),
                "unit": line.unit,
                "price": str(line.price),
                "amount": str(line.amount),
            }
            for line in b.lines
        ],
        "fixed": str(round_money(b.fixed, m)),
        "subtotal": str(round_money(b.subtotal, m)),
        "vat_percent": str(tariff.vat_percent),
        "vat": str(round_money(b.vat, m)),
        "total": str(round_money(b.total, m)),
    }


def _qty(value: Decimal, unit: str) -> str:
    if unit == "month":  # a share such as 10/31: four places say enough
        value = round(value, 4)
    return format(value.normalize(), "f")
