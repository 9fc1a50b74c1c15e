"""Users: create, update, delete, with the last-admin and self-protection rules."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from meterhub.db.models import ROLE_ADMIN, ROLE_USER, User, UserSession
from meterhub.errors import Conflict, Forbidden, InvalidInput, NotFound
from meterhub.security.passwords import PasswordPolicyError, check_policy, hash_password
from meterhub.services import audit, tokens

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
ROLES = (ROLE_ADMIN, ROLE_USER)
DEFAULT_ADMIN = "admin"
DEFAULT_ADMIN_PASSWORD = "admin123"  # noqa: S105 - the documented first-login password, forced to change


def get(db: Session, user_id: int) -> User:
    """The user, or NotFound."""
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def by_username(db: Session, username: str) -> User | None:
    """The user with that name (case-insensitive), if any."""
    return db.scalar(select(User).where(func.lower(User.username) == username.lower()))


def list_all(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.username)))


def create(
    db: Session,
    actor: User | None,
    username: str,
    password: str,
    role: str = ROLE_USER,
    email: str | None = None,
    full_name: str | None = None,
    must_change_password: bool = False,
    disabled: bool = False,
) -> User:
    """A new user; the username must be free and the password must meet the policy."""
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            "username must be 3-64 characters of letters, digits and _ . @ -", field="username"
        )
    _check_role(role)
    _check_password(password, username)
    if by_username(db, username) is not None:
        raise Conflict(f"username {username!r} is taken", field="username")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        email=email,
        full_name=full_name,
        must_change_password=must_change_password,
        disabled=disabled,
    )
    db.add(user)
    db.flush()
    audit.record(db, actor, "user.create", "user", user.id, {"username": username, "role": role})
    return user


def update(db: Session, actor: User | None, user: User, changes: dict[str, Any]) -> User:
    """Apply `changes` (email, full_name, role, disabled, timezone, password)."""
    if "role" in changes and changes["role"] != user.role:
        _check_role(changes["role"])
        if changes["role"] != ROLE_ADMIN:
            _refuse_losing_admin(db, actor, user, "demote")
    if changes.get("disabled") and not user.disabled:
        _refuse_losing_admin(db, actor, user, "disable")
    password = changes.pop("password", None)
    for key in ("email", "full_name", "role", "disabled", "timezone", "must_change_password"):
        if key in changes:
            setattr(user, key, changes[key])
    if password is not None:
        _check_password(password, user.username)
        user.password_hash = hash_password(password)
        end_sessions(db, user.id)
        tokens.revoke_all(db, user.id)  # a reset means the old credentials are suspect
    if user.disabled:
        end_sessions(db, user.id)
    audit.record(
        db,
        actor,
        "user.update",
        "user",
        user.id,
        {k: v for k, v in changes.items() if k != "password"}
        | ({"password": "reset"} if password is not None else {}),
    )
    db.flush()
    return user


def delete_user(db: Session, actor: User | None, user: User) -> None:
    """Delete `user` unless it is the actor or the last enabled admin."""
    _refuse_losing_admin(db, actor, user, "delete")
    audit.record(db, actor, "user.delete", "user", user.id, {"username": user.username})
    db.delete(user)
    db.flush()


def set_password(db: Session, user: User, new_password: str) -> None:
    """Change the password, clear the forced-change flag and end the user's other sessions."""
    _check_password(new_password, user.username)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    end_sessions(db, user.id)
    db.flush()


def end_sessions(db: Session, user_id: int) -> None:
    """Revoke every session of the user (server-side: the cookies stop working at once)."""
    db.execute(delete(UserSession).where(UserSession.user_id == user_id))


def ensure_default_admin(db: Session) -> User | None:
    """Create admin/admin123 (must change password) when there is no admin at all."""
    has_admin = db.scalar(select(func.count()).select_from(User).where(User.role == ROLE_ADMIN))
    if has_admin:
        return None
    user = User(
        username=DEFAULT_ADMIN,
        password_hash=hash_password(DEFAULT_ADMIN_PASSWORD),
        role=ROLE_ADMIN,
        must_change_password=True,
    )
    db.add(user)
    db.flush()
    audit.record(db, None, "user.create_default_admin", "user", user.id)
    return user


def _check_role(role: object) -> None:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")


def _check_password(password: str, username: str) -> None:
    try:
        check_policy(password, username)
    except PasswordPolicyError as exc:
        raise InvalidInput(str(exc), field="password") from exc


def _refuse_losing_admin(db: Session, actor: User | None, user: User, verb: str) -> None:
    if actor is not None and actor.id == user.id:
        raise Forbidden(f"you cannot {verb} yourself")
    if user.role != ROLE_ADMIN or user.disabled:
        return
    admins = db.scalar(
        select(func.count()).select_from(User).where(User.role == ROLE_ADMIN, ~User.disabled)
    )
    if (admins or 0) <= 1:
        raise Conflict(f"cannot {verb} the last admin; make another user admin first")
