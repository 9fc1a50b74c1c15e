"""Who may see a page, and the answers for those who may not.

Pages use the same `authenticate` as the API (one rule for every way in) and turn its
outcomes into what a browser needs: a redirect to /login?next=... instead of 401, the
password-change step instead of anything else while it is pending, and HTML 403/404 pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from meterhub import __version__
from meterhub.context import AppContext
from meterhub.db.models import User
from meterhub.errors import NotAuthenticated, NotFound
from meterhub.protocol.rules import SERIAL_PATTERN, SERIAL_RULE
from meterhub.security.sessions import authenticate, session_idle
from meterhub.web.assets import plotly_css_url, plotly_style_guards, plotly_url

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
# The serial rule, written once (meterhub.protocol.rules), for the admin form.
templates.env.globals["serial_pattern"] = SERIAL_PATTERN
templates.env.globals["serial_rule"] = SERIAL_RULE
CHANGE_PASSWORD_URL = "/login?change=1"  # noqa: S105 - a URL, not a secret

PageBuilder = Callable[[User], Mapping[str, Any]]


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (other hosts, //x, odd schemes) is /."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith("/login"):
        return "/"
    return target


def login_redirect(request: Request) -> RedirectResponse:
    """303 to the login page, remembering where the visitor wanted to go."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    next_part = "" if target == "/" else f"?next={quote(target, safe='/')}"
    return RedirectResponse(f"/login{next_part}", status_code=303)


def user_zone(user: User | None, ctx: AppContext) -> str:
    """The user's time zone, else the server's default (METERHUB_TZ)."""
    zone = user.timezone if user is not None and user.timezone else ctx.settings.METERHUB_TZ
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return zone


def base_context(
    request: Request, user: User | None, ctx: AppContext, active: str = ""
) -> dict[str, Any]:
    """What the layout needs on every page."""
    return {
        "user": user,
        "is_admin": bool(user and user.is_admin),
        "tz": user_zone(user, ctx),
        "active": active,
        "version": __version__,
        "plotly_url": plotly_url(),
        "plotly_css_url": plotly_css_url(),
        "plotly_style_guards": plotly_style_guards(),
        "request": request,
    }


def render(
    request: Request, template: str, context: Mapping[str, Any], status_code: int = 200
) -> Response:
    """A template as an HTML response that no shared cache keeps."""
    response = templates.TemplateResponse(request, template, dict(context), status_code=status_code)
    response.headers["cache-control"] = "no-store"
    return response


def error_page(
    request: Request, user: User | None, ctx: AppContext, status_code: int, title: str, message: str
) -> Response:
    """The HTML page for 403/404: the same for "not there" and "not yours"."""
    context = base_context(request, user, ctx) | {
        "status": status_code,
        "title": title,
        "message": message,
    }
    return render(request, "error.html", context, status_code)


def not_found(request: Request, user: User | None, ctx: AppContext) -> Response:
    return error_page(
        request, user, ctx, 404, "Not found", "There is nothing here, or it is not shared with you."
    )


def page(
    request: Request,
    db: Session,
    ctx: AppContext,
    template: str,
    *,
    active: str,
    admin: bool = False,
    build: PageBuilder | None = None,
) -> Response:
    """Render `template` for a logged-in user, or answer what the rules say instead.

    `build(user)` adds page data; it may raise NotFound (e.g. a device the user may not see),
    which becomes the 404 page.
    """
    try:
        user = authenticate(db, request, ctx.secret, "GET", session_idle(ctx)).user
    except NotAuthenticated:
        return login_redirect(request)
    if user.must_change_password:
        return RedirectResponse(CHANGE_PASSWORD_URL, status_code=303)
    if admin and not user.is_admin:
        return error_page(
            request,
            user,
            ctx,
            403,
            "Admins only",
            "This page is for administrators. Ask one if you need a change here.",
        )
    try:
        extra = build(user) if build else {}
    except NotFound:
        return not_found(request, user, ctx)
    return render(request, template, base_context(request, user, ctx, active) | dict(extra))
