"""Devices as ingest sees them: the state it keeps between batches (cached, applied
after commit), new topic ids becoming pending devices (bounded), and the reading interval
a device really keeps. Which device a message belongs to is :mod:`~meterhub.store.binding`'s."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from meterhub.db import dialect
from meterhub.db.models import DEVICE_PENDING
from meterhub.db.types import utcnow
from meterhub.store.batch import WriteResult
from meterhub.store.tables import DEVICES, READINGS, event

log = logging.getLogger(__name__)

MAX_PENDING_DEVICES: Final = 200
"""Unknown topic ids beyond this many pending devices are refused (dead letters), not kept."""
DEFAULT_INTERVAL_S: Final = 10
"""A new device's reading interval until it says or shows otherwise."""
GAPS_TO_LEARN: Final = 5
"""Consecutive longer (or shorter) gaps before the learned interval follows them."""
SHORTER_GAP: Final = 0.75
LONGER_GAP: Final = 1.5
"""A gap below SHORTER_GAP or above LONGER_GAP times the interval is off the interval."""
MAX_INTERVAL_S: Final = 86_400
"""Gaps longer than a day are outages, not an interval."""


@dataclass(slots=True)
class DeviceState:
    """What the writer remembers of a device between batches."""

    id: int
    status: str
    online: bool
    interval_s: int
    last_ts: int | None = None  # epoch ms of the newest stored reading
    last_energy: float | None = None
    last_seq: int | None = None
    firmware: str | None = None
    ip_address: str | None = None
    meta_written: float = 0.0  # monotonic time of the last devices-row update
    slow_gaps: list[float] = field(default_factory=list)  # recent gaps off the interval
    interval_changed: bool = False


