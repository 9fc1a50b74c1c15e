"""Secrets and keyed hashes."""

from __future__ import annotations

from meterhub.security.tokens import keyed_hash, new_api_token, new_secret, same


def test_secrets_are_random_and_long() -> None:
    values = {new_secret() for _ in range(100)}
    assert len(values) == 100 and min(len(v) for v in values) >= 43
    token = new_api_token()
    assert token.startswith("mh_") and len(token) >= 46


def test_keyed_hash_depends_on_the_key() -> None:
    assert keyed_hash("k1", "v") == keyed_hash("k1", "v")
    assert keyed_hash("k1", "v") != keyed_hash("k2", "v")
    assert len(keyed_hash("k", "secret-value")) == 64
    assert "secret-value" not in keyed_hash("k", "secret-value")


def test_same() -> None:
    assert same("abc", "abc") and not same("abc", "abd") and not same("abc", "")
