"""FastAPI dependencies: the database session, the caller, and the access rules.

Every route takes exactly one of `CurrentUser`, `AdminUser`, `PasswordChangeUser`; the
access-matrix test proves the rule of each route from the app's own route table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from meterhub.context import AppContext
from meterhub.db.models import User
from meterhub.errors import Forbidden
from meterhub.security.sessions import SAFE_METHODS, Principal, authenticate, session_idle


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Context = Annotated[AppContext, Depends(get_context)]


def get_db(ctx: Context) -> Iterator[Session]:
    """A session per request: committed when the handler returns, rolled back on error."""
    with ctx.sessions() as db:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise


# scope="function": commit before the response is sent. With FastAPI's default ("request")
# the commit ran after the client already had its 200, so a failing commit went unseen.
DbSession = Annotated[Session, Depends(get_db, scope="function")]


def get_principal_allow_pending(request: Request, db: DbSession, ctx: Context) -> Principal:
    """The caller, even one who still has to change their password. A `read` token may
    only read."""
    principal = authenticate(db, request, ctx.secret, request.method, session_idle(ctx))
    if principal.scope == "read" and request.method not in SAFE_METHODS:
        raise Forbidden("this API token may only read (scope 'read')", code="token_scope")
    request.state.principal = principal
    return principal


def get_principal(
    principal: Annotated[Principal, Depends(get_principal_allow_pending)], ctx: Context
) -> Principal:
    """The caller; 403 until a forced password change is done, and (when the install
    requires it) until an admin has a second factor."""
    user = principal.user
    if user.must_change_password:
        raise Forbidden(
            "you must change your password first (POST /api/auth/password)",
            code="password_change_required",
        )
    if (
        ctx.settings.REQUIRE_ADMIN_2FA
        and user.is_admin
        and not (user.totp_secret is not None and user.totp_recovery is not None)
    ):
        raise Forbidden(
            "admins must set up a second factor first (Settings, or POST /api/auth/totp/setup)",
            code="totp_setup_required",
        )
    return principal


def get_user(principal: Annotated[Principal, Depends(get_principal)]) -> User:
    return principal.user


def get_admin(principal: Annotated[Principal, Depends(get_principal)]) -> User:
    """The caller, who must be an admin (and, with a token, one of scope `admin`)."""
    if not principal.user.is_admin:
        raise Forbidden("admin role required")
    if principal.scope != "admin":
        raise Forbidden("this API token lacks the 'admin' scope", code="token_scope")
    return principal.user


def get_enrolling(
    principal: Annotated[Principal, Depends(get_principal_allow_pending)],
) -> Principal:
    """A logged-in person (no token) past any forced password change, who may still lack
    the second factor an install requires: the second-factor routes take this one."""
    if principal.user.must_change_password:
        raise Forbidden(
            "you must change your password first (POST /api/auth/password)",
            code="password_change_required",
        )
    if principal.token is not None:
        raise Forbidden("an API token cannot do this; log in", code="token_not_allowed")
    return principal


def get_interactive(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """A caller with a browser session (not an API token): tokens cannot mint tokens."""
    if principal.token is not None:
        raise Forbidden("an API token cannot do this; log in", code="token_not_allowed")
    return principal


def get_fresh(principal: Annotated[Principal, Depends(get_interactive)]) -> Principal:
    """A session whose password was entered in the last few minutes (sensitive actions)."""
    require_fresh(principal)
    return principal


def require_fresh(principal: Principal) -> None:
    """403 `reauth_required` unless the session re-authenticated recently."""
    if principal.token is None and not principal.recently_authenticated():
        raise Forbidden(
            "confirm your password first (POST /api/auth/reauth)", code="reauth_required"
        )


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
PasswordChangePrincipal = Annotated[Principal, Depends(get_principal_allow_pending)]
CurrentUser = Annotated[User, Depends(get_user)]
EnrollingPrincipal = Annotated[Principal, Depends(get_enrolling)]
InteractivePrincipal = Annotated[Principal, Depends(get_interactive)]
FreshPrincipal = Annotated[Principal, Depends(get_fresh)]
AdminUser = Annotated[User, Depends(get_admin)]


def client_ip(request: Request) -> str:
    """The client's address as the server saw it (behind a proxy: see FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"
