"""Fleet figures for the overview, for the devices the caller may see."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from meterhub.api.deps import Context, CurrentUser, DbSession
from meterhub.api.routes.readings import user_zone
from meterhub.services import cost, devices
from meterhub.telemetry import queries
from meterhub.telemetry.periods import local_midnight

router = APIRouter(prefix="/api/dashboard", tags=["dashboard"])


@router.get("/stats")
def stats(user: CurrentUser, db: DbSession, ctx: Context) -> dict[str, Any]:
    """Devices total/online, power now, energy today and this month (in your zone),
    readings stored, pending devices, and `cost`: per currency, this billing cycle so far,
    projected to its end, and the last cycle (decimal strings, VAT included)."""
    visible = devices.visible_ids(db, user)
    active = [device_id for device_id, status in visible if status == "active"]
    zone = user_zone(user, None, ctx.settings.METERHUB_TZ)
    conn = db.connection()
    today = datetime.now(UTC).astimezone(zone).date()
    online, power = queries.fleet_now(conn, active)
    midnight = local_midnight(today, zone)
    energy_today = queries.energy_since(conn, active, midnight)
    # This month = its days before today (mostly daily rollups) + today.
    energy_month = energy_today + queries.energy_since(
        conn, active, local_midnight(today.replace(day=1), zone), until=midnight
    )
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
        "cost": cost.fleet_outlook(db, active, datetime.now(UTC)),
    }
