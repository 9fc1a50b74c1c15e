"""Rollups as plain data: fold readings into per-bucket aggregates (pure).

A reading's consumption is the counter delta from the reading before it (see
`energy.counter_delta`), booked to the bucket of the *later* reading; so a bucket's energy
depends on the reading before its first one, which callers pass as `prev`.

This is ingest's hot path, so aggregates are tuples in STAT_COLUMNS order (the order of
the rollup tables' columns after device_id and bucket, ready for the driver), and a bucket
is summarised with builtins over its readings rather than field by field in Python.
"""

from __future__ import annotations

from collections.abc import Iterable

from meterhub.telemetry.energy import COUNTER_MODULUS_KWH, Delta, allowed_wh, counter_delta
from meterhub.telemetry.periods import QUARTER_HOUR_S

# (ts seconds, voltage, current, power, energy kWh, frequency, pf): the row shape both the
# decoder's readings and stored rows are turned into.
Row = tuple[float, float, float, float, float, float | None, float | None]

STAT_COLUMNS = (
    "count",
    "energy_wh",
    "voltage_min",
    "voltage_max",
    "voltage_sum",
    "current_sum",
    "current_max",
    "power_sum",
    "power_min",
    "power_max",
    "pf_sum",
    "pf_count",
    "frequency_sum",
    "frequency_count",
)
# One bucket's aggregate, in STAT_COLUMNS order.
Stats = tuple[
    int, int, float, float, float, float, float, float, float, float, float, int, float, int
]
ROLLUP_COLUMNS = ("device_id", "bucket", *STAT_COLUMNS)  # rollups_15m
COARSE_COLUMNS = ("device_id", "bucket", "slots", *STAT_COLUMNS)  # rollups_1h, rollups_1d
ADD_COLUMNS = (
    "count",
    "energy_wh",
    "voltage_sum",
    "current_sum",
    "power_sum",
    "pf_sum",
    "pf_count",
    "frequency_sum",
    "frequency_count",
)
LOW_COLUMNS = ("voltage_min", "power_min")
HIGH_COLUMNS = ("voltage_max", "power_max", "current_max")
COARSE_ADD_COLUMNS = ("slots", *ADD_COLUMNS)


