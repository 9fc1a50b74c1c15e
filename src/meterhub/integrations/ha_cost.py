"""The month-to-date cost of a device for Home Assistant's `monetary` sensor, from the
tariffs (the same figures as the dashboard's "this month so far"), cached per device for
`CACHE_S` so the publisher's 2 s passes do not re-cost every device each time."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Final

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from meterhub.db.models import Device
from meterhub.integrations import ha_discovery as ha
from meterhub.integrations.source import ActiveDevice
from meterhub.services import cost, tariffs
from meterhub.tariffs.money import round_money
from meterhub.telemetry.periods import local_midnight

CACHE_S: Final = 60.0


def month_cost(conn: Connection, device: ActiveDevice) -> ha.MonthCost | None:
    """This billing cycle's cost so far (VAT included, rounded to the currency's minor
    unit), or None when the device has no tariff (nor is there a default one)."""
    with Session(bind=conn) as db:
        row = db.get(Device, device.id)
        tariff_row = tariffs.for_device(db, row) if row is not None else None
        if tariff_row is None:
            return None
        tariff = tariffs.compiled(tariff_row)
    now = datetime.now(UTC)
    outlook = cost.outlook(conn, tariff, device.id, now)
    start, _ = tariff.cycle_of(cost.today_in(tariff, now))
    return ha.MonthCost(
        amount=float(round_money(outlook.so_far, outlook.currency)),
        currency=outlook.currency,
        period_start_iso=local_midnight(start, tariff.zone).isoformat(),
    )


class CachedMonthCost:
    """`month_cost`, remembered per device for `CACHE_S` seconds (a `CostSource`)."""

    def __init__(self, ttl_s: float = CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._cache: dict[int, tuple[float, ha.MonthCost | None]] = {}

    def __call__(self, conn: Connection, device: ActiveDevice) -> ha.MonthCost | None:
        now = time.monotonic()
        hit = self._cache.get(device.id)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = month_cost(conn, device)
        self._cache[device.id] = (now + self.ttl_s, value)
        return value
