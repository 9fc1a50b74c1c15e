"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 256
# zxcvbn's estimate below 10^6 guesses (score 0-1): a dictionary word with a digit, a keyboard
# walk, a year... what an online or offline attack tries first.
MIN_SCORE = 2
SCORED_CHARS = 64  # zxcvbn is superlinear in length; the first 64 characters tell enough

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the user does not exist, so both answers take the same time.
_dummy_hash = _hasher.hash("meterhub-timing-equaliser")


def use_hasher(hasher: PasswordHasher) -> None:
    """Swap the argon2 parameters (the test suite uses cheap ones to stay fast)."""
    global _hasher, _dummy_hash
    _hasher = hasher
    _dummy_hash = hasher.hash("meterhub-timing-equaliser")


def parameters() -> tuple[int, int, int]:
    """(time_cost, memory_cost KiB, parallelism) of the hasher in use."""
    return _hasher.time_cost, _hasher.memory_cost, _hasher.parallelism


class PasswordPolicyError(ValueError):
    """The password does not meet the policy; the message says why."""


def check_policy(password: str, username: str) -> None:
    """Raise PasswordPolicyError unless `password` is acceptable for `username`."""
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"password must be at most {MAX_LENGTH} characters")
    if password.strip().lower() == username.strip().lower():
        raise PasswordPolicyError("password must not be the username")
    if password.lower() in _common_passwords():
        raise PasswordPolicyError("password is one of the most common passwords; choose another")
    # Imported here: its dictionaries take memory a server that never sets a password
    # (logins only verify) does not need.
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:SCORED_CHARS], user_inputs=[username, "meterhub"])
    if result["score"] < MIN_SCORE:
        hint = result["feedback"].get("warning") or "it is too easy to guess"
        raise PasswordPolicyError(f"password is too common or predictable: {hint}")


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's list (from real leaks)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash, spends the same time and says False."""
    try:
        return _hasher.verify(password_hash or _dummy_hash, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)
