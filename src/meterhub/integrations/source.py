"""What the integrations read from the database: committed readings only, so whatever
they send is what meterhub stored (nothing ingest later refuses or rolls back).

All queries use the readings primary key (device_id, ts), so each is an index range scan
however large the table grows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from meterhub.db.models import DEVICE_ACTIVE, Device, Reading, Rollup1d
from meterhub.integrations.ha_discovery import Snapshot


@dataclass(frozen=True)
class ActiveDevice:
    """The fields of an active device the integrations need."""

    id: int
    serial: str
    name: str | None
    location: str | None
    firmware: str | None
    online: bool


def active_devices(conn: Connection) -> list[ActiveDevice]:
    """Every active (approved) device, by serial."""
    rows = conn.execute(
        select(
            Device.id,
            Device.serial_number,
            Device.name,
            Device.location,
            Device.firmware_version,
            Device.online,
        )
        .where(Device.status == DEVICE_ACTIVE)
        .order_by(Device.serial_number)
    )
    return [ActiveDevice(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]


def latest_snapshot(
    conn: Connection, device_id: int, newer_than_ms: int | None = None
) -> Snapshot | None:
    """The device's newest reading with its lifetime energy total; None without a
    reading, or when the newest is not newer than `newer_than_ms` (then the total, the
    dearer query, is not read).

    The total is the sum of the daily rollups' counted consumption (whole Wh, written by
    ingest in the same transaction as the readings), so it survives raw-data retention
    and never drops when the meter's own counter restarts, resets or wraps."""
    row = conn.execute(
        select(
            Reading.ts,
            Reading.voltage,
            Reading.current,
            Reading.power,
            Reading.energy,
            Reading.frequency,
            Reading.pf,
        )
        .where(Reading.device_id == device_id)
        .order_by(Reading.ts.desc())
        .limit(1)
    ).first()
    if row is None or (newer_than_ms is not None and row[0] <= newer_than_ms):
        return None
    total_wh = conn.scalar(
        select(func.coalesce(func.sum(Rollup1d.energy_wh), 0)).where(
            Rollup1d.device_id == device_id
        )
    )
    return Snapshot(
        ts_ms=int(row[0]),
        voltage=row[1],
        current=row[2],
        power=row[3],
        counter_kwh=row[4],
        frequency=row[5],
        pf=row[6],
        energy_total_kwh=int(total_wh or 0) / 1000,
    )


@dataclass(frozen=True)
class StoredReading:
    """One stored reading, as forwarded to other systems."""

    ts_ms: int
    voltage: float
    current: float
    power: float
    energy: float
    frequency: float | None
    pf: float | None


def readings_after(
    conn: Connection, device_id: int, after_ts_ms: int, limit: int
) -> list[StoredReading]:
    """Up to `limit` readings of the device newer than `after_ts_ms`, oldest first."""
    rows = conn.execute(
        select(
            Reading.ts,
            Reading.voltage,
            Reading.current,
            Reading.power,
            Reading.energy,
            Reading.frequency,
            Reading.pf,
        )
        .where(Reading.device_id == device_id, Reading.ts > after_ts_ms)
        .order_by(Reading.ts)
        .limit(limit)
    )
    return [StoredReading(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
