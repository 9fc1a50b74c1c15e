"""Fleet figures for the overview, for the devices the caller may see."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from meterhub.api.deps import Context, CurrentUser, DbSession
from meterhub.api.read_schemas import DashboardStatsOut
from meterhub.api.routes.readings import user_zone
from meterhub.services import dashboard

router = APIRouter(prefix="/api/dashboard", tags=["dashboard"])


@router.get("/stats", response_model=DashboardStatsOut)
def stats(user: CurrentUser, db: DbSession, ctx: Context) -> dict[str, Any]:
    """Devices total/online, power now, energy today and this month (in your zone),
    readings stored, pending devices, and `cost`: per currency, this billing cycle so far,
    projected to its end, and the last cycle (decimal strings, VAT included)."""
    zone = user_zone(user, None, ctx.settings.METERHUB_TZ)
    return dashboard.fleet_stats(db, user, zone)
