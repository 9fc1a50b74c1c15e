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
from meterhub.security.sessions import Principal, authenticate


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
    """The caller, even one who still has to change their password."""
    principal = authenticate(db, request, ctx.secret, request.method)
    request.state.principal = principal
    return principal


def get_principal(
    principal: Annotated[Principal, Depends(get_principal_allow_pending)],
) -> Principal:
    """The caller; 403 until a forced password change is done."""
    if principal.user.must_change_password:
        raise Forbidden(
            "you must change your password first (POST /api/auth/password)",
            code="password_change_required",
        )
    return principal


def get_user(principal: Annotated[Principal, Depends(get_principal)]) -> User:
    return principal.user


def get_admin(user: Annotated[User, Depends(get_user)]) -> User:
    """The caller, who must be an admin."""
    if not user.is_admin:
        raise Forbidden("admin role required")
    return user


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
PasswordChangePrincipal = Annotated[Principal, Depends(get_principal_allow_pending)]
CurrentUser = Annotated[User, Depends(get_user)]
AdminUser = Annotated[User, Depends(get_admin)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
