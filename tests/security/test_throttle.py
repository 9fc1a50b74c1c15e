"""LoginThrottle on a fake clock: windows, keys, and the bound on memory."""

from __future__ import annotations

import pytest

from meterhub.security import throttle
from meterhub.security.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    per_account_ip: int = 3, per_ip: int = 5, window_s: float = 60
) -> tuple[LoginThrottle, Clock]:
    clock = Clock()
    return LoginThrottle(
        window_s=window_s, per_account_ip=per_account_ip, per_ip=per_ip, clock=clock
    ), clock


def test_account_limit_is_per_address() -> None:
    t, _ = make()
    for _ in range(3):
        assert t.retry_after("alice", "a") == 0
        t.failed("alice", "a")
    assert t.retry_after("alice", "a") > 0
    assert t.retry_after("ALICE", "a") > 0  # names compare case-insensitively
    assert t.retry_after("alice", "b") == 0
    assert t.retry_after("bob", "a") == 0


def test_window_slides() -> None:
    t, clock = make()
    for _ in range(3):
        t.failed("alice", "a")
        clock.now += 10
    wait = t.retry_after("alice", "a")
    assert 0 < wait <= 60 - 20  # the oldest failure was 30 s ago, window 60 s
    clock.now += wait
    assert t.retry_after("alice", "a") == 0


def test_address_limit_across_accounts() -> None:
    t, _ = make(per_account_ip=100, per_ip=5)
    for i in range(5):
        t.failed(f"user{i}", "a")
    assert t.retry_after("someone-else", "a") > 0
    assert t.retry_after("someone-else", "b") == 0


def test_success_forgets_only_that_pair() -> None:
    t, _ = make(per_account_ip=3, per_ip=4)
    for _ in range(3):
        t.failed("alice", "a")
    t.succeeded("alice", "a")
    assert t.retry_after("alice", "a") == 0
    t.failed("bob", "a")
    assert t.retry_after("carol", "a") > 0  # the address keeps its 4 failures


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "MAX_TRACKED_KEYS", 50)
    t, clock = make(window_s=10)
    for i in range(200):  # a spray of fresh names and addresses, one per second
        t.failed(f"user{i}", f"192.0.2.{i}")
        clock.now += 1
    assert len(t._failures) <= 50 + 2 * 10 + 2
