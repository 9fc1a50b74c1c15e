"""The tables ingest writes, as SQLAlchemy Core handles, and the limits of the write side.

Core, not the ORM: one batch is thousands of rows, written with bulk statements.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Table

from meterhub.db.models import (
    Device,
    DeviceCommand,
    DeviceEvent,
    IngestCounter,
    IngestReject,
    Rollup1d,
    Rollup1h,
    Rollup15m,
)
from meterhub.db.models import Reading as ReadingRow
from meterhub.db.types import utcnow
from meterhub.telemetry.rollup import DAY_S, HOUR_S

READINGS: Table = ReadingRow.__table__  # type: ignore[assignment]
ROLLUPS: Table = Rollup15m.__table__  # type: ignore[assignment]
DEVICES: Table = Device.__table__  # type: ignore[assignment]
EVENTS: Table = DeviceEvent.__table__  # type: ignore[assignment]
REJECTS: Table = IngestReject.__table__  # type: ignore[assignment]
COMMANDS: Table = DeviceCommand.__table__  # type: ignore[assignment]
COUNTERS: Table = IngestCounter.__table__  # type: ignore[assignment]
COARSE: dict[int, Table] = {
    HOUR_S: Rollup1h.__table__,  # type: ignore[dict-item]
    DAY_S: Rollup1d.__table__,  # type: ignore[dict-item]
}
"""The coarser rollups by bucket width in seconds (hourly, daily)."""
KEYS: Final = ("device_id", "bucket")
"""Primary key of every rollup table."""

CHUNK: Final = 500
"""Most values in one ``IN (...)`` list (SQLite allows 999 bound parameters at most)."""
DEVICE_META_EVERY_S: Final = 5.0
"""Write a device's last_seen/last_power at most this often (a reading every second would
otherwise rewrite its devices row every second)."""


def event(device_id: int, kind: str, detail: dict[str, Any]) -> dict[str, Any]:
    """A ``device_events`` row."""
    return {"device_id": device_id, "ts": utcnow(), "kind": kind, "detail": detail}
