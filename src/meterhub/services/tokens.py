"""API tokens: scopes, expiry, revocation."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from meterhub.db.models import ApiToken, User
from meterhub.db.types import utcnow
from meterhub.errors import Forbidden, NotFound
from meterhub.security.tokens import keyed_hash, new_api_token
from meterhub.services import audit

SCOPES = ("read", "write", "admin")
DEFAULT_EXPIRES_DAYS = 90


def of_user(db: Session, user: User) -> list[ApiToken]:
    """The user's tokens, oldest first."""
    return list(
        db.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
    )


def create(
    db: Session, user: User, secret: str, name: str, scope: str, expires_days: int
) -> tuple[ApiToken, str]:
    """A new token for `user` and its value (shown once). Users may hold `read` tokens;
    `write` and `admin` are for admins."""
    if scope not in SCOPES:
        raise Forbidden(f"scope must be one of {', '.join(SCOPES)}")
    if scope != "read" and not user.is_admin:
        raise Forbidden("only admins may hold 'write' or 'admin' tokens; use scope 'read'")
    raw = new_api_token()
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=keyed_hash(secret, raw),
        prefix=raw[:10],
        scope=scope,
        expires_at=utcnow() + timedelta(days=expires_days),
    )
    db.add(token)
    db.flush()
    audit.record(
        db,
        user,
        "token.create",
        "token",
        token.id,
        {"name": name, "scope": scope, "expires_days": expires_days},
    )
    return token, raw


def revoke(db: Session, user: User, token_id: int) -> None:
    """Revoke one of the user's tokens (404 for anyone else's)."""
    token = db.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"token {token_id} not found")
    db.delete(token)
    audit.record(db, user, "token.revoke", "token", token_id)


def revoke_all(db: Session, user_id: int) -> int:
    """Revoke every token of a user (password change or reset); returns how many."""
    result = db.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)
