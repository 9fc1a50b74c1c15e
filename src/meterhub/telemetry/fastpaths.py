"""Faster versions of two read-side queries, each checked against its plain reference in
`queries` (tests/telemetry/test_fastpaths.py) and measured by `meterhub bench queries`:

* `rollup_buckets`: the year chart's buckets. The averages and the energy are divided in
  SQL, the bucket index is an integer division, and rows become points through one
  `zip` (the reference converts each of 15 figures in Python: two thirds of its time).
* `summary_buckets`: the period summary's buckets with the coverage computed inline
  (the reference calls `periods.coverage` per period: a tenth of a year's summary).
* `fleet_figures`: the dashboard's figures for many devices in one statement. The device
  ids are listed once, as SQL integers (the reference binds them per statement: SQLAlchemy
  renders a thousand parameters four times, most of the dashboard's time), and every
  rollup piece of every range is a scalar subquery of that one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from meterhub.store.tables import DEVICES
from meterhub.telemetry.periods import QUARTER_HOUR_S
from meterhub.telemetry.rollup import cover

# Both databases: SQLite reads the type name as REAL, PostgreSQL as float8 (not float4).
_F = "CAST({} AS DOUBLE PRECISION)"
POINT_KEYS = (
    "ts",
    "voltage",
    "voltage_min",
    "voltage_max",
    "current",
    "current_max",
    "power",
    "power_min",
    "power_max",
    "energy",
    "energy_kwh",
    "frequency",
    "pf",
    "count",
)


def rollup_buckets(
    conn: Connection,
    table: Table,
    width: int,
    device_id: int,
    start_ms: int,
    end_ms: int,
    step_s: int,
) -> list[dict[str, Any]]:
    """What `queries._rollup_buckets` returns (same keys, same figures)."""
    first = start_ms // 1000 // width * width
    n = "NULLIF(sum(r.count), 0)"
    columns = ", ".join(
        (
            _F.format(f"sum(r.voltage_sum) / {n}"),
            _F.format("min(r.voltage_min)"),
            _F.format("max(r.voltage_max)"),
            _F.format(f"sum(r.current_sum) / {n}"),
            _F.format("max(r.current_max)"),
            _F.format(f"sum(r.power_sum) / {n}"),
            _F.format("min(r.power_min)"),
            _F.format("max(r.power_max)"),
            "NULL",
            _F.format("sum(r.energy_wh)") + " / 1000.0",
            "CASE WHEN sum(r.frequency_count) > 0 THEN "
            + _F.format("sum(r.frequency_sum) / sum(r.frequency_count)")
            + " END",
            "CASE WHEN sum(r.pf_count) > 0 THEN "
            + _F.format("sum(r.pf_sum) / sum(r.pf_count)")
            + " END",
            "CAST(sum(r.count) AS BIGINT)",
        )
    )
    # bucket >= first, so integer division is floor; all three are our own integers
    sql = (
        f"SELECT (r.bucket - {int(first)}) / {int(step_s)} AS i, {columns} "  # noqa: S608
        f"FROM {table.name} r WHERE r.device_id = {int(device_id)} "
        f"AND r.bucket >= {int(first)} AND r.bucket < {int(end_ms // 1000)} "
        "GROUP BY i ORDER BY i"
    )
    step_ms, base_ms = step_s * 1000, first * 1000
    return [
        dict(zip(POINT_KEYS, (_iso_s((base_ms + int(i) * step_ms) // 1000), *figures), strict=True))
        for i, *figures in conn.exec_driver_sql(sql)
    ]


def _iso_s(ts_s: int) -> str:
    """`queries.iso` for whole seconds."""
    return datetime.fromtimestamp(ts_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fleet_figures(
    conn: Connection,
    device_ids: Sequence[int],
    ranges: Sequence[tuple[int, int]],
    tables: dict[int, Table],
) -> tuple[int, float, list[float]]:
    """(devices online, their power now in W, kWh in each [lo, hi) of `ranges` (epoch s,
    quarter-hour aligned)): `queries.fleet_now` and `queries.energy_since` per range, in
    one statement. `tables` maps rollup widths to tables (`queries.ROLLUP_TABLES`)."""
    if not device_ids:
        return 0, 0.0, [0.0] * len(ranges)
    ids = ", ".join(f"({int(d)})" for d in device_ids)
    devices = "SELECT id FROM d"
    # table and column names are ours, numbers are int(): no input reaches this SQL
    online = f"FROM {DEVICES.name} WHERE id IN ({devices}) AND online = TRUE"
    power = _F.format("coalesce(sum(last_power), 0)")
    parts = [f"(SELECT count(*) {online})", f"(SELECT {power} {online})"]
    owners: list[int] = []
    for index, (lo_s, hi_s) in enumerate(ranges):
        for width, lo, hi in cover(int(lo_s), int(hi_s)):
            owners.append(index)
            parts.append(
                f"(SELECT CAST(coalesce(sum(r.energy_wh), 0) AS BIGINT) "  # noqa: S608
                f"FROM {tables[width].name} r WHERE r.device_id IN ({devices}) "
                f"AND r.bucket >= {int(lo)} AND r.bucket < {int(hi)})"
            )
    sql = f"WITH d(id) AS (VALUES {ids}) SELECT {', '.join(parts)}"
    row = conn.exec_driver_sql(sql).one()
    wh = [0] * len(ranges)
    for index, value in zip(owners, row[2:], strict=True):
        wh[index] += int(value)
    return int(row[0]), float(row[1]), [w / 1000 for w in wh]


def summary_buckets(
    starts: Sequence[str],
    ends: Sequence[str],
    bounds: Sequence[int],
    acc: Sequence[Any],
    now_ts: float,
) -> tuple[float, list[dict[str, Any]]]:
    """What `queries.summary` returns, from its period sums `acc` (`queries._Acc`)."""
    out = []
    total_wh = 0
    quarter = float(QUARTER_HOUR_S)
    for i, a in enumerate(acc):
        total_wh += a.wh
        count, lo = a.count, float(bounds[i])
        # periods.coverage: share of the elapsed quarter-hours holding data
        expected = max(min(float(bounds[i + 1]), now_ts) - lo, 0.0) / quarter
        share = 0.0 if expected <= 0.0 or a.slots <= 0 else min(1.0, a.slots / expected)
        out.append(
            {
                "start": starts[i],
                "end": ends[i],
                "energy_kwh": a.wh / 1000,
                "avg_power_w": a.power_sum / count if count else None,
                "max_power_w": a.power_max,
                "min_voltage": a.v_min,
                "max_voltage": a.v_max,
                "readings": count,
                "coverage": round(share, 4),
            }
        )
    return total_wh / 1000, out
