"""MQTT account passwords: generated, and stored only as a PBKDF2-SHA512 hash.

The stored form is Mosquitto's own (`$7$<iterations>$<b64 salt>$<b64 hash>`, what
`mosquitto_passwd` writes), so the registry can be exported to a Mosquitto password file
or dynamic-security JSON without ever knowing a password.

Why a modest iteration count rather than argon2: every password is >= 128 random bits
made by meterhub, so guessing it is hopeless however fast the hash is; key stretching
only protects passwords people choose. The hash is there so that a copy of the database
gives no working credentials, and the broker checks it on every CONNECT, where a
deliberately slow hash would turn a reconnect storm of a thousand meters into minutes of
CPU. 1,000 rounds cost a few milliseconds (5.8 ms measured on a busy 2-core machine).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 1000
SALT_BYTES = 12
PASSWORD_BYTES = 24  # 192 random bits, 32 URL-safe characters
_PREFIX = "$7$"


def new_password() -> str:
    """A fresh random password (URL-safe text, 192 bits)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """The Mosquitto-compatible `$7$` hash of `password`."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"{_PREFIX}{iterations}${_b64(salt)}${_b64(digest)}"


def parse_hash(stored: str) -> tuple[int, bytes, bytes]:
    """(iterations, salt, digest) of a `$7$` hash; ValueError if it is not one."""
    if not stored.startswith(_PREFIX):
        raise ValueError("not a $7$ (PBKDF2-SHA512) password hash")
    try:
        count, salt, digest = stored[len(_PREFIX) :].split("$")
        return int(count), base64.b64decode(salt), base64.b64decode(digest)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"malformed $7$ password hash: {exc}") from None


def verify_password(password: str, stored: str | None) -> bool:
    """True if `password` matches `stored` (a `$7$` hash); False for no hash or a bad one."""
    if not stored:
        return False
    try:
        iterations, salt, digest = parse_hash(stored)
    except ValueError:
        return False
    if not 0 < iterations <= 10_000_000:
        return False
    candidate = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(digest))
    return hmac.compare_digest(candidate, digest)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
