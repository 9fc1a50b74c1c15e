"""A user's second factor: enrol (secret, then confirm with a code), check, disable."""

from __future__ import annotations

from sqlalchemy.orm import Session

from meterhub.db.models import User
from meterhub.errors import Conflict, InvalidInput
from meterhub.security import totp
from meterhub.services import audit


def enabled(user: User) -> bool:
    """True once enrolment was confirmed (a secret and recovery codes are stored)."""
    return user.totp_secret is not None and user.totp_recovery is not None


def start(db: Session, user: User) -> tuple[str, str]:
    """A new secret (not active until confirmed); returns (secret, otpauth URI)."""
    if enabled(user):
        raise Conflict("a second factor is already set up; disable it first")
    user.totp_secret = totp.new_secret()
    user.totp_recovery = None
    audit.record(db, user, "auth.totp_setup", "user", user.id)
    return user.totp_secret, totp.provisioning_uri(user.totp_secret, user.username)


def confirm(db: Session, user: User, code: str, key: str) -> list[str]:
    """Activate the pending secret with a current code; returns the recovery codes (once)."""
    if user.totp_secret is None or enabled(user):
        raise Conflict("no pending second-factor setup; start one first")
    if not totp.verify_code(user.totp_secret, code):
        raise InvalidInput("wrong code; check the time on your phone", field="code")
    codes, hashes = totp.new_recovery_codes(key)
    user.totp_recovery = hashes
    audit.record(db, user, "auth.totp_enabled", "user", user.id)
    return codes


def check(db: Session, user: User, code: str, key: str) -> bool:
    """True for a current TOTP code, or an unused recovery code (which is then used up)."""
    assert user.totp_secret is not None and user.totp_recovery is not None
    if totp.verify_code(user.totp_secret, code):
        return True
    remaining = totp.use_recovery_code(key, list(user.totp_recovery), code)
    if remaining is None:
        return False
    user.totp_recovery = remaining
    audit.record(db, user, "auth.recovery_code_used", "user", user.id, {"left": len(remaining)})
    return True


def disable(db: Session, actor: User, user: User) -> None:
    """Remove the second factor (the user, or an admin for a user who lost their phone)."""
    user.totp_secret = None
    user.totp_recovery = None
    audit.record(db, actor, "auth.totp_disabled", "user", user.id)
