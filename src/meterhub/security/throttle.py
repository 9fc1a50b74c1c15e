"""Login throttling.

Failures are counted per (account, client IP) and per client IP, in a sliding window.
Keying the account limit by IP too means an attacker can only lock out *their own*
address: the real owner, elsewhere, still logs in. A success clears the pair's count.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_S = 15 * 60
MAX_FAILURES_PER_ACCOUNT_IP = 5
MAX_FAILURES_PER_IP = 30
MAX_TRACKED_KEYS = 100_000  # bound memory under a spray of random names


@dataclass
class LoginThrottle:
    """In-memory failure counters; one per process (the web server is one process)."""

    window_s: float = WINDOW_S
    per_account_ip: int = MAX_FAILURES_PER_ACCOUNT_IP
    per_ip: int = MAX_FAILURES_PER_IP
    clock: Callable[[], float] = time.monotonic
    _failures: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, username: str, ip: str) -> int:
        """Seconds the client must wait before trying again; 0 when it may try now."""
        now = self.clock()
        with self._lock:
            waits = [
                self._wait(("acct", f"{username.lower()}|{ip}"), self.per_account_ip, now),
                self._wait(("ip", ip), self.per_ip, now),
            ]
        return max(waits)

    def failed(self, username: str, ip: str) -> None:
        """Record a failed attempt."""
        now = self.clock()
        with self._lock:
            if len(self._failures) > MAX_TRACKED_KEYS:
                self._prune(now)
            for key in (("acct", f"{username.lower()}|{ip}"), ("ip", ip)):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str, ip: str) -> None:
        """Forget the failures of this account from this address."""
        with self._lock:
            self._failures.pop(("acct", f"{username.lower()}|{ip}"), None)

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) < limit:
            return 0
        return max(1, int(times[-limit] + self.window_s - now) + 1)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._failures.items() if not v or v[-1] <= now - self.window_s]:
            del self._failures[key]
