"""Second factor: TOTP (RFC 6238, what authenticator apps speak) and recovery codes."""

from __future__ import annotations

import io
import secrets

import pyotp
import segno

from meterhub.security.tokens import keyed_hash, same

ISSUER = "meterhub"
RECOVERY_CODES = 10
VALID_WINDOW = 1  # accept the previous and next 30-second step (clock drift)


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app imports (usually as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as a standalone SVG document (black on white, quiet zone)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", xmldecl=False, scale=4, border=4, dark="#000", light="#fff"
    )
    return out.getvalue().decode()


def verify_code(secret: str, code: str) -> bool:
    """True when `code` is the current 6-digit code (one step of drift either way)."""
    digits = code.replace(" ", "")
    return digits.isdigit() and pyotp.TOTP(secret).verify(digits, valid_window=VALID_WINDOW)


def new_recovery_codes(key: str) -> tuple[list[str], list[str]]:
    """(codes to show once, their keyed hashes to store). Codes are random, 50 bits each,
    so a keyed SHA-256 is as good as a slow hash and costs no argon2 memory at login."""
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(3)}"[:13] for _ in range(RECOVERY_CODES)]
    return codes, [keyed_hash(key, c) for c in codes]


def use_recovery_code(key: str, stored: list[str], code: str) -> list[str] | None:
    """The stored hashes minus the one `code` matches, or None when it matches none."""
    digest = keyed_hash(key, code.strip().lower())
    for i, candidate in enumerate(stored):
        if same(candidate, digest):
            return stored[:i] + stored[i + 1 :]
    return None