def bucket_of(ts: float) -> int:
    """Start (epoch s) of the 15-minute bucket holding `ts`."""
    return int(ts // QUARTER_HOUR_S) * QUARTER_HOUR_S


def stats_of(rows: list[Row], whs: list[int]) -> Stats:
    """The aggregate of `rows` (one bucket's readings) that consumed `whs`."""
    if len(rows) == 1:
        _, v, c, p, _, f, pf = rows[0]
        return (
            1,
            whs[0],
            v,
            v,
            0.0 + v,
            0.0 + c,
            c,
            0.0 + p,
            p,
            p,
            0.0 if pf is None else 0.0 + pf,
            0 if pf is None else 1,
            0.0 if f is None else 0.0 + f,
            0 if f is None else 1,
        )
    _, vs, cs, ps, _, fs, pfs = zip(*rows, strict=True)
    pf_known = [x for x in pfs if x is not None]
    f_known = [x for x in fs if x is not None]
    return (
        len(rows),
        sum(whs),
        min(vs),
        max(vs),
        sum(vs, 0.0),
        sum(cs, 0.0),
        max(cs),
        sum(ps, 0.0),
        min(ps),
        max(ps),
        sum(pf_known, 0.0),
        len(pf_known),
        sum(f_known, 0.0),
        len(f_known),
    )


def merge_stats(a: Stats, b: Stats) -> Stats:
    """Two partial aggregates of the same bucket (or of buckets being coarsened) as one."""
    return (
        a[0] + b[0],
        a[1] + b[1],
        min(a[2], b[2]),
        max(a[3], b[3]),
        a[4] + b[4],
        a[5] + b[5],
        max(a[6], b[6]),
        a[7] + b[7],
        min(a[8], b[8]),
        max(a[9], b[9]),
        a[10] + b[10],
        a[11] + b[11],
        a[12] + b[12],
        a[13] + b[13],
    )


def aggregate(
    rows: Iterable[Row], prev: tuple[float, float] | None
) -> tuple[dict[int, Stats], list[tuple[float, Delta]]]:
    """Fold time-ordered `rows` into buckets; `prev` is (ts, kWh) of the reading before.

    Returns the aggregates by bucket start and the counter events met (ts, Delta). The
    common step (the counter rose by what the meter can count in the time) is decided
    here; anything else goes to `counter_delta`, which decides and explains it."""
    out: dict[int, Stats] = {}
    events: list[tuple[float, Delta]] = []
    prev_ts, prev_kwh = prev if prev is not None else (None, 0.0)
    prev_wh = _wh_or_none(prev_kwh)
    group: list[Row] = []
    whs: list[int] = []
    group_bucket = None
    for row in rows:
        ts, kwh = row[0], row[4]
        cur_wh = _wh_or_none(kwh)
        wh = 0
        if prev_ts is not None and ts > prev_ts:
            if (
                cur_wh is not None
                and prev_wh is not None
                and cur_wh >= prev_wh
                and cur_wh - prev_wh <= allowed_wh(ts - prev_ts)
            ):
                wh = cur_wh - prev_wh
            else:
                delta = counter_delta(prev_kwh, prev_ts, kwh, ts, row[3])
                wh = delta.wh
                if delta.event is not None:
                    events.append((ts, delta))
        bucket = int(ts // QUARTER_HOUR_S) * QUARTER_HOUR_S
        if bucket != group_bucket:
            if group:
                _put(out, group_bucket, stats_of(group, whs))  # type: ignore[arg-type]
            group, whs, group_bucket = [row], [wh], bucket
        else:
            group.append(row)
            whs.append(wh)
        prev_ts, prev_kwh, prev_wh = ts, kwh, cur_wh
    if group:
        _put(out, group_bucket, stats_of(group, whs))  # type: ignore[arg-type]
    return out, events


def _wh_or_none(kwh: float) -> int | None:
    """The counter in whole Wh, or None when out of range (`counter_delta` explains)."""
    return round(kwh * 1000.0) if 0.0 <= kwh < COUNTER_MODULUS_KWH else None


def _put(out: dict[int, Stats], bucket: int, stats: Stats) -> None:
    have = out.get(bucket)
    out[bucket] = stats if have is None else merge_stats(have, stats)


# -- hourly and daily rollups ---------------------------------------------------------
HOUR_S = 3600
DAY_S = 86400
COARSE_WIDTHS = (HOUR_S, DAY_S)

RollupRow = tuple[
    int,
    int,
    int,
    int,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    int,
    float,
    int,
]  # ROLLUP_COLUMNS: device_id, bucket, *Stats
CoarseRow = tuple[
    int,
    int,
    int,
    int,
    int,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    int,
    float,
    int,
]  # COARSE_COLUMNS: device_id, bucket, slots, ...


def coarsen(rows: list[RollupRow], width: int, new_slots: set[tuple[int, int]]) -> list[CoarseRow]:
    """Merge 15-minute rows into `width`-second rows; `slots` counts the 15-minute buckets
    in `new_slots` (those that did not exist before this batch)."""
    merged: dict[tuple[int, int], tuple[int, Stats]] = {}
    for row in rows:
        device_id, bucket = row[0], row[1]
        key = (device_id, bucket // width * width)
        slot = 1 if (device_id, bucket) in new_slots else 0
        stats: Stats = row[2:]
        into = merged.get(key)
        merged[key] = (
            (slot, stats) if into is None else (into[0] + slot, merge_stats(into[1], stats))
        )
    return [
        (device_id, bucket, slots, *stats) for (device_id, bucket), (slots, stats) in merged.items()
    ]


def cover(
    start: int, end: int, widths: tuple[int, ...] = (DAY_S, HOUR_S, QUARTER_HOUR_S)
) -> list[tuple[int, int, int]]:
    """Split [start, end) (quarter-hour aligned, epoch s) into the fewest rollup pieces:
    (width, lo, hi) with lo and hi multiples of width, coarsest in the middle."""
    if start >= end:
        return []
    width, finer = widths[0], widths[1:]
    lo = -(-start // width) * width
    hi = end // width * width
    if not finer:
        return [(width, start, end)]
    if lo >= hi:
        return cover(start, end, finer)
    return [*cover(start, lo, finer), (width, lo, hi), *cover(hi, end, finer)]
