"""Password hashing and policy. The suite runs with cheap argon2 parameters (conftest);
what production uses is checked here in a clean interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from argon2 import Type

from meterhub.security import passwords
from meterhub.security.passwords import PasswordPolicyError, check_policy

PROBE = """
import json
from meterhub.security import passwords
h = passwords._hasher
print(json.dumps({"params": passwords.parameters(), "type": h.type.name,
                  "hash": passwords.hash_password("correct horse battery")}))
"""


def test_production_hasher_is_argon2id_with_strong_parameters() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    probe = json.loads(out.stdout)
    time_cost, memory_kib, parallelism = probe["params"]
    assert probe["type"] == "ID"
    assert probe["hash"].startswith("$argon2id$")
    # OWASP's argon2id floor: 19 MiB with t=2, p=1 (the library default is 64 MiB, t=3).
    assert memory_kib >= 19 * 1024 and time_cost >= 2 and parallelism >= 1
    assert f"m={memory_kib},t={time_cost},p={parallelism}" in probe["hash"]


def test_the_suite_runs_with_the_cheap_hasher() -> None:
    """Guards the guard: if this fails, the fixture stopped swapping and tests are slow."""
    assert passwords.parameters() == (1, 1024, 1)
    assert passwords._hasher.type == Type.ID
    assert passwords.hash_password("whatever-123").startswith("$argon2id$")


def test_hash_and_verify() -> None:
    stored = passwords.hash_password("s3cret-pass")
    assert stored != passwords.hash_password("s3cret-pass")  # salted
    assert passwords.verify_password(stored, "s3cret-pass")
    assert not passwords.verify_password(stored, "s3cret-pasS")
    assert not passwords.verify_password(None, "s3cret-pass")  # unknown user: False, not crash
    assert not passwords.verify_password("not-a-hash", "s3cret-pass")
    assert not passwords.verify_password("", "")


def test_weaker_hashes_are_flagged_for_rehash() -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash("pw-pw-pw-pw")
    assert passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(passwords.hash_password("pw-pw-pw-pw"))


@pytest.mark.parametrize(
    ("password", "username", "reason"),
    [
        ("1234567", "alice", "at least 12"),
        ("", "alice", "at least 12"),
        ("alice-pass1", "alice", "at least 12"),  # 11 characters
        ("x" * 257, "alice", "at most 256"),
        ("alicealice12", "alicealice12", "username"),
        ("AliceAlice12", "alicealice12", "username"),
        (" alicealice12 ", "alicealice12", "username"),
        # common (in the list of leaked passwords) or predictable (zxcvbn's estimate)
        ("password1234", "alice", "common"),
        ("qwertyuiop12", "alice", "common"),
        ("baseball1234", "alice", "common or predictable"),
        ("aaaaaaaaaaaa", "alice", "common or predictable"),
        ("123456789012", "alice", "common"),
    ],
)
def test_policy_refuses(password: str, username: str, reason: str) -> None:
    with pytest.raises(PasswordPolicyError, match=reason):
        check_policy(password, username)


@pytest.mark.parametrize(
    "password", ["alice-pass-1234", "correct horse battery", "pässwörd-üwq-7", "k3-Vx9" * 40]
)
def test_policy_accepts(password: str) -> None:
    check_policy(password, "alice")
