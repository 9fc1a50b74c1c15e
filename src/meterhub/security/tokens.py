"""Random secrets and their keyed hashes (session ids, CSRF tokens, API tokens)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_TOKEN_PREFIX = "mh_"  # noqa: S105 - a prefix, not a secret


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random string with `nbytes` of entropy."""
    return secrets.token_urlsafe(nbytes)


def keyed_hash(key: str, value: str) -> str:
    """HMAC-SHA256 of `value` under `key`, hex: what we store instead of the secret itself."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def new_api_token() -> str:
    """A new API token, recognisable by its prefix in logs and secret scanners."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def same(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a.encode(), b.encode())
