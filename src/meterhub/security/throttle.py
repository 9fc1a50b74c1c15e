"""Login throttling, kept in the database so that it holds under concurrency and across
several web workers, plus a cap on concurrent password hashes.

Every attempt is written *before* the password is checked (a reservation) and counted with
the others: N concurrent guesses see each other, so no more than the limit pass. A success
deletes its reservation and the failures of that account from that network; a failure
stays until it leaves the window.

Keys (each with its own limit in the window):
- `pair`: account + client network. Tight (5): someone guessing one password from one place.
- `net`: the client network: an IPv4 address, or the /64 of an IPv6 address (one host
  owns a whole /64, so counting single IPv6 addresses would let it rotate freely). 30.
- `acct`: the account from anywhere (a botnet spreading guesses over many addresses). 50:
  high enough that one attacker address cannot lock the owner out (the pair and network
  limits stop it first), low enough to bound a distributed guess rate.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from meterhub.db.models import LoginAttempt
from meterhub.db.types import utcnow
from meterhub.errors import Throttled

WINDOW_S = 15 * 60
MAX_FAILURES_PER_ACCOUNT_IP = 5
MAX_FAILURES_PER_IP = 30
MAX_FAILURES_PER_ACCOUNT = 50
# argon2id with the default parameters holds 64 MiB while it runs: at most this many at once
# (256 MiB), the rest wait briefly and then get 429 instead of exhausting memory.
MAX_CONCURRENT_HASHES = 4
HASH_WAIT_S = 5.0


def network(ip: str) -> str:
    """The throttled unit of a client address: the IPv4 address, or the IPv6 /64."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


@dataclass
class Reservation:
    """An attempt in progress (its rows in login_attempts)."""

    ids: list[int]
    pair_key: str


@dataclass
class LoginThrottle:
    """Failure counters in the `login_attempts` table."""

    sessions: sessionmaker[Session]
    window_s: float = WINDOW_S
    per_account_ip: int = MAX_FAILURES_PER_ACCOUNT_IP
    per_ip: int = MAX_FAILURES_PER_IP
    per_account: int = MAX_FAILURES_PER_ACCOUNT
    clock: Callable[[], datetime] = utcnow

    def keys(self, username: str, ip: str) -> dict[str, int]:
        """The throttle keys of an attempt and their limits."""
        name, net = username.strip().lower()[:64], network(ip)
        return {
            f"pair:{name}|{net}"[:96]: self.per_account_ip,
            f"net:{net}": self.per_ip,
            f"acct:{name}": self.per_account,
        }

    def begin(self, username: str, ip: str) -> Reservation:
        """Reserve an attempt, or raise Throttled (429) with the seconds to wait."""
        limits = self.keys(username, ip)
        now = self.clock()
        since = now - timedelta(seconds=self.window_s)
        with self.sessions() as db:
            rows = [LoginAttempt(key=key, ts=now) for key in limits]
            db.add_all(rows)
            db.commit()
            ids = [row.id for row in rows]
            counts = dict(
                db.execute(
                    select(LoginAttempt.key, func.count())
                    .where(LoginAttempt.key.in_(limits), LoginAttempt.ts > since)
                    .group_by(LoginAttempt.key)
                ).all()
            )
            over = [key for key, limit in limits.items() if counts.get(key, 0) > limit]
            if not over:
                return Reservation(ids=ids, pair_key=next(iter(limits)))
            # Refused attempts do not count: they were never checked.
            db.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(ids)))
            db.commit()
            wait = max(self._wait(db, key, limits[key], since) for key in over)
        raise Throttled(f"too many failed logins; try again in {wait} s", retry_after=wait)

    def succeeded(self, reservation: Reservation) -> None:
        """The password was right: forget this attempt and this account's failures from
        this network."""
        with self.sessions() as db:
            db.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(reservation.ids)))
            db.execute(delete(LoginAttempt).where(LoginAttempt.key == reservation.pair_key))
            db.commit()

    def cancel(self, reservation: Reservation) -> None:
        """The attempt was never checked (the server was busy): it does not count."""
        with self.sessions() as db:
            db.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(reservation.ids)))
            db.commit()

    def forget_expired(self) -> int:
        """Delete rows that left the window (the maintenance task calls this)."""
        since = self.clock() - timedelta(seconds=self.window_s)
        with self.sessions() as db:
            result = db.execute(delete(LoginAttempt).where(LoginAttempt.ts <= since))
            db.commit()
            return int(getattr(result, "rowcount", 0) or 0)

    def _wait(self, db: Session, key: str, limit: int, since: datetime) -> int:
        # When the limit-th newest failure leaves the window, the key is under its limit.
        oldest_that_matters = db.scalar(
            select(LoginAttempt.ts)
            .where(LoginAttempt.key == key, LoginAttempt.ts > since)
            .order_by(LoginAttempt.ts.desc())
            .offset(limit - 1)
            .limit(1)
        )
        if oldest_that_matters is None:
            return 1
        return max(1, int((oldest_that_matters - since).total_seconds()) + 1)


@dataclass
class HashSlots:
    """A cap on concurrent password hashes in this process (memory, not CPU, is the limit)."""

    size: int = MAX_CONCURRENT_HASHES
    wait_s: float = HASH_WAIT_S
    _slots: threading.BoundedSemaphore = field(init=False)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.size)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot while hashing; 429 when none frees up within `wait_s`."""
        if not self._slots.acquire(timeout=self.wait_s):
            raise Throttled("the server is busy checking other logins; try again", retry_after=2)
        try:
            yield
        finally:
            self._slots.release()


hash_slots = HashSlots()
