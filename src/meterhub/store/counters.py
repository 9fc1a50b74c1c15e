"""Ingest counters (``ingest_counters``, shown on /metrics): added to in each transaction."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from meterhub.db import dialect
from meterhub.protocol.rejects import Reject
from meterhub.store.batch import Batch, WriteResult
from meterhub.store.tables import COUNTERS


def count(conn: Connection, batch: Batch, result: WriteResult, rejects: list[Reject]) -> None:
    """Add what this batch did to the counters, in its own transaction."""
    counts = {
        "batches": 1,
        "readings_stored": result.stored,
        "readings_duplicate": result.duplicates,
        "readings_late": result.late,
        "device_events": result.events,
        "status_messages": len(batch.statuses),
        "command_acks": len(batch.acks),
    }
    for reject in rejects:
        key = f"rejects_{reject.reason}"
        counts[key] = counts.get(key, 0) + 1
    dialect.upsert_adding(
        conn,
        COUNTERS,
        ("name", "value"),
        [(k, v) for k, v in sorted(counts.items()) if v],
        ("name",),
        ("value",),
    )
