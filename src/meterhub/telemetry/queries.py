"""The read side: chart series, period summaries, latest values and fleet figures.

Long ranges read the 15-minute rollups, short ones the raw rows; the choice is made here so
that a year of 10-second data still answers in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from itertools import pairwise
from typing import Any

from sqlalchemy import Table, func, literal, select
from sqlalchemy.engine import Connection

from meterhub.db import dialect
from meterhub.db.models import IngestCounter
from meterhub.store.tables import COARSE, COUNTERS, DEVICES, READINGS, ROLLUPS
from meterhub.telemetry import fastpaths
from meterhub.telemetry.periods import QUARTER_HOUR_S, Period, coverage, period_grid
from meterhub.telemetry.rollup import cover

FAST_PATHS = True
"""False: the plain reference paths (`_rollup_buckets`, `summary`'s loop, the dashboard's
`fleet_now` + `energy_since`), e.g. to measure the difference (telemetry/fastpaths.py)."""
RAW_FIELDS = ("voltage", "current", "power", "energy", "frequency", "pf")


def _num(value: Any) -> float | None:
    """SQL aggregates come back as Decimal on PostgreSQL: make every figure a float."""
    return None if value is None else float(value)


def iso(ts_ms: float) -> str:
    """Epoch milliseconds as ISO-8601 UTC with a Z."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class Series:
    resolution: str  # "raw" or the bucket width, e.g. "900s"
    points: list[dict[str, Any]]


def series(conn: Connection, device_id: int, start_ms: int, end_ms: int, max_points: int) -> Series:
    """Readings in [start, end): raw when they fit `max_points`, else time buckets with
    min/avg/max (from raw rows below 15 minutes per bucket, from rollups above)."""
    in_range = (
        READINGS.c.device_id == device_id,
        READINGS.c.ts >= start_ms,
        READINGS.c.ts < end_ms,
    )
    # Counting stops at max_points + 1: the decision needs no more (a year holds 3M rows).
    count = (
        conn.execute(
            select(func.count()).select_from(
                select(literal(1)).where(*in_range).limit(max_points + 1).subquery()
            )
        ).scalar()
        or 0
    )
    if count <= max_points:
        rows = conn.execute(
            select(READINGS.c.ts, *(READINGS.c[f] for f in RAW_FIELDS))
            .where(*in_range)
            .order_by(READINGS.c.ts)
        ).all()
        return Series(
            "raw", [{"ts": iso(r[0]), **dict(zip(RAW_FIELDS, r[1:], strict=True))} for r in rows]
        )
    step_s = max(1, math.ceil((end_ms - start_ms) / 1000 / max_points))
    if step_s < QUARTER_HOUR_S:
        return Series(f"{step_s}s", _raw_buckets(conn, device_id, start_ms, end_ms, step_s))
    width = max(w for w in ROLLUP_TABLES if w <= step_s)
    step_s = math.ceil(step_s / width) * width
    buckets = fastpaths.rollup_buckets if FAST_PATHS else _rollup_buckets
    return Series(
        f"{step_s}s",
        buckets(conn, ROLLUP_TABLES[width], width, device_id, start_ms, end_ms, step_s),
    )


def _raw_buckets(
    conn: Connection, device_id: int, start_ms: int, end_ms: int, step_s: int
) -> list[dict[str, Any]]:
    r = READINGS.c
    idx = func.floor((r.ts - start_ms) / (step_s * 1000.0)).label("i")
    rows = conn.execute(
        select(
            idx,
            func.avg(r.voltage),
            func.min(r.voltage),
            func.max(r.voltage),
            func.avg(r.current),
            func.max(r.current),
            func.avg(r.power),
            func.min(r.power),
            func.max(r.power),
            func.max(r.energy),
            func.avg(r.frequency),
            func.avg(r.pf),
            func.count(),
        )
        .where(r.device_id == device_id, r.ts >= start_ms, r.ts < end_ms)
        .group_by(idx)
        .order_by(idx)
    ).all()
    names = (
        "voltage",
        "voltage_min",
        "voltage_max",
        "current",
        "current_max",
        "power",
        "power_min",
        "power_max",
        "energy",
        "frequency",
        "pf",
    )
    return [
        {
            "ts": iso(start_ms + int(row[0]) * step_s * 1000),
            **{name: _num(v) for name, v in zip(names, row[1:12], strict=True)},
            "count": int(row[12]),
        }
        for row in rows
    ]


