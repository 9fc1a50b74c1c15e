"""Who is calling: session cookies (with double-submit CSRF) and bearer API tokens.

One function, `authenticate`, serves the HTTP dependencies, the WebSocket and the pages,
so every way in follows the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from meterhub.context import AppContext
from meterhub.db.models import ApiToken, User, UserSession
from meterhub.db.types import utcnow
from meterhub.errors import Forbidden, NotAuthenticated
from meterhub.security.tokens import keyed_hash, new_secret, same
from meterhub.services import audit

SESSION_COOKIE = "meterhub_session"
# Over TLS the session cookie carries the __Host- prefix: the browser then only accepts it
# Secure, from this exact host, for path / (no sibling subdomain can plant or shadow it).
SECURE_SESSION_COOKIE = "__Host-meterhub_session"
CSRF_COOKIE = "meterhub_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_IDLE = timedelta(hours=12)  # defaults; SESSION_IDLE_HOURS / SESSION_MAX_DAYS
SESSION_MAX = timedelta(days=7)
REAUTH_WITHIN = timedelta(minutes=10)  # how recent a password entry sensitive actions want
TOUCH_EVERY = timedelta(minutes=5)  # write last_seen at most this often
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Principal:
    """An authenticated caller."""

    user: User
    session: UserSession | None = None
    token: ApiToken | None = None

    @property
    def scope(self) -> str:
        """What the caller may do: `admin`/`write`/`read` for a token; a session may do
        whatever the user's role allows."""
        return self.token.scope if self.token is not None else "admin"

    def recently_authenticated(self, now: datetime | None = None) -> bool:
        """True for a session whose password was entered within REAUTH_WITHIN."""
        if self.session is None or self.session.authenticated_at is None:
            return False
        return (now or utcnow()) - self.session.authenticated_at <= REAUTH_WITHIN


def session_idle(ctx: AppContext) -> timedelta:
    """The idle lifetime of sessions (SESSION_IDLE_HOURS)."""
    return timedelta(hours=ctx.settings.SESSION_IDLE_HOURS)


def session_cookie_name(conn: HTTPConnection) -> str:
    """The session cookie's name for this connection (prefixed over TLS)."""
    return SECURE_SESSION_COOKIE if conn.url.scheme in ("https", "wss") else SESSION_COOKIE


def session_cookie(conn: HTTPConnection) -> str | None:
    """The session cookie value the client sent, if any."""
    return conn.cookies.get(session_cookie_name(conn))


def authenticate(
    db: Session,
    conn: HTTPConnection,
    secret: str,
    method: str,
    idle: timedelta = SESSION_IDLE,
) -> Principal:
    """The caller of `conn`, or NotAuthenticated/Forbidden with a message that says why."""
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return _by_token(db, header[7:].strip(), secret)
    raw = session_cookie(conn)
    if not raw:
        raise NotAuthenticated("not logged in")
    principal = session_principal(db, raw, secret, idle)
    if method not in SAFE_METHODS:
        _check_csrf(conn, principal.session)
    return principal


def session_principal(
    db: Session, raw_cookie: str, secret: str, idle: timedelta = SESSION_IDLE
) -> Principal:
    """The user behind a session cookie value, if the session is live."""
    session = db.get(UserSession, keyed_hash(secret, raw_cookie))
    now = utcnow()
    if session is None or session.expires_at <= now or session.last_seen_at + idle <= now:
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
        # Also the audit trail of token use: one entry per token per TOUCH_EVERY at most.
        token.last_used_at = now
        audit.record(db, user, "token.use", "token", token.id, {"scope": token.scope})
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


def open_session(
    db: Session,
    user: User,
    secret: str,
    conn: HTTPConnection,
    lifetime: timedelta = SESSION_MAX,
) -> tuple[str, str]:
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
            expires_at=now + lifetime,
            authenticated_at=now,
            client_ip=client,
            user_agent=(conn.headers.get("user-agent") or "")[:256],
        )
    )
    db.flush()
    return raw, csrf
