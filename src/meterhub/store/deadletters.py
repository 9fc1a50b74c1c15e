"""Dead letters: rejects are kept (newest MAX_REJECTS) for the admin page and /metrics."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Final

import orjson
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from meterhub.db.types import utcnow
from meterhub.protocol.readings import Reading
from meterhub.protocol.rejects import Reject
from meterhub.protocol.rules import raw_text
from meterhub.protocol.status import StatusUpdate
from meterhub.store import devices
from meterhub.store.tables import REJECTS

MAX_REJECTS: Final = 10_000
"""The dead-letter table keeps the newest this many."""


def write_rejects(conn: Connection, rejects: list[Reject]) -> None:
    """Insert the rejects and drop the oldest beyond MAX_REJECTS."""
    if not rejects:
        return
    conn.execute(
        insert(REJECTS),
        [
            {
                "ts": datetime.fromtimestamp(r.received_at, UTC) if r.received_at else utcnow(),
                "topic": r.topic[:256],
                "serial": r.serial,
                "reason": r.reason,
                "detail": r.detail[:512],
                "payload": r.raw,
            }
            for r in rejects
        ],
    )
    newest = conn.execute(select(func.max(REJECTS.c.id))).scalar() or 0
    if newest > MAX_REJECTS:
        conn.execute(REJECTS.delete().where(REJECTS.c.id <= newest - MAX_REJECTS))


def refused(
    serials: set[str], readings: list[Reading], statuses: list[StatusUpdate]
) -> list[Reject]:
    """One dead letter per refused unknown serial (not one per reading: bounded)."""
    out = []
    for serial in sorted(serials):
        mine = [r for r in readings if r.serial == serial]
        first = mine[0] if mine else None
        raw = raw_text(
            orjson.dumps(
                {
                    "serial_number": serial,
                    "readings": len(mine),
                    "statuses": sum(1 for st in statuses if st.serial == serial),
                    "first_ts": first.ts if first else None,
                    "first": first,  # the data itself, not only that it came
                }
            )
        )
        out.append(
            Reject(
                reason="too_many_pending",
                detail=f"data from unknown serial {serial} refused ({len(mine)} reading(s)): "
                f"{devices.MAX_PENDING_DEVICES} devices already wait for approval; approve or "
                "delete pending devices",
                topic=f"meter/{serial}/{'data' if mine else 'status'}",
                raw=raw,
                received_at=time.time(),
                serial=serial,
            )
        )
    return out