def _rollup_buckets(
    conn: Connection,
    table: Table,
    width: int,
    device_id: int,
    start_ms: int,
    end_ms: int,
    step_s: int,
) -> list[dict[str, Any]]:
    g = table.c
    first = start_ms // 1000 // width * width
    idx = func.floor((g.bucket - first) / float(step_s)).label("i")
    rows = conn.execute(
        select(
            idx,
            func.sum(g.voltage_sum),
            func.min(g.voltage_min),
            func.max(g.voltage_max),
            func.sum(g.current_sum),
            func.max(g.current_max),
            func.sum(g.power_sum),
            func.min(g.power_min),
            func.max(g.power_max),
            func.sum(g.energy_wh),
            func.sum(g.frequency_sum),
            func.sum(g.frequency_count),
            func.sum(g.pf_sum),
            func.sum(g.pf_count),
            func.sum(g.count),
        )
        .where(g.device_id == device_id, g.bucket >= first, g.bucket < end_ms // 1000)
        .group_by(idx)
        .order_by(idx)
    ).all()
    points = []
    for row in rows:
        v = [_num(x) or 0.0 for x in row]
        n = v[14] or 1.0
        points.append(
            {
                "ts": iso((first + int(v[0]) * step_s) * 1000),
                "voltage": v[1] / n,
                "voltage_min": v[2],
                "voltage_max": v[3],
                "current": v[4] / n,
                "current_max": v[5],
                "power": v[6] / n,
                "power_min": v[7],
                "power_max": v[8],
                "energy": None,
                "energy_kwh": v[9] / 1000,
                "frequency": v[10] / v[11] if v[11] else None,
                "pf": v[12] / v[13] if v[13] else None,
                "count": int(v[14]),
            }
        )
    return points


def latest(conn: Connection, device_id: int) -> dict[str, Any] | None:
    """The newest reading of a device."""
    row = conn.execute(
        select(
            READINGS.c.ts, *(READINGS.c[f] for f in RAW_FIELDS), READINGS.c.alarm, READINGS.c.seq
        )
        .where(READINGS.c.device_id == device_id)
        .order_by(READINGS.c.ts.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return {
        "ts": iso(row[0]),
        **dict(zip(RAW_FIELDS, row[1:7], strict=True)),
        "alarm": row[7],
        "seq": row[8],
    }


def summary(
    conn: Connection,
    device_id: int,
    start: datetime,
    end: datetime,
    period: Period,
    zone: tzinfo,
    now: datetime,
) -> tuple[float, list[dict[str, Any]]]:
    """Energy and power figures per calendar period of `zone` meeting [start, end).

    The periods come from `period_grid` (cached: zoneinfo is slow for a year of days), their
    figures from `period_sums` (rollups, exact in every zone)."""
    grid = period_grid(start, end, period, zone)
    acc = period_sums(conn, [device_id], grid.bounds)
    bounds, now_ts = grid.bounds, now.timestamp()
    if FAST_PATHS:
        return fastpaths.summary_buckets(grid.starts, grid.ends, bounds, acc, now_ts)
    out = []
    total_wh = 0
    for i, a in enumerate(acc):
        total_wh += a.wh
        out.append(
            {
                "start": grid.starts[i],
                "end": grid.ends[i],
                "energy_kwh": a.wh / 1000,
                "avg_power_w": a.power_sum / a.count if a.count else None,
                "max_power_w": a.power_max,
                "min_voltage": a.v_min,
                "max_voltage": a.v_max,
                "readings": a.count,
                # Share of the period's elapsed quarter-hours that hold data: robust
                # to a device whose reading interval changed over time.
                "coverage": round(
                    coverage(a.slots, bounds[i], bounds[i + 1], QUARTER_HOUR_S, now_ts), 4
                ),
            }
        )
    return total_wh / 1000, out


ROLLUP_TABLES = {QUARTER_HOUR_S: ROLLUPS, **COARSE}
FIGURES = (
    ("sum(r.count)", int),
    ("sum(r.energy_wh)", int),
    ("sum(r.power_sum)", float),
    ("max(r.power_max)", float),
    ("min(r.voltage_min)", float),
    ("max(r.voltage_max)", float),
)
"""What `_Acc.merge` takes, in its order; the slots follow (they differ per width)."""
PIECES_CACHE_SIZE = 32
PIECES_CACHE_MAX_PERIODS = 800  # a year of days is 10 to 35 kB of SQL text


def period_sums(conn: Connection, device_ids: Sequence[int], bounds: Sequence[int]) -> list[_Acc]:
    """Aggregates of `device_ids` over each period [bounds[i], bounds[i + 1]) (epoch s,
    quarter-hour aligned), from the coarsest rollups that fit (`rollup.cover`): one
    statement per rollup width, one index range scan per piece (`aggregate_ranges`)."""
    acc = [_Acc() for _ in range(len(bounds) - 1)]
    if not device_ids or not acc:
        return acc
    where = f"r.device_id IN ({', '.join(str(int(d)) for d in device_ids)})"
    for width, pieces in _pieces(tuple(bounds)):
        # 15-minute rows are the slots; the coarser rollups count theirs in `slots`
        figures = (*FIGURES, ("count(*)" if width == QUARTER_HOUR_S else "sum(r.slots)", int))
        for idx, *values in dialect.aggregate_ranges(
            conn, ROLLUP_TABLES[width].name, figures, where, pieces
        ):
            acc[idx].merge(*values)
    return acc


def _pieces(bounds: tuple[int, ...]) -> tuple[tuple[int, str], ...]:
    """Per rollup width, the `cover` pieces of all periods as SQL VALUES rows (period
    index, lo, hi); cached for all but huge ranges (a year of days takes a millisecond)."""
    if len(bounds) > PIECES_CACHE_MAX_PERIODS:
        return _build_pieces(bounds)
    return _cached_pieces(bounds)


def _build_pieces(bounds: tuple[int, ...]) -> tuple[tuple[int, str], ...]:
    pieces: dict[int, list[str]] = {}
    for idx, (start, end) in enumerate(pairwise(bounds)):
        for width, lo, hi in cover(start, end):
            pieces.setdefault(width, []).append(f"({idx}, {lo}, {hi})")
    return tuple((width, ", ".join(rows)) for width, rows in pieces.items())


_cached_pieces = lru_cache(maxsize=PIECES_CACHE_SIZE)(_build_pieces)


@dataclass(slots=True)
class _Acc:
    count: int = 0
    slots: int = 0  # 15-minute buckets with at least one reading
    wh: int = 0
    power_sum: float = 0.0
    power_max: float | None = None
    v_min: float | None = None
    v_max: float | None = None

    def merge(
        self,
        count: Any,
        wh: Any,
        power_sum: Any,
        power_max: Any,
        v_min: Any,
        v_max: Any,
        slots: Any,
    ) -> None:
        """Add one piece's SQL aggregates (Decimals on PostgreSQL become numbers)."""
        count, wh, slots = int(count), int(wh), int(slots)
        power_sum, power_max = float(power_sum), float(power_max)
        v_min, v_max = float(v_min), float(v_max)
        self.count += count
        self.slots += slots
        self.wh += wh
        self.power_sum += power_sum
        self.power_max = power_max if self.power_max is None else max(self.power_max, power_max)
        self.v_min = v_min if self.v_min is None else min(self.v_min, v_min)
        self.v_max = v_max if self.v_max is None else max(self.v_max, v_max)


def energy_since(
    conn: Connection, device_ids: Sequence[int], start: datetime, until: datetime | None = None
) -> float:
    """kWh used by `device_ids` from `start` until `until` (quarter-hour boundaries;
    default: now): one plain sum per rollup piece (daily in the middle, hourly and
    15-minute at the edges)."""
    if not device_ids:
        return 0.0
    end = int(until.timestamp()) if until is not None else open_end(datetime.now(UTC))
    wh = 0
    for width, lo, hi in cover(int(start.timestamp()), end):
        g = ROLLUP_TABLES[width].c
        wh += int(
            conn.execute(
                select(func.sum(g.energy_wh)).where(
                    g.device_id.in_(device_ids), g.bucket >= lo, g.bucket < hi
                )
            ).scalar()
            or 0
        )
    return wh / 1000


def open_end(now: datetime) -> int:
    """The end of a range "up to now" (epoch s): the quarter hour after the current one,
    so that a device clock a little ahead still counts."""
    ts = int(now.timestamp())
    return -(-ts // QUARTER_HOUR_S) * QUARTER_HOUR_S + QUARTER_HOUR_S


def readings_stored(conn: Connection, device_ids: Sequence[int] | None) -> int:
    """Readings stored for `device_ids` (None: all, from ingest's counter)."""
    if device_ids is None:
        value = conn.execute(
            select(COUNTERS.c.value).where(COUNTERS.c.name == "readings_stored")
        ).scalar()
        return int(value or 0)
    if not device_ids:
        return 0
    return int(
        conn.execute(
            select(func.sum(ROLLUPS.c.count)).where(ROLLUPS.c.device_id.in_(device_ids))
        ).scalar()
        or 0
    )


def fleet_now(conn: Connection, device_ids: Sequence[int]) -> tuple[int, float]:
    """(devices online, their total power now in W)."""
    if not device_ids:
        return 0, 0.0
    row = conn.execute(
        select(func.count(), func.sum(DEVICES.c.last_power)).where(
            DEVICES.c.id.in_(device_ids), DEVICES.c.online.is_(True)
        )
    ).first()
    return (int(row[0]), float(row[1] or 0.0)) if row else (0, 0.0)


def counters(conn: Connection) -> dict[str, int]:
    """Ingest's running totals."""
    return {
        name: int(value)
        for name, value in conn.execute(select(IngestCounter.name, IngestCounter.value))
    }


def export_rows(
    conn: Connection, device_id: int, start_ms: int, end_ms: int, chunk: int = 5000
) -> Iterator[Sequence[Any]]:
    """Raw readings in time order, fetched in chunks (keyset pagination)."""
    cursor = start_ms
    while True:
        rows = conn.execute(
            select(READINGS.c.ts, *(READINGS.c[f] for f in RAW_FIELDS))
            .where(
                READINGS.c.device_id == device_id, READINGS.c.ts >= cursor, READINGS.c.ts < end_ms
            )
            .order_by(READINGS.c.ts)
            .limit(chunk)
        ).all()
        yield from rows
        if len(rows) < chunk:
            return
        cursor = rows[-1][0] + 1
