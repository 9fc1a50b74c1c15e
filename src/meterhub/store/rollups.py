"""Rollups, maintained in the writer's transaction: 15-minute rows are added to from the
batch's readings (or recomputed from raw rows where late readings landed), and the hourly
and daily rows follow from the same partial aggregates (or are recomputed from the
15-minute table). The arithmetic is :mod:`meterhub.telemetry.rollup`'s."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection

from meterhub.db import dialect
from meterhub.store.seqgaps import drop_counter_events
from meterhub.store.tables import COARSE, KEYS, READINGS, ROLLUPS
from meterhub.telemetry.energy import Delta
from meterhub.telemetry.periods import QUARTER_HOUR_S
from meterhub.telemetry.rollup import (
    ADD_COLUMNS,
    COARSE_ADD_COLUMNS,
    COARSE_COLUMNS,
    HIGH_COLUMNS,
    LOW_COLUMNS,
    ROLLUP_COLUMNS,
    RollupRow,
    aggregate,
    coarsen,
)

INT_COLUMNS: Final = frozenset({"slots", "count", "energy_wh", "pf_count", "frequency_count"})
"""Rollup columns that hold integers (sums come back from the database as decimals)."""


def write_rollups(
    conn: Connection,
    rows: list[RollupRow],
    recompute: set[tuple[int, int]],
    new_slots: set[tuple[int, int]],
    late: dict[int, set[int]] | None = None,
) -> list[tuple[int, float, Delta]]:
    """15-minute rows are added (or recomputed from raw rows for late readings), and
    the hourly and daily rows follow: added from the same partial aggregates, or
    recomputed from the 15-minute table where a late reading landed.

    Returns the counter events (device id, ts, Delta) the recomputation met at a late
    reading (``late``: device id -> its late readings' ts in ms) or at the reading after
    one: a reset that arrived late is recorded like one that arrived in time."""
    found: list[tuple[int, float, Delta]] = []
    incremental = [r for r in rows if (r[0], r[1]) not in recompute] if recompute else rows
    dialect.upsert_adding(
        conn, ROLLUPS, ROLLUP_COLUMNS, incremental, KEYS, ADD_COLUMNS, LOW_COLUMNS, HIGH_COLUMNS
    )
    for device_id, bucket in sorted(recompute):
        stamps = late.get(device_id, set()) if late else set()
        found += [
            (device_id, ts, d) for ts, d in _recompute_bucket(conn, device_id, bucket, stamps)
        ]
    for width, table in COARSE.items():
        redo = {(d, b // width * width) for d, b in recompute}
        coarse = coarsen(incremental, width, new_slots)
        if redo:
            coarse = [r for r in coarse if (r[0], r[1]) not in redo]
        dialect.upsert_adding(
            conn,
            table,
            COARSE_COLUMNS,
            coarse,
            KEYS,
            COARSE_ADD_COLUMNS,
            LOW_COLUMNS,
            HIGH_COLUMNS,
        )
        for device_id, bucket in sorted(redo):
            _recompute_coarse(conn, table, width, device_id, bucket)
    return found


def _recompute_coarse(
    conn: Connection, table: Table, width: int, device_id: int, bucket: int
) -> None:
    g = ROLLUPS.c
    sums = [func.sum(g[c]) for c in ADD_COLUMNS]
    row = conn.execute(
        select(
            func.count(),
            *sums,
            *(func.min(g[c]) for c in LOW_COLUMNS),
            *(func.max(g[c]) for c in HIGH_COLUMNS),
        ).where(g.device_id == device_id, g.bucket >= bucket, g.bucket < bucket + width)
    ).one()
    if not row[0]:
        return
    names = ("slots", *ADD_COLUMNS, *LOW_COLUMNS, *HIGH_COLUMNS)
    values = {name: value for name, value in zip(names, row, strict=True)}
    values = {k: (int(v) if k in INT_COLUMNS else float(v)) for k, v in values.items()}
    dialect.upsert_replacing(
        conn, table, [{"device_id": device_id, "bucket": bucket, **values}], KEYS
    )


def _recompute_bucket(
    conn: Connection, device_id: int, bucket: int, late: set[int]
) -> list[tuple[float, Delta]]:
    """Recompute one 15-minute row from raw rows; the counter events at or right after
    a reading in ``late`` (ts in ms)."""
    start_ms, end_ms = bucket * 1000, (bucket + QUARTER_HOUR_S) * 1000
    before = conn.execute(
        select(READINGS.c.ts, READINGS.c.energy)
        .where(READINGS.c.device_id == device_id, READINGS.c.ts < start_ms)
        .order_by(READINGS.c.ts.desc())
        .limit(1)
    ).first()
    rows = conn.execute(
        select(
            READINGS.c.ts,
            READINGS.c.voltage,
            READINGS.c.current,
            READINGS.c.power,
            READINGS.c.energy,
            READINGS.c.frequency,
            READINGS.c.pf,
        )
        .where(READINGS.c.device_id == device_id, READINGS.c.ts >= start_ms, READINGS.c.ts < end_ms)
        .order_by(READINGS.c.ts)
    ).all()
    prev = (before.ts / 1000, before.energy) if before is not None else None
    aggs, events = aggregate(((r[0] / 1000, *r[1:]) for r in rows), prev)
    dialect.upsert_replacing(
        conn,
        ROLLUPS,
        [
            dict(zip(ROLLUP_COLUMNS, (device_id, b, *stats), strict=True))
            for b, stats in aggs.items()
        ],
        KEYS,
    )
    if not late:
        return []
    before_of = {}  # ts (ms) of each row -> ts of the row before it
    last = before.ts if before is not None else None
    for r in rows:
        before_of[r[0]] = last
        last = r[0]
    moved = [r[0] for r in rows if r[0] not in late and before_of[r[0]] in late]
    drop_counter_events(
        conn, device_id, [datetime.fromtimestamp(ts / 1000, UTC).isoformat() for ts in moved]
    )
    if not events:
        return []
    kept = []
    for ts, delta in events:
        ts_ms = round(ts * 1000)
        if ts_ms in late or before_of.get(ts_ms) in late:
            kept.append((ts, delta))
    return kept
