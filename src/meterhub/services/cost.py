"""Cost of a device's energy: reads energy from the rollups, costs it with the engine.

Flat and tiered tariffs need energy per local day: one `period_sums` over the days (daily
rollups in the middle, hourly and 15-minute ones at the edges). Time of use needs energy
per wall-clock quarter hour: the 15-minute rollup rows of the range. Days after today (in
the tariff's zone) are not costed: no fixed charge is billed ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.engine import Connection

from meterhub.db.models import Rollup15m
from meterhub.tariffs.engine import Bill, DayCost, Tariff, bill, cost_days, scale_usage, split_slots
from meterhub.telemetry import queries
from meterhub.telemetry.periods import local_midnight, period_grid

_DAY = timedelta(days=1)
_R15 = Rollup15m.__table__.c


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
        rows = conn.execute(
            select(_R15.bucket, _R15.energy_wh)
            .where(
                _R15.device_id == device_id,
                _R15.bucket >= int(start.timestamp()),
                _R15.bucket < int(end.timestamp()),
                _R15.energy_wh != 0,
            )
            .order_by(_R15.bucket)
        )
        return split_slots(tariff, ((int(b), int(wh)) for b, wh in rows))
    grid = period_grid(start, end, "day", zone)
    sums = queries.period_sums(conn, [device_id], grid.bounds)
    return {
        date.fromisoformat(label[:10]): [acc.wh]
        for label, acc in zip(grid.starts, sums, strict=True)
        if acc.wh
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
