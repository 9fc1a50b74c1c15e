"""What a device's energy costs: per day or billing cycle, and the bill of one cycle.

Same access rule as every reading route (`devices.get_visible_by_serial`): a device the
caller may not see is a 404. A device without a tariff and no default tariff set is 409."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from meterhub.api.deps import CurrentUser, DbSession
from meterhub.api.routes.readings import csv_cell
from meterhub.api.tariff_schemas import BillOut, CostOut, errors
from meterhub.db.models import Device, TariffRow
from meterhub.errors import Conflict, InvalidInput
from meterhub.services import cost, devices, tariffs
from meterhub.tariffs.engine import DayCost, Tariff
from meterhub.tariffs.money import round_money
from meterhub.telemetry.periods import local_midnight
from meterhub.timeparse import parse_range_bound, parse_tz

router = APIRouter(prefix="/api/readings", tags=["cost"])
MAX_DAYS = 3 * 366
MIN_YEAR, MAX_YEAR = 1971, 9998  # a cycle and the one before it stay in the calendar
_DAY = timedelta(days=1)
_CYCLE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _tariff_of(db: DbSession, device: Device) -> tuple[TariffRow, Tariff]:
    row = tariffs.for_device(db, device)
    if row is None:
        raise Conflict(
            f"device {device.serial_number!r} has no tariff and no default tariff is set",
            code="no_tariff",
        )
    return row, tariffs.compiled(row)


def _days(
    tariff: Tariff, start: str | None, end: str | None, tz: str | None, period: str
) -> tuple[date, date]:
    """[first, last] local days of the tariff's zone meeting the asked range."""
    today = cost.today_in(tariff)
    try:
        zone = parse_tz(tz) if tz else tariff.zone
    except ValueError as exc:
        raise InvalidInput(str(exc), field="tz") from None
    try:
        stop = parse_range_bound(end, zone, is_end=True) if end else None
        begin = parse_range_bound(start, zone, is_end=False) if start else None
    except ValueError as exc:
        raise InvalidInput(str(exc), field="from" if start else "to") from None
    last = (stop - timedelta(microseconds=1)).astimezone(tariff.zone).date() if stop else today
    if begin is not None:
        first = begin.astimezone(tariff.zone).date()
    elif period == "day":
        first = last - timedelta(days=29)
    else:
        first = tariff.cycle_of(last)[0].replace(day=1) - timedelta(days=330)
    if period == "month":  # whole cycles
        first = tariff.cycle_of(first)[0]
        last = tariff.cycle_of(last)[1] - _DAY
    if first.year < MIN_YEAR or last.year > MAX_YEAR:
        raise InvalidInput(f"dates must be in the years {MIN_YEAR}-{MAX_YEAR}", field="from")
    if last < first:
        raise InvalidInput("'to' must be after 'from'", field="to")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"the range holds more than {MAX_DAYS} days", field="from")
    return first, last


def _money(tariff: Tariff, amount: Decimal) -> str:
    return str(round_money(amount, tariff.currency))


def _bucket(tariff: Tariff, start: date, end: date, days: list[DayCost]) -> dict[str, Any]:
    energy = sum((d.energy for d in days), Decimal(0))
    fixed = sum((d.fixed for d in days), Decimal(0))
    vat = tariff.vat_of(energy + fixed)
    return {
        "start": local_midnight(start, tariff.zone).isoformat(),
        "end": local_midnight(end, tariff.zone).isoformat(),
        "energy_kwh": sum(d.wh for d in days) / 1000,
        "energy_cost": _money(tariff, energy),
        "fixed_cost": _money(tariff, fixed),
        "vat": _money(tariff, vat),
        "total": _money(tariff, energy + fixed + vat),
    }


