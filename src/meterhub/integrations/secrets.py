"""Integration secrets (Emoncms API keys) encrypted at rest.

The key is derived from the install's session secret with HKDF (SHA-256, a purpose label
of its own), so no extra key file is needed and a leaked database alone does not reveal
the API keys. Fernet authenticates what it decrypts: a wrong key or a tampered value is
an error, never garbage sent to a server. Changing SESSION_SECRET makes stored keys
unreadable; the admin enters them again (the API says so).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PURPOSE = b"meterhub integrations api keys v1"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with this install's key."""


def _fernet(session_secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        session_secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(session_secret: str, plain: str) -> str:
    """`plain` encrypted for storage (ASCII text)."""
    return _fernet(session_secret).encrypt(plain.encode()).decode("ascii")


def decrypt(session_secret: str, stored: str) -> str:
    """The plain text of a value from `encrypt`; SecretUnreadable if the key differs."""
    try:
        return _fernet(session_secret).decrypt(stored.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise SecretUnreadable(
            "the stored API key cannot be decrypted (was SESSION_SECRET changed?); "
            "enter the key again"
        ) from None
