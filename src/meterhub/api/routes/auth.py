"""Login, logout, the caller's own profile and password."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from meterhub.api.deps import (
    Context,
    CurrentUser,
    DbSession,
    PasswordChangePrincipal,
    client_ip,
)
from meterhub.api.schemas import LoginIn, LoginOut, PasswordChangeIn, ProfileIn, UserOut
from meterhub.errors import InvalidInput, NotAuthenticated, Throttled
from meterhub.security.passwords import hash_password, needs_rehash, verify_password
from meterhub.security.sessions import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX,
    close_session,
    open_session,
)
from meterhub.services import audit, users

router = APIRouter(prefix="/api/auth", tags=["auth"])
BAD_LOGIN = "invalid username or password"


def _set_cookies(request: Request, response: Response, raw: str, csrf: str) -> None:
    secure = request.url.scheme == "https"
    max_age = int(SESSION_MAX.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, raw, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="lax", secure=secure, path="/"
    )


@router.post("/login", response_model=LoginOut)
def login(
    body: LoginIn, request: Request, response: Response, db: DbSession, ctx: Context
) -> LoginOut:
    """Start a session: sets the HttpOnly session cookie and the `meterhub_csrf` cookie."""
    ip = client_ip(request)
    wait = ctx.throttle.retry_after(body.username, ip)
    if wait:
        raise Throttled(f"too many failed logins; try again in {wait} s", retry_after=wait)
    user = users.by_username(db, body.username)
    ok = verify_password(user.password_hash if user else None, body.password)
    if not ok or user is None or user.disabled:
        ctx.throttle.failed(body.username, ip)
        audit.record(
            db,
            user,
            "auth.login_failed",
            "user",
            user.id if user else None,
            {"username": body.username[:64]},
            ip,
        )
        db.commit()
        raise NotAuthenticated(BAD_LOGIN)
    ctx.throttle.succeeded(body.username, ip)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(body.password)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # logging in again from this browser replaces its session, never reuses it
        close_session(db, previous, ctx.secret)
    raw, csrf = open_session(db, user, ctx.secret, request)
    audit.record(db, user, "auth.login", "user", user.id, None, ip)
    _set_cookies(request, response, raw, csrf)
    return LoginOut(user=UserOut.of(user), csrf_token=csrf)


@router.post("/logout", status_code=204)
def logout(principal: PasswordChangePrincipal, response: Response, db: DbSession) -> Response:
    """End this session (server-side) and clear the cookies."""
    if principal.session is not None:
        db.delete(principal.session)
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me", response_model=UserOut)
def me(principal: PasswordChangePrincipal) -> UserOut:
    """The caller (answers even while a password change is pending)."""
    return UserOut.of(principal.user)


@router.put("/me", response_model=UserOut)
def update_me(body: ProfileIn, user: CurrentUser, db: DbSession) -> UserOut:
    """Change your own email, full name or time zone."""
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(user, key, value)
    audit.record(db, user, "user.update_self", "user", user.id, changes)
    return UserOut.of(user)


@router.post("/password", response_model=LoginOut)
def change_password(
    body: PasswordChangeIn,
    principal: PasswordChangePrincipal,
    request: Request,
    response: Response,
    db: DbSession,
    ctx: Context,
) -> LoginOut:
    """Change your password: every session of yours ends; this client gets a new one."""
    user = principal.user
    if not verify_password(user.password_hash, body.current_password):
        raise InvalidInput("current password is wrong", field="current_password")
    if body.new_password == body.current_password:
        raise InvalidInput(
            "the new password must differ from the current one", field="new_password"
        )
    users.set_password(db, user, body.new_password)
    raw, csrf = open_session(db, user, ctx.secret, request)
    audit.record(db, user, "auth.password_change", "user", user.id, None, client_ip(request))
    _set_cookies(request, response, raw, csrf)
    return LoginOut(user=UserOut.of(user), csrf_token=csrf)
