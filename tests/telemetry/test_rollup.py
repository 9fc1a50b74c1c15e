"""Ingest's fast fold (`rollup.aggregate`, `coarsen`) against the plain reference fold, on
generated series: counter rises, resets, wraps and jumps, missing pf and frequency, equal
timestamps, several readings per bucket and buckets skipped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterhub.telemetry.rollup import (
    ROLLUP_COLUMNS,
    STAT_COLUMNS,
    Row,
    aggregate,
    coarsen,
    merge_stats,
)
from tests.telemetry.rollup_reference import reference_aggregate

T0 = 1_790_000_000.0

steps = st.tuples(
    st.sampled_from([0.0, 1.0, 10.0, 10.0, 10.0, 60.0, 899.0, 3600.0]),  # seconds to next
    st.floats(180.0, 260.0),  # voltage
    st.floats(0.0, 100.0),  # current
    st.floats(0.0, 23_000.0),  # power
    st.one_of(st.floats(0.0, 0.02), st.just(-1.0), st.floats(5.0, 50.0)),  # kWh step/reset
    st.one_of(st.none(), st.floats(45.0, 65.0)),  # frequency
    st.one_of(st.none(), st.floats(0.0, 1.0)),  # pf
)


def series(draw: list[tuple[float, ...]], start_kwh: float) -> list[Row]:
    rows: list[Row] = []
    ts, kwh = T0, start_kwh
    for gap, v, c, p, step, f, pf in draw:
        ts += gap
        kwh = 0.0 if step < 0 else (kwh + step) % 10_000.0
        rows.append((ts, v, c, p, round(kwh, 3), f, pf))
    return rows


@given(st.lists(steps, min_size=1, max_size=120), st.floats(0.0, 9_999.9), st.booleans())
def test_fast_fold_equals_the_reference(
    draw: list[tuple[float, ...]], start: float, with_prev: bool
) -> None:
    rows = series(draw, start)
    prev = (T0 - 10.0, round(start, 3)) if with_prev else None
    fast, fast_events = aggregate(rows, prev)
    want, want_events = reference_aggregate(rows, prev)
    assert set(fast) == set(want)
    for bucket, stats in fast.items():
        got = dict(zip(STAT_COLUMNS, stats, strict=True))
        for name, value in want[bucket].items():
            assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-9), (bucket, name)
    assert [(ts, d.event) for ts, d in fast_events] == want_events


@given(st.lists(steps, min_size=1, max_size=200))
def test_coarse_rows_are_the_merged_fine_rows(draw: list[tuple[float, ...]]) -> None:
    rows = series(draw, 1.0)
    fine, _ = aggregate(rows, None)
    fine_rows = [(7, bucket, *stats) for bucket, stats in fine.items()]
    new = {(7, bucket) for bucket in list(fine)[::2]}
    for width in (3600, 86400):
        by_bucket = {r[1]: r for r in coarsen(fine_rows, width, new)}  # type: ignore[arg-type]
        for bucket in {b // width * width for b in fine}:
            inside = [s for b, s in fine.items() if b // width * width == bucket]
            merged = inside[0]
            for stats in inside[1:]:
                merged = merge_stats(merged, stats)
            slots = sum(1 for b in fine if b // width * width == bucket and (7, b) in new)
            assert by_bucket[bucket] == (7, bucket, slots, *merged)


def test_row_layout_matches_the_table() -> None:
    from meterhub.db.models import Rollup15m

    assert set(ROLLUP_COLUMNS) <= set(Rollup15m.__table__.columns.keys())
