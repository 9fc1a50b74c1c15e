"""The monthly report of one user: per device they may see, the bill of the billing
cycle that starts in the month, its daily cost as bars, and the change from the cycle
before. One self-contained HTML page (inline SVG chart, no script): served at /report
and written to a file by `meterhub report`, printable from any browser."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from meterhub.db.models import DEVICE_ACTIVE, User
from meterhub.errors import InvalidInput
from meterhub.services import cost, devices, tariffs
from meterhub.tariffs.engine import Tariff
from meterhub.tariffs.money import round_money

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
CSS = Path(__file__).resolve().parent.parent / "web" / "static" / "css" / "report.css"
CYCLE_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
_DAY = timedelta(days=1)


@dataclass
class DeviceReport:
    """One device's part of the report."""

    serial: str
    name: str
    bill: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    bars: list[dict[str, Any]] = field(default_factory=list)
    max_total: float = 0.0
    change: str | None = None
    note: str | None = None


def parse_cycle(text: str) -> tuple[int, int]:
    """ "YYYY-MM" as (year, month); InvalidInput otherwise."""
    match = CYCLE_RE.match(text or "")
    if not match or not 1971 <= int(match[1]) <= 9998:
        raise InvalidInput("cycle must be YYYY-MM (1971-9998), e.g. 2026-06", field="cycle")
    return int(match[1]), int(match[2])


def build(db: Session, user: User, cycle: str, now: datetime | None = None) -> dict[str, Any]:
    """The report's data for `user` (their devices only) and the cycle named `cycle`."""
    year, month = parse_cycle(cycle)
    now = now or datetime.now(UTC)
    conn = db.connection()
    out = []
    for device in devices.list_visible(db, user, DEVICE_ACTIVE):
        part = DeviceReport(device.serial_number, device.name or device.serial_number)
        out.append(part)
        row = tariffs.for_device(db, device)
        if row is None:
            part.note = "No tariff: the cost cannot be shown."
            continue
        tariff = tariffs.compiled(row)
        start, end = tariff.cycle_starting(year, month)
        today = cost.today_in(tariff, now)
        if start > today:
            part.note = "This billing cycle has not started yet."
            continue
        b = cost.cycle_bill(conn, tariff, device.id, start, today)
        part.bill = cost.bill_body(device.serial_number, row, tariff, b, now)
        prev_start = tariff.cycle_of(start - _DAY)[0]
        p = cost.cycle_bill(conn, tariff, device.id, prev_start, today)
        part.previous = cost.bill_body(device.serial_number, row, tariff, p, now)
        part.bars, part.max_total = _bars(conn, tariff, device.id, start, end, today)
        if p.total:
            pct = (b.total - p.total) / p.total * 100
            part.change = f"{pct:+.1f} %"
    return {
        "user": user.full_name or user.username,
        "cycle": f"{year:04d}-{month:02d}",
        "generated": now.strftime("%Y-%m-%d %H:%M UTC"),
        "devices": out,
    }


def _bars(
    conn: Any, tariff: Tariff, device_id: int, start: Any, end: Any, today: Any
) -> tuple[list[dict[str, Any]], float]:
    days = cost.daily(conn, tariff, device_id, start, end - _DAY, today)
    bars: list[dict[str, Any]] = []
    top = 0.0
    for d in days:
        exact = d.energy + d.fixed
        total = round_money(exact + tariff.vat_of(exact), tariff.currency)
        bars.append({"day": d.day.isoformat(), "kwh": d.wh / 1000, "total": float(total)})
        top = max(top, float(total))
    return bars, top


def render(report: dict[str, Any], standalone: bool) -> str:
    """The report as HTML; `standalone` inlines the stylesheet (a file to keep or mail),
    else links it (the page served by the app, whose CSP forbids inline styles)."""
    css = CSS.read_text(encoding="utf-8") if standalone else None
    return _env.get_template("report.html").render(report=report, css=css, Decimal=Decimal)
