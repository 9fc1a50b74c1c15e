"""Online and offline: status messages and the sweep for devices that went silent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from meterhub.db.types import utcnow
from meterhub.protocol.rules import OFFLINE_AFTER_INTERVALS
from meterhub.protocol.status import StatusUpdate
from meterhub.store.devices import MAX_INTERVAL_S, DeviceState
from meterhub.store.tables import DEVICE_META_EVERY_S, DEVICES, event


def write_statuses(
    conn: Connection,
    statuses: list[StatusUpdate],
    states: dict[str, DeviceState],
    events: list[dict[str, Any]],
) -> None:
    """Apply status messages to the devices rows; a change of online is an event."""
    for status in statuses:
        if status.serial is None:
            continue
        state = states[status.serial]
        values: dict[str, Any] = {"online": status.online}
        for key in ("firmware_version", "ip_address", "free_mem"):
            if getattr(status, key) is not None:
                values[key] = getattr(status, key)
        if status.rssi is not None:
            values["rssi"] = int(status.rssi)
        if status.uptime_s is not None:
            values["uptime_s"] = int(status.uptime_s)
        interval = status.extra.get("interval_s") or status.extra.get("reading_interval")
        if type(interval) is int and 1 <= interval <= MAX_INTERVAL_S:
            values["reading_interval_s"] = state.interval_s = interval
        if status.online:
            values["last_seen"] = utcnow()
        conn.execute(update(DEVICES).where(DEVICES.c.id == state.id).values(**values))
        if status.online != state.online:
            events.append(
                event(
                    state.id,
                    "online" if status.online else "offline",
                    {"reason": "status message", "state": status.state},
                )
            )
        state.online = status.online


def sweep_silent(
    conn: Connection, events: list[dict[str, Any]], cache: dict[str, DeviceState]
) -> None:
    """Mark devices offline that stayed silent for OFFLINE_AFTER_INTERVALS intervals."""
    now = utcnow()
    silent = conn.execute(
        select(
            DEVICES.c.id,
            DEVICES.c.serial_number,
            DEVICES.c.last_seen,
            DEVICES.c.reading_interval_s,
        ).where(DEVICES.c.online.is_(True))
    ).all()
    for row in silent:
        limit = OFFLINE_AFTER_INTERVALS * row.reading_interval_s + DEVICE_META_EVERY_S
        if row.last_seen is None or (now - row.last_seen).total_seconds() > limit:
            marked = conn.execute(
                update(DEVICES)
                .where(
                    DEVICES.c.id == row.id,
                    DEVICES.c.online.is_(True),
                    DEVICES.c.last_seen.is_not_distinct_from(row.last_seen),
                )
                .values(online=False)
            )
            if not marked.rowcount:
                continue  # another ingest worker marked it (or it spoke) meanwhile
            events.append(event(row.id, "offline", {"reason": "silent", "limit_s": limit}))
            cached = cache.get(row.serial_number)
            if cached is not None:
                cached.online = False