class DeviceStates:
    """Cached device states (serial -> DeviceState), across batches.

    :meth:`stage` hands out the states a transaction works on (mutated in place);
    :meth:`commit` keeps them once the transaction committed; :meth:`forget` drops
    everything when one failed (its effects on the cache are unknown).
    """

    def __init__(self) -> None:
        self.cache: dict[str, DeviceState] = {}

    def stage(
        self,
        conn: Connection,
        serials: set[str],
        result: WriteResult,
        events: list[dict[str, Any]],
        origins: dict[str, tuple[str, str]] | None = None,
    ) -> tuple[dict[str, DeviceState], set[str]]:
        """The states of ``serials`` (new ones become pending devices, with the protocol
        and topic id ``origins`` gives them) and the serials refused because too many
        devices are pending already."""
        self._load(conn, [x for x in serials if x not in self.cache])
        staged: dict[str, DeviceState] = {}
        refused: set[str] = set()
        for serial in sorted(serials):  # one order in every writer: no deadlocks
            state = self._state(conn, serial, result, events, (origins or {}).get(serial))
            if state is None:
                refused.add(serial)
            else:
                staged[serial] = state
        return staged, refused

    def commit(self, staged: dict[str, DeviceState]) -> None:
        """After commit: keep the staged states."""
        self.cache.update(staged)

    def forget(self) -> None:
        """Drop cached state (after a failed transaction whose effects are unknown)."""
        self.cache.clear()

    def _load(self, conn: Connection, serials: list[str]) -> None:
        """Cache the states of the known devices among `serials` with two queries (not
        two per device: after a restart every device is new to the cache at once)."""
        for start in range(0, len(serials), 500):
            chunk = serials[start : start + 500]
            found = {
                row.id: row
                for row in conn.execute(
                    select(
                        DEVICES.c.id,
                        DEVICES.c.serial_number,
                        DEVICES.c.status,
                        DEVICES.c.online,
                        DEVICES.c.reading_interval_s,
                        DEVICES.c.firmware_version,
                        DEVICES.c.ip_address,
                    ).where(DEVICES.c.serial_number.in_(chunk))
                )
            }
            if not found:
                continue
            newest = (
                select(func.max(READINGS.c.ts))
                .where(READINGS.c.device_id == DEVICES.c.id)
                .correlate(DEVICES)
                .scalar_subquery()
            )
            latest = (
                select(DEVICES.c.id, newest.label("ts"))
                .where(DEVICES.c.id.in_(list(found)))
                .subquery()
            )
            last = {
                row.device_id: row
                for row in conn.execute(
                    select(
                        READINGS.c.device_id, READINGS.c.ts, READINGS.c.energy, READINGS.c.seq
                    ).join(
                        latest,
                        (READINGS.c.device_id == latest.c.id) & (READINGS.c.ts == latest.c.ts),
                    )
                )
            }
            for device_id, row in found.items():
                state = DeviceState(
                    id=device_id,
                    status=row.status,
                    online=row.online,
                    interval_s=row.reading_interval_s,
                    firmware=row.firmware_version,
                    ip_address=row.ip_address,
                )
                reading = last.get(device_id)
                if reading is not None:
                    state.last_ts, state.last_energy = reading.ts, reading.energy
                    state.last_seq = reading.seq
                self.cache[row.serial_number] = state

    def _state(
        self,
        conn: Connection,
        serial: str,
        result: WriteResult,
        events: list[dict[str, Any]],
        origin: tuple[str, str] | None,
    ) -> DeviceState | None:
        """The device's state (cached, see `_load`); a new serial becomes a pending
        device, unless too many are pending already (None: its data is refused, as a
        dead letter)."""
        cached = self.cache.get(serial)
        if cached is not None:
            return cached  # mutated in place: write() forgets all state if it fails
        pending = (
            conn.execute(
                select(func.count()).select_from(DEVICES).where(DEVICES.c.status == DEVICE_PENDING)
            ).scalar()
            or 0
        )
        if pending >= MAX_PENDING_DEVICES:
            return None
        now = utcnow()
        protocol, topic_id = origin or ("meterhub", None)
        values = {
            "serial_number": serial,
            "protocol": protocol,
            "topic_id": topic_id,
            "status": DEVICE_PENDING,
            "online": False,
            "reading_interval_s": DEFAULT_INTERVAL_S,
            "created_at": now,
            "updated_at": now,
        }
        device_id = dialect.insert_unless_exists(conn, DEVICES, values, "id")
        if device_id is None:  # another ingest worker created it first
            self._load(conn, [serial])
            existing = self.cache.get(serial)
            if existing is None:
                raise LookupError(f"device {serial!r} collides with another device's topic id")
            return existing
        result.new_devices.append(serial)
        events.append(event(device_id, "pending", {"reason": "unknown topic id published"}))
        log.info("new device %s is pending approval", serial)
        return DeviceState(
            id=device_id,
            status=DEVICE_PENDING,
            online=False,
            interval_s=DEFAULT_INTERVAL_S,
        )


def learn_interval(state: DeviceState, stamps_ms: list[int]) -> None:
    """Follow the device's real reading interval (the original firmware does not report it),
    so that "offline after three silent intervals" fits slow devices too. It changes only
    after several consecutive gaps all longer (or all shorter) than it: a missed reading
    or a quick retry is not a new interval."""
    state.interval_changed = False
    last = state.last_ts
    for ts in stamps_ms:
        if last is not None:
            gap = (ts - last) / 1000
            shorter = 1 <= gap < state.interval_s * SHORTER_GAP
            longer = state.interval_s * LONGER_GAP < gap <= MAX_INTERVAL_S
            if shorter or longer:
                if state.slow_gaps and (state.slow_gaps[-1] < state.interval_s) != shorter:
                    state.slow_gaps.clear()  # the other direction: start counting again
                state.slow_gaps.append(gap)
                if len(state.slow_gaps) >= GAPS_TO_LEARN:
                    state.interval_s = max(
                        1, round(min(state.slow_gaps) if longer else max(state.slow_gaps))
                    )
                    state.interval_changed = True
                    state.slow_gaps.clear()
            else:
                state.slow_gaps.clear()
        last = ts
