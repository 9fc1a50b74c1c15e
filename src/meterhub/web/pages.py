"""The dashboard's pages (GET only; every change goes through the API with CSRF).

Pages render the frame and what the database already knows (device names, last values);
the ES modules in static/js fill in and keep it live from the REST API and /ws, exactly
as a third-party client would.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from meterhub.api.deps import Context, DbSession
from meterhub.db.models import DEVICE_ACTIVE, User
from meterhub.errors import NotAuthenticated
from meterhub.reports import monthly
from meterhub.security.sessions import authenticate, session_idle
from meterhub.services import devices, tariffs
from meterhub.web import assets
from meterhub.web.page_access import (
    CHANGE_PASSWORD_URL,
    base_context,
    page,
    render,
    safe_next,
)

router = APIRouter(include_in_schema=False)
router.include_router(assets.router)


@cache
def time_zones() -> list[str]:
    """IANA zone names for the settings page's picker."""
    return sorted(z for z in available_timezones() if "/" in z or z == "UTC")


@router.get("/login")
def login_page(
    request: Request, db: DbSession, ctx: Context, next: str | None = None, change: int = 0
) -> Response:
    """Log in; the forced password change is this page's second step."""
    target = safe_next(next)
    user: User | None = None
    try:
        user = authenticate(db, request, ctx.secret, "GET", session_idle(ctx)).user
    except NotAuthenticated:
        user = None
    if user is not None and not user.must_change_password:
        return RedirectResponse(target, status_code=303)
    step = "change" if user is not None else "login"
    context = base_context(request, None, ctx) | {
        "next": target,
        "step": step,
        "username": user.username if user else "",
        "asked_change": bool(change),
    }
    return render(request, "login.html", context)


def _active_devices(db: DbSession, user: User) -> list[Any]:
    return devices.list_visible(db, user, DEVICE_ACTIVE)


def _device_list_page(
    request: Request, db: DbSession, ctx: Context, template: str, active: str
) -> Response:
    """A page listing the caller's active devices."""

    def build(user: User) -> Mapping[str, Any]:
        return {"devices": _active_devices(db, user)}

    return page(request, db, ctx, template, active=active, build=build)


@router.get("/")
def overview_page(request: Request, db: DbSession, ctx: Context) -> Response:
    """Fleet figures and a live card per device."""
    return _device_list_page(request, db, ctx, "overview.html", "overview")


@router.get("/devices")
def devices_page(request: Request, db: DbSession, ctx: Context) -> Response:
    """Every visible device: search, filter, sort."""
    return _device_list_page(request, db, ctx, "devices.html", "devices")


@router.get("/devices/{serial}")
def device_page(serial: str, request: Request, db: DbSession, ctx: Context) -> Response:
    """One device: live values, history chart, consumption, export (404 if not yours)."""

    def build(user: User) -> Mapping[str, Any]:
        device = devices.get_visible_by_serial(db, user, serial)
        return {"device": device, "has_tariff": tariffs.for_device(db, device) is not None}

    return page(request, db, ctx, "device.html", active="devices", build=build)


@router.get("/live")
def live_page(request: Request, db: DbSession, ctx: Context) -> Response:
    """Every visible device, compact, updating in real time."""
    return _device_list_page(request, db, ctx, "live.html", "live")


@router.get("/analytics")
def analytics_page(request: Request, db: DbSession, ctx: Context) -> Response:
    """Consumption trends, period comparison, top consumers, calendar heat map."""

    def build(user: User) -> Mapping[str, Any]:
        found = _active_devices(db, user)
        return {
            "devices": found,
            "meters": [
                {
                    "serial": d.serial_number,
                    "name": d.name or d.serial_number,
                    "priced": tariffs.for_device(db, d) is not None,
                }
                for d in found
            ],
        }

    return page(request, db, ctx, "analytics.html", active="analytics", build=build)


@router.get("/users")
def users_page(request: Request, db: DbSession, ctx: Context) -> Response:
    """User management (admins)."""
    return page(request, db, ctx, "users.html", active="users", admin=True)


@router.get("/admin/devices")
def admin_devices_page(request: Request, db: DbSession, ctx: Context) -> Response:
    """Device registry, pending approvals and dead letters (admins)."""
    return page(request, db, ctx, "admin_devices.html", active="admin-devices", admin=True)


@router.get("/admin/integrations")
def admin_integrations_page(request: Request, db: DbSession, ctx: Context) -> Response:
    """Home Assistant discovery status and Emoncms forwarding targets (admins)."""
    return page(request, db, ctx, "admin_integrations.html", active="integrations", admin=True)


@router.get("/admin/tariffs")
def admin_tariffs_page(request: Request, db: DbSession, ctx: Context) -> Response:
    """Tariffs: list, create from the EVN or time-of-use template, edit, delete (admins)."""
    return page(request, db, ctx, "admin_tariffs.html", active="admin-tariffs", admin=True)


@router.get("/report")
def report_page(
    request: Request, db: DbSession, ctx: Context, cycle: str | None = None
) -> Response:
    """The caller's monthly report (their devices only), printable; default: last month."""

    def build(user: User) -> Mapping[str, Any]:
        month = cycle or (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        return {"html": monthly.render(monthly.build(db, user, month), standalone=False)}

    return page(request, db, ctx, "report_frame.html", active="", build=build)


@router.get("/alerts")
def alerts_page(request: Request, db: DbSession, ctx: Context) -> Response:
    """Alerts (active first, acknowledge), rules and channels."""
    return _device_list_page(request, db, ctx, "alerts.html", "alerts")


@router.get("/settings")
def settings_page(request: Request, db: DbSession, ctx: Context) -> Response:
    """Own profile, password, time zone, second factor; API tokens."""

    def build(user: User) -> Mapping[str, Any]:
        return {"zones": time_zones(), "admin_2fa_required": ctx.settings.REQUIRE_ADMIN_2FA}

    return page(request, db, ctx, "settings.html", active="settings", build=build)


__all__ = ["CHANGE_PASSWORD_URL", "router"]
