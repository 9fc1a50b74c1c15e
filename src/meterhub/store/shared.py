"""Several writers on one PostgreSQL database (``meterhub ingest --shared``): a batch
locks its devices, then takes their state from the database, not from this process's
cache, which another worker may have outdated.

Under the locks (``dialect.lock_devices``, ascending device ids, held to commit) no other
writer changes these devices' readings, rollups or rows, so what the batch reads is what
it builds on: readings newer than the newest stored one are folded in incrementally, and
older ones (another worker stored later readings first) take the late path, which
recomputes their buckets from raw rows and fills the seq gaps they close. The result is
what one writer would have stored, whichever worker got which message.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from meterhub.db import dialect
from meterhub.store.devices import DeviceState
from meterhub.store.tables import CHUNK

_STATE = text(
    "SELECT d.id, d.status, d.online, r.ts, r.energy, r.seq FROM devices d "
    "LEFT JOIN LATERAL (SELECT ts, energy, seq FROM readings WHERE device_id = d.id "
    "ORDER BY ts DESC LIMIT 1) r ON true WHERE d.id = ANY(:ids)"
)


def lock_and_refresh(conn: Connection, staged: dict[str, DeviceState]) -> None:
    """Lock the staged devices for this transaction and set their status, online flag
    and newest stored reading from the database (in place)."""
    by_id = {state.id: state for state in staged.values()}
    if not by_id:
        return
    ids = sorted(by_id)
    dialect.lock_devices(conn, ids)
    if conn.dialect.name != "postgresql":
        return  # one writer: the cache is the truth
    for start in range(0, len(ids), CHUNK):
        for row in conn.execute(_STATE, {"ids": ids[start : start + CHUNK]}):
            state = by_id[row.id]
            state.status, state.online = row.status, row.online
            state.last_ts, state.last_energy, state.last_seq = row.ts, row.energy, row.seq
