"""How summaries cut periods into rollup pieces, without a database: `rollup.cover` tiles
any quarter-hour aligned range exactly with aligned daily, hourly and 15-minute pieces,
coarsest in the middle, and `queries._pieces` lists them per width for every period."""

from __future__ import annotations

import itertools
import re

from hypothesis import given
from hypothesis import strategies as st

from meterhub.telemetry import queries
from meterhub.telemetry.rollup import DAY_S, HOUR_S, cover

Q = 900
START = 1_767_225_600  # 2026-01-01T00:00Z

# Period lengths in quarter-hours: DST days, weeks, months, and anything else.
lengths = st.lists(
    st.sampled_from([92, 96, 100, 672, 2976, 2880, 2972]) | st.integers(1, 3000),
    min_size=1,
    max_size=30,
)


def bounds_of(first: int, quarters: list[int]) -> tuple[int, ...]:
    return tuple(START + Q * (first + total) for total in itertools.accumulate([0, *quarters]))


@given(st.integers(0, 500), st.integers(1, 4000))
def test_cover_tiles_a_range_with_aligned_pieces(first: int, quarters: int) -> None:
    start = START + first * Q
    end = start + quarters * Q
    pieces = cover(start, end)
    assert pieces[0][1] == start and pieces[-1][2] == end
    assert all(a[2] == b[1] for a, b in itertools.pairwise(pieces))  # no gap, no overlap
    for width, lo, hi in pieces:
        assert width in (DAY_S, HOUR_S, Q) and lo % width == 0 and hi % width == 0 and lo < hi
    # the coarsest width that fits covers the middle: no finer piece could have been one
    days = [p for p in pieces if p[0] == DAY_S]
    assert len(days) == (1 if (end // DAY_S) * DAY_S > -(-start // DAY_S) * DAY_S else 0)


@given(st.integers(0, 500), lengths)
def test_pieces_cover_every_period_once(first: int, quarters: list[int]) -> None:
    bounds = bounds_of(first, quarters)
    seen: list[tuple[int, int, int]] = []
    for width, values in queries._build_pieces(bounds):
        for idx, lo, hi in (
            map(int, row) for row in re.findall(r"\((\d+), (\d+), (\d+)\)", values)
        ):
            assert bounds[idx] <= lo < hi <= bounds[idx + 1]
            assert lo % width == 0 and hi % width == 0
            seen.append((lo, hi, idx))
    seen.sort()
    assert seen[0][0] == bounds[0] and seen[-1][1] == bounds[-1]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(seen))
    assert {idx for *_, idx in seen} == set(range(len(quarters)))
