"""Login throttling over HTTP: 429 with Retry-After, keyed so an attacker locks out only
their own address. Client addresses are labels (TestClient's `client=`)."""

from __future__ import annotations

from typing import Any

from meterhub.security.throttle import MAX_FAILURES_PER_ACCOUNT_IP, MAX_FAILURES_PER_IP

ATTACKER, OWNER = "192.0.2.66", "192.0.2.10"  # documentation addresses (RFC 5737)


def attempt(client: Any, username: str, password: str) -> Any:
    return client.post("/api/auth/login", json={"username": username, "password": password})


def test_failures_lock_the_account_for_that_address_only(raw_client: Any, add_user: Any) -> None:
    add_user("alice")
    attacker, owner = raw_client(ip=ATTACKER), raw_client(ip=OWNER)
    for _ in range(MAX_FAILURES_PER_ACCOUNT_IP):
        assert attempt(attacker, "alice", "guess-guess").status_code == 401
    locked = attempt(attacker, "alice", "alice-pass-1234")  # even the right password
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "try again" in locked.json()["error"]

    assert attempt(owner, "alice", "alice-pass-1234").status_code == 200  # owner unaffected
    add_user("bob")
    assert attempt(attacker, "bob", "bob-pass-1234").status_code == 200  # other accounts too


def test_unknown_accounts_are_throttled_alike(raw_client: Any) -> None:
    attacker = raw_client(ip=ATTACKER)
    for _ in range(MAX_FAILURES_PER_ACCOUNT_IP):
        attempt(attacker, "nobody", "guess-guess")
    res = attempt(attacker, "nobody", "guess-guess")
    assert res.status_code == 429 and "Retry-After" in res.headers


def test_spraying_many_accounts_locks_the_address(raw_client: Any, add_user: Any) -> None:
    add_user("alice")
    attacker = raw_client(ip=ATTACKER)
    for i in range(MAX_FAILURES_PER_IP):
        assert attempt(attacker, f"user{i}", "guess-guess").status_code == 401
    assert attempt(attacker, "alice", "alice-pass-1234").status_code == 429
    assert attempt(raw_client(ip=OWNER), "alice", "alice-pass-1234").status_code == 200


def test_success_clears_the_pair(raw_client: Any, add_user: Any) -> None:
    add_user("alice")
    client = raw_client(ip=OWNER)
    for _ in range(MAX_FAILURES_PER_ACCOUNT_IP - 1):
        attempt(client, "alice", "typo-typo")
    assert attempt(client, "alice", "alice-pass-1234").status_code == 200
    for _ in range(MAX_FAILURES_PER_ACCOUNT_IP - 1):
        assert attempt(client, "ALICE", "typo-typo").status_code == 401
    assert attempt(client, "alice", "alice-pass-1234").status_code == 200
