"""Fleet figures for the overview, for the devices a user may see."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterhub.db.models import Device, User
from meterhub.services import cost, devices
from meterhub.telemetry import fastpaths, queries
from meterhub.telemetry.periods import local_midnight


def fleet_stats(
    db: Session, user: User, zone: tzinfo, now: datetime | None = None
) -> dict[str, Any]:
    """Devices total/online, power now, energy today and this month (in `zone`), readings
    stored, pending devices, and the cost outlook per currency."""
    now = now or datetime.now(UTC)
    visible = devices.visible_ids(db, user)
    active = [device_id for device_id, status in visible if status == "active"]
    conn = db.connection()
    today = now.astimezone(zone).date()
    midnight = local_midnight(today, zone)
    month_start = local_midnight(today.replace(day=1), zone)
    if queries.FAST_PATHS:  # one statement (telemetry/fastpaths.py)
        online, power, (energy_today, energy_before) = fastpaths.fleet_figures(
            conn,
            active,
            [
                (int(midnight.timestamp()), queries.open_end(now)),
                (int(month_start.timestamp()), int(midnight.timestamp())),
            ],
            queries.ROLLUP_TABLES,
        )
    else:  # the reference: fleet_now and energy_since, a statement per rollup piece
        online, power = queries.fleet_now(conn, active)
        up_to_now = datetime.fromtimestamp(queries.open_end(now), UTC)
        energy_today = queries.energy_since(conn, active, midnight, until=up_to_now)
        energy_before = queries.energy_since(conn, active, month_start, until=midnight)
    # This month = its days before today (mostly daily rollups) + today.
    energy_month = energy_today + energy_before
    return {
        "devices_total": len(active),
        "devices_online": online,
        "power_now_w": power,
        "energy_today_kwh": round(energy_today, 3),
        "energy_month_kwh": round(energy_month, 3),
        "readings_stored": queries.readings_stored(conn, None if user.is_admin else active),
        "pending_devices": sum(1 for _, status in visible if status == "pending"),
        "tz": str(zone),
        # Per currency, each device in its own tariff's billing cycle
        "cost": cost.fleet_outlook(db, active, now),
    }


def device_counts(db: Session) -> dict[tuple[str, bool], int]:
    """Devices by (status, online), for `/metrics`."""
    return {
        (status, bool(online)): int(n)
        for status, online, n in db.execute(
            select(Device.status, Device.online, func.count()).group_by(
                Device.status, Device.online
            )
        )
    }


def ingest_counters(db: Session) -> dict[str, int]:
    """Ingest's running totals, for `/metrics`."""
    return queries.counters(db.connection())
