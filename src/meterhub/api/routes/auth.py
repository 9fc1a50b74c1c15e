"""Login, logout, re-authentication, the caller's own profile and password."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from meterhub.api.deps import (
    Context,
    CurrentUser,
    DbSession,
    InteractivePrincipal,
    PasswordChangePrincipal,
    client_ip,
)
from meterhub.api.errors import responses
from meterhub.api.schemas import (
    LoginIn,
    LoginOut,
    PasswordChangeIn,
    ProfileIn,
    ReauthIn,
    ReauthOut,
    UserOut,
)
from meterhub.context import AppContext
from meterhub.db.models import User
from meterhub.db.types import utcnow
from meterhub.errors import Forbidden, InvalidInput, NotAuthenticated, Throttled
from meterhub.security.passwords import hash_password, needs_rehash, verify_password
from meterhub.security.sessions import (
    CSRF_COOKIE,
    SECURE_SESSION_COOKIE,
    SESSION_COOKIE,
    Principal,
    close_session,
    open_session,
    session_cookie,
    session_cookie_name,
)
from meterhub.security.throttle import LoginThrottle, hash_slots
from meterhub.services import audit, second_factor, tokens, users

router = APIRouter(prefix="/api/auth", tags=["auth"])
BAD_LOGIN = "invalid username or password"


def _set_cookies(
    request: Request, response: Response, raw: str, csrf: str, ctx: AppContext
) -> None:
    secure = request.url.scheme == "https"
    max_age = int(timedelta(days=ctx.settings.SESSION_MAX_DAYS).total_seconds())
    response.set_cookie(
        session_cookie_name(request),
        raw,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="lax", secure=secure, path="/"
    )


def _from_this_machine(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def _check_password(db: Session, user: User | None, password: str) -> bool:
    with hash_slots.slot():
        return verify_password(user.password_hash if user else None, password)


@router.post("/login", response_model=LoginOut, responses=responses(401, 403, 422, 429))
def login(
    body: LoginIn, request: Request, response: Response, db: DbSession, ctx: Context
) -> LoginOut:
    """Start a session: sets the HttpOnly session cookie and the `meterhub_csrf` cookie.
    With a second factor, send `totp_code` too (401 `totp_required` says so)."""
    ip = client_ip(request)
    throttle = LoginThrottle(ctx.sessions)
    reservation = throttle.begin(body.username, ip)  # 429 when over a limit
    user = users.by_username(db, body.username)
    try:
        ok = _check_password(db, user, body.password)
    except Throttled:  # busy hashing other logins: this attempt was never checked
        throttle.cancel(reservation)
        raise
    if not ok or user is None or user.disabled:
        # The typed name is kept only when it is an account: a mistyped password in the
        # user name field must not end up in the log.
        audit.record(
            db,
            user,
            "auth.login_failed",
            "user",
            user.id if user else None,
            {"username": user.username} if user else None,
            ip,
        )
        db.commit()
        raise NotAuthenticated(BAD_LOGIN)
    if (
        body.password == users.DEFAULT_ADMIN_PASSWORD
        and user.must_change_password
        and not _from_this_machine(ip)
    ):
        audit.record(db, user, "auth.login_refused_remote_default", "user", user.id, None, ip)
        db.commit()
        raise Forbidden(
            "the initial password works only from the machine itself "
            "(open http://localhost:<port> there) until it is changed",
            code="local_only",
        )
    if second_factor.enabled(user):
        if not body.totp_code:
            throttle.succeeded(reservation)  # the password was right; not a failure
            raise NotAuthenticated("enter the code of your authenticator app", code="totp_required")
        if not second_factor.check(db, user, body.totp_code, ctx.secret):
            audit.record(db, user, "auth.totp_failed", "user", user.id, None, ip)
            db.commit()
            raise NotAuthenticated("wrong authenticator or recovery code", code="totp_required")
    throttle.succeeded(reservation)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(body.password)
    previous = session_cookie(request)
    if previous:  # logging in again from this browser replaces its session, never reuses it
        close_session(db, previous, ctx.secret)
    raw, csrf = open_session(
        db, user, ctx.secret, request, timedelta(days=ctx.settings.SESSION_MAX_DAYS)
    )
    audit.record(db, user, "auth.login", "user", user.id, None, ip)
    _set_cookies(request, response, raw, csrf, ctx)
    return LoginOut(user=UserOut.of(user), csrf_token=csrf)


@router.post("/logout", status_code=204, responses=responses(401, 403))
def logout(
    principal: PasswordChangePrincipal, request: Request, response: Response, db: DbSession
) -> Response:
    """End this session (server-side) and clear the cookies."""
    if principal.session is not None:
        db.delete(principal.session)
    audit.record(
        db, principal.user, "auth.logout", "user", principal.user.id, None, client_ip(request)
    )
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(SECURE_SESSION_COOKIE, path="/", secure=True)
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/reauth", response_model=ReauthOut, responses=responses(401, 403, 422, 429))
def reauth(
    body: ReauthIn, principal: InteractivePrincipal, db: DbSession, ctx: Context, request: Request
) -> ReauthOut:
    """Confirm your password (and second factor) before a sensitive action: creating API
    tokens, changing roles, managing the second factor. Valid for 10 minutes."""
    user = principal.user
    throttle = LoginThrottle(ctx.sessions)
    reservation = throttle.begin(user.username, client_ip(request))
    if not _check_password(db, user, body.password):
        audit.record(db, user, "auth.reauth_failed", "user", user.id)
        db.commit()
        raise InvalidInput("password is wrong", field="password")
    if second_factor.enabled(user) and not (
        body.totp_code and second_factor.check(db, user, body.totp_code, ctx.secret)
    ):
        raise InvalidInput("enter a valid authenticator or recovery code", field="totp_code")
    throttle.succeeded(reservation)
    assert principal.session is not None  # InteractivePrincipal: a session, not a token
    principal.session.authenticated_at = utcnow()
    audit.record(db, user, "auth.reauth", "user", user.id)
    return ReauthOut(authenticated_at=principal.session.authenticated_at)


@router.get("/me", response_model=UserOut, responses=responses(401, 403))
def me(principal: PasswordChangePrincipal) -> UserOut:
    """The caller (answers even while a password change is pending)."""
    return UserOut.of(principal.user)


@router.put("/me", response_model=UserOut, responses=responses(401, 403, 422))
def update_me(body: ProfileIn, user: CurrentUser, db: DbSession) -> UserOut:
    """Change your own email, full name or time zone."""
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(user, key, value)
    audit.record(db, user, "user.update_self", "user", user.id, changes)
    return UserOut.of(user)


@router.post("/password", response_model=LoginOut, responses=responses(401, 403, 422))
def change_password(
    body: PasswordChangeIn,
    principal: PasswordChangePrincipal,
    request: Request,
    response: Response,
    db: DbSession,
    ctx: Context,
) -> LoginOut:
    """Change your password: every session of yours ends (this client gets a new one), and
    your API tokens are revoked unless `keep_tokens` is true."""
    user = principal.user
    _refuse_token(principal)
    if not _check_password(db, user, body.current_password):
        raise InvalidInput("current password is wrong", field="current_password")
    if body.new_password == body.current_password:
        raise InvalidInput(
            "the new password must differ from the current one", field="new_password"
        )
    users.set_password(db, user, body.new_password)
    revoked = 0 if body.keep_tokens else tokens.revoke_all(db, user.id)
    raw, csrf = open_session(
        db, user, ctx.secret, request, timedelta(days=ctx.settings.SESSION_MAX_DAYS)
    )
    audit.record(
        db,
        user,
        "auth.password_change",
        "user",
        user.id,
        {"tokens_revoked": revoked},
        client_ip(request),
    )
    _set_cookies(request, response, raw, csrf, ctx)
    return LoginOut(user=UserOut.of(user), csrf_token=csrf)


def _refuse_token(principal: Principal) -> None:
    if principal.token is not None:
        raise Forbidden("an API token cannot change the password; log in", code="token_not_allowed")
