"""LoginThrottle in the database (both kinds), on a fake clock: windows, keys, IPv6 /64,
and concurrency (reservations count each other before any password is checked)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from meterhub.errors import Throttled
from meterhub.security.throttle import HashSlots, LoginThrottle, network


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make(ctx: Any, pair: int = 3, net: int = 5, acct: int = 8) -> tuple[LoginThrottle, Clock]:
    clock = Clock()
    return LoginThrottle(
        ctx.sessions, window_s=60, per_account_ip=pair, per_ip=net, per_account=acct, clock=clock
    ), clock


def fail(t: LoginThrottle, name: str, ip: str, times: int = 1) -> None:
    for _ in range(times):
        t.begin(name, ip)  # a reservation never resolved is a failure


def test_account_limit_is_per_network(ctx: Any) -> None:
    t, _ = make(ctx)
    fail(t, "alice", "192.0.2.1", 3)
    with pytest.raises(Throttled) as refused:
        t.begin("ALICE", "192.0.2.1")  # names compare case-insensitively
    assert refused.value.retry_after > 0
    t.begin("alice", "192.0.2.2")  # the owner elsewhere is not locked out
    t.begin("bob", "192.0.2.1")


def test_window_slides(ctx: Any) -> None:
    t, clock = make(ctx)
    fail(t, "alice", "192.0.2.1", 3)
    with pytest.raises(Throttled):
        t.begin("alice", "192.0.2.1")
    clock.now += timedelta(seconds=61)
    t.begin("alice", "192.0.2.1")
    assert t.forget_expired() >= 3


def test_account_limit_across_addresses(ctx: Any) -> None:
    """A botnet spreading guesses over many addresses still meets the account limit."""
    t, _ = make(ctx)
    for i in range(8):
        t.begin("alice", f"198.51.100.{i}")
    with pytest.raises(Throttled):
        t.begin("alice", "198.51.100.200")


def test_ipv6_counts_per_64(ctx: Any) -> None:
    assert network("2001:db8:1:2:aaaa::1") == network("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert network("::ffff:192.0.2.7") == "192.0.2.7"
    t, _ = make(ctx)
    for i in range(5):  # a different address of the same /64 each time, and other names
        t.begin(f"user{i}", f"2001:db8:1:2::{i + 1}")
    with pytest.raises(Throttled):
        t.begin("alice", "2001:db8:1:2::99")
    t.begin("alice", "2001:db8:1:3::1")  # the next /64 is someone else


def test_success_forgets_that_pair(ctx: Any) -> None:
    t, _ = make(ctx)
    fail(t, "alice", "192.0.2.1", 2)
    t.succeeded(t.begin("alice", "192.0.2.1"))
    fail(t, "alice", "192.0.2.1", 2)
    t.begin("alice", "192.0.2.1")  # 3rd failure since the success: still allowed


def test_concurrent_attempts_never_exceed_the_limit(ctx: Any) -> None:
    """Today's in-memory check-then-count let all concurrent guesses through."""
    t, _ = make(ctx, pair=5, net=100, acct=100)
    passed: list[int] = []
    barrier = threading.Barrier(16)

    def guess() -> None:
        barrier.wait()
        try:
            t.begin("alice", "192.0.2.1")
            passed.append(1)
        except Throttled:
            pass

    threads = [threading.Thread(target=guess) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(passed) <= 5  # (all may be refused when every reservation lands first)


def test_hash_slots_refuse_beyond_the_cap() -> None:
    slots = HashSlots(size=2, wait_s=0.05)
    with slots.slot(), slots.slot(), pytest.raises(Throttled), slots.slot():
        pass
    with slots.slot():  # freed again
        pass