@router.get("/{serial}/cost", response_model=CostOut, responses=errors(404, 409, 422))
def get_cost(
    serial: str,
    user: CurrentUser,
    db: DbSession,
    period: Literal["day", "month"] = "day",
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    tz: str | None = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Cost per day, or per billing cycle (`period=month`), of the days of the tariff's zone
    that meet [from, to) (dates in `tz`, default the tariff's zone, both days included; or
    instants). Default: the last 30 days, or the last 12 cycles. Each figure is exact, then
    rounded to the currency's minor unit; the totals are rounded from the exact sums (the
    bill of a cycle, rounded per line, is `/bill`). Days after today are not costed.
    `format=csv` gives the same buckets as CSV."""
    device = devices.get_visible_by_serial(db, user, serial)
    row, tariff = _tariff_of(db, device)
    first, last = _days(tariff, start, end, tz, period)
    today = cost.today_in(tariff)
    days = cost.daily(db.connection(), tariff, device.id, first, last, today)
    groups: list[tuple[date, date, list[DayCost]]] = []
    if period == "day":
        groups = [(d.day, d.day + _DAY, [d]) for d in days]
    else:
        cycle = tariff.cycle_of(first)
        while cycle[0] <= min(last, today):
            groups.append((*cycle, [d for d in days if cycle[0] <= d.day < cycle[1]]))
            cycle = tariff.cycle_of(cycle[1])
    buckets = [_bucket(tariff, a, b, ds) for a, b, ds in groups]
    whole = _bucket(tariff, first, last + _DAY, days)
    if format == "csv":
        return _csv(serial, tariff.currency, buckets)
    return {
        "serial": serial,
        "tariff_id": row.id,
        "tariff": row.name,
        "currency": tariff.currency,
        "tz": str(tariff.zone),
        "period": period,
        "energy_kwh": whole["energy_kwh"],
        "energy_cost": whole["energy_cost"],
        "fixed_cost": whole["fixed_cost"],
        "vat": whole["vat"],
        "total": whole["total"],
        "buckets": buckets,
    }


CSV_HEADER = ["start", "end", "energy_kWh", "energy_cost", "fixed_cost", "vat", "total", "currency"]


def _csv(serial: str, currency: str, buckets: list[dict[str, Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for b in buckets:
        writer.writerow(
            [
                b["start"],
                b["end"],
                b["energy_kwh"],
                b["energy_cost"],
                b["fixed_cost"],
                b["vat"],
                b["total"],
                currency,
            ]
        )
    name = "".join(c for c in str(csv_cell(serial)) if c.isalnum() or c in "-_.")
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-cost.csv"'},
    )


def parse_cycle(tariff: Tariff, cycle: str | None, now: datetime) -> date:
    """The first day of the cycle named "YYYY-MM" (default: the current cycle)."""
    today = cost.today_in(tariff, now)
    if cycle is None:
        return tariff.cycle_of(today)[0]
    if not _CYCLE.match(cycle) or not MIN_YEAR <= int(cycle[:4]) <= MAX_YEAR:
        raise InvalidInput(
            f"cycle must be YYYY-MM in the years {MIN_YEAR}-{MAX_YEAR}", field="cycle"
        )
    start = tariff.cycle_starting(int(cycle[:4]), int(cycle[5:]))[0]
    if start > today:
        raise InvalidInput(f"cycle {cycle} has not started yet", field="cycle")
    return start


@router.get("/{serial}/bill", response_model=BillOut, responses=errors(404, 409, 422))
def get_bill(
    serial: str, user: CurrentUser, db: DbSession, cycle: str | None = None
) -> dict[str, Any]:
    """The bill of the billing cycle that starts in `cycle` (YYYY-MM; default: the current
    one, so far): a line per tier, rate or fixed charge, each rounded once to the
    currency's minor unit; VAT on the subtotal, rounded once."""
    device = devices.get_visible_by_serial(db, user, serial)
    row, tariff = _tariff_of(db, device)
    now = datetime.now(UTC)
    start = parse_cycle(tariff, cycle, now)
    b = cost.cycle_bill(db.connection(), tariff, device.id, start, cost.today_in(tariff, now))
    return cost.bill_body(serial, row, tariff, b, now)
