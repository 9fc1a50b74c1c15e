"""Who is calling: session cookies (with double-submit CSRF) and bearer API tokens.

One function, `authenticate`, serves the HTTP dependencies, the WebSocket and the pages,
so every way in follows the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from meterhub.db.models import ApiToken, User, UserSession
from meterhub.db.types import utcnow
from meterhub.errors import Forbidden, NotAuthenticated
from meterhub.security.tokens import keyed_hash, new_secret, same

SESSION_COOKIE = "meterhub_session"
CSRF_COOKIE = "meterhub_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_IDLE = timedelta(days=7)
SESSION_MAX = timedelta(days=30)
TOUCH_EVERY = timedelta(minutes=5)  # write last_seen at most this often
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Principal:
    """An authenticated caller."""

    user: User
    session: UserSession | None = None
    token: ApiToken | None = None


def authenticate(db: Session, conn: HTTPConnection, secret: str, method: str) -> Principal:
    """The caller of `conn`, or NotAuthenticated/Forbidden with a message that says why."""
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return _by_token(db, header[7:].strip(), secret)
    raw = conn.cookies.get(SESSION_COOKIE)
    if not raw:
        raise NotAuthenticated("not logged in")
    principal = session_principal(db, raw, secret)
    if method not in SAFE_METHODS:
        _check_csrf(conn, principal.session)
    return principal


def session_principal(db: Session, raw_cookie: str, secret: str) -> Principal:
    """The user behind a session cookie value, if the session is live."""
    session = db.get(UserSession, keyed_hash(secret, raw_cookie))
    now = utcnow()
    if session is None or session.expires_at <= now or session.last_seen_at + SESSION_IDLE <= now:
        raise NotAuthenticated("session expired or ended; log in again")
    user = db.get(User, session.user_id)
    if user is None or user.disabled:
        raise NotAuthenticated("session expired or ended; log in again")
    if now - session.last_seen_at > TOUCH_EVERY:
        session.last_seen_at = now
    return Principal(user=user, session=session)


def _by_token(db: Session, raw: str, secret: str) -> Principal:
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == keyed_hash(secret, raw)))
    now = utcnow()
    if token is None or (token.expires_at is not None and token.expires_at <= now):
        raise NotAuthenticated("invalid or expired API token")
    user = db.get(User, token.user_id)
    if user is None or user.disabled:
        raise NotAuthenticated("invalid or expired API token")
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        token.last_used_at = now
    return Principal(user=user, token=token)


def _check_csrf(conn: HTTPConnection, session: UserSession | None) -> None:
    header = conn.headers.get(CSRF_HEADER, "")
    cookie = conn.cookies.get(CSRF_COOKIE, "")
    if (
        session is None
        or not header
        or not cookie
        or not same(header, cookie)
        or not same(header, session.csrf_token)
    ):
        raise Forbidden(
            "missing or wrong X-CSRF-Token header; send the meterhub_csrf cookie's value",
            code="csrf",
        )


def close_session(db: Session, raw_cookie: str, secret: str) -> None:
    """End the session behind a cookie value, if there is one (a no-op for unknown values)."""
    session = db.get(UserSession, keyed_hash(secret, raw_cookie))
    if session is not None:
        db.delete(session)


def open_session(db: Session, user: User, secret: str, conn: HTTPConnection) -> tuple[str, str]:
    """A fresh session for `user` (a new id at every login); returns (cookie, csrf token)."""
    raw = new_secret()
    csrf = new_secret(24)
    now = utcnow()
    client = conn.client.host if conn.client else None
    db.add(
        UserSession(
            id=keyed_hash(secret, raw),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_MAX,
            client_ip=client,
            user_agent=(conn.headers.get("user-agent") or "")[:256],
        )
    )
    db.flush()
    return raw, csrf
