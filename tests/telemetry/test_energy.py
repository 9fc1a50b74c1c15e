"""Energy from the cumulative counter: the step rules, then properties over series."""

from __future__ import annotations

import itertools
import math
import struct

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from meterhub.telemetry.energy import (
    CounterTracker,
    Delta,
    allowed_wh,
    consumption,
    counter_delta,
)

T0 = 1795773600.0
HOUR = 3600.0


def test_normal_increase() -> None:
    delta = counter_delta(12.345, T0, 12.445, T0 + 600)
    assert delta == Delta(100)
    assert delta.kwh == 0.1 and delta.event is None and delta.detail is None


def test_equal_and_unchanged() -> None:
    assert counter_delta(5.0, T0, 5.0, T0) == Delta(0)
    assert counter_delta(5.0, T0, 5.0, T0 + 10) == Delta(0)


def float32(value: float) -> float:
    """What a firmware keeping kWh in a C float sends."""
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


def test_float32_noise_is_not_a_drop() -> None:
    # float32 kWh from firmware: 12.345 may arrive as 12.3449997 or 12.3450003
    assert counter_delta(12.3450003, T0, 12.3449997, T0 + 10) == Delta(0)
    assert counter_delta(float32(9999.989), T0, float32(9999.990), T0 + 10).wh == 1


@given(
    a=st.integers(min_value=0, max_value=9_999_990),
    rise=st.integers(min_value=0, max_value=383),
)
def test_float32_counter_values_keep_whole_wh(a: int, rise: int) -> None:
    b = min(a + rise, 9_999_990)
    assert counter_delta(float32(a / 1000), T0, float32(b / 1000), T0 + 10).wh == b - a


def test_wrap_counts_across_the_top() -> None:
    delta = counter_delta(9999.9, T0, 0.1, T0 + 600)
    assert (delta.wh, delta.event) == (200, "wrap")
    assert "wrapped" in (delta.detail or "")
    assert counter_delta(9950.0, T0, 40.0, T0 + 5 * HOUR)[:2] == (90000, "wrap")


def test_wrap_must_be_possible_in_the_time() -> None:
    # 9999 -> 50 kWh in 10 s would need 18 MW: not a wrap; 50 kWh is too much for a reset
    delta = counter_delta(9999.0, T0, 50.0, T0 + 10)
    assert (delta.wh, delta.event) == (0, "swap")


def test_drop_from_the_middle_is_a_reset_counting_since_it() -> None:
    delta = counter_delta(5000.0, T0, 0.002, T0 + 10)
    assert (delta.wh, delta.event) == (2, "reset")
    assert delta.kwh == 0.002
    # A reset long ago: the counter has counted 30 kWh since; all of it is consumption.
    assert counter_delta(5000.0, T0, 30.0, T0 + 48 * HOUR)[:2] == (30000, "reset")
    # A drop to zero is a reset with nothing counted yet.
    assert counter_delta(123.4, T0, 0.0, T0 + 10)[:2] == (0, "reset")


def test_drop_that_is_neither_wrap_nor_reset_is_a_swap() -> None:
    delta = counter_delta(5000.0, T0, 3000.0, T0 + 10, power_w=120.0)
    assert (delta.wh, delta.event) == (0, "swap")
    assert "5000 -> 3000" in (delta.detail or "") and "120 W" in (delta.detail or "")


def test_impossible_rise_is_a_jump() -> None:
    delta = counter_delta(10.0, T0, 5000.0, T0 + 10)
    assert (delta.wh, delta.event) == (0, "jump")
    assert "more than 23 kW" in (delta.detail or "")


def test_large_rise_after_a_long_gap_is_consumption() -> None:
    # offline for 30 days at ~6.9 kW average: physically possible
    assert counter_delta(10.0, T0, 5000.0, T0 + 30 * 24 * HOUR) == Delta(4_990_000)


def test_rise_limit_is_23_kw_with_tolerance() -> None:
    one_hour = allowed_wh(HOUR)
    assert 23000 * 1.1 < one_hour < 23000 * 1.1 + 400
    assert counter_delta(100.0, T0, 125.0, T0 + HOUR) == Delta(25000)  # 25 kWh in 1 h
    assert counter_delta(100.0, T0, 127.0, T0 + HOUR)[:2] == (0, "jump")  # 27 kWh in 1 h
    # Equal timestamps still allow a little (receive-time jitter): 60 s at 23 kW.
    assert allowed_wh(0) == pytest.approx(383.33, abs=0.01)
    assert counter_delta(1.0, T0, 1.38, T0) == Delta(380)


def test_out_of_order_timestamps_count_as_no_elapsed_time() -> None:
    assert counter_delta(1.0, T0, 1.1, T0 - 5) == Delta(100)
    assert counter_delta(1.0, T0, 50.0, T0 - 5)[:2] == (0, "jump")


@pytest.mark.parametrize("bad", [-0.001, 10000.0, math.nan, math.inf])
def test_invalid_counter_values_raise(bad: float) -> None:
    with pytest.raises(ValueError, match="counter range"):
        counter_delta(1.0, T0, bad, T0 + 1)
    with pytest.raises(ValueError, match="counter range"):
        counter_delta(bad, T0, 1.0, T0 + 1)


def test_consumption_over_a_day_with_a_reset_and_a_swap() -> None:
    series = [
        (T0, 100.0),
        (T0 + 600, 100.5),
        (T0 + 1200, 0.0),  # reset command
        (T0 + 1800, 0.25),
        (T0 + 2400, 4000.0),  # board moved to another meter
        (T0 + 3000, 4000.1),
    ]
    result = consumption(series)
    assert result.wh == 500 + 0 + 250 + 0 + 100
    assert result.kwh == 0.85
    assert result.readings == 6
    assert [(e.event, e.ts, e.prev_kwh, e.cur_kwh) for e in result.events] == [
        ("reset", T0 + 1200, 100.5, 0.0),
        ("jump", T0 + 2400, 0.25, 4000.0),
    ]


def test_consumption_of_short_series() -> None:
    assert consumption([]).wh == 0
    assert consumption([(T0, 5.0)]).wh == 0
    assert consumption(iter([(T0, 5.0), (T0 + 10, 5.01)])).wh == 10
    with pytest.raises(ValueError):
        consumption([(T0, -1.0)])


def test_tracker() -> None:
    tracker = CounterTracker()
    assert tracker.feed(T0, 10.0) is None
    assert tracker.feed(T0 + 10, 10.02) == Delta(20)
    assert tracker.feed(T0 + 5, 10.01) is None  # late: ignored
    delta = tracker.feed(T0 + 20, 0.001)
    assert delta is not None and delta[:2] == (1, "reset")
    assert tracker.total_wh == 21
    assert (tracker.last_ts, tracker.last_kwh) == (T0 + 20, 0.001)


# -------------------------------------------------------------------- properties

MODULUS_WH = 10_000_000


@st.composite
def true_usage(draw: st.DrawFn, start_max: int = MODULUS_WH - 1) -> list[tuple[float, int]]:
    """Times and a never-decreasing 'true' Wh total, each step possible at <= 23 kW."""
    ts = draw(st.floats(min_value=T0 - 1e8, max_value=T0))
    wh = draw(st.integers(min_value=0, max_value=start_max))
    points = [(ts, wh)]
    for gap, share in draw(
        st.lists(
            st.tuples(st.integers(min_value=0, max_value=7200), st.floats(0.0, 1.0)),
            max_size=30,
        )
    ):
        ts += gap
        wh += math.floor(share * 23000 * gap / 3600)
        points.append((ts, wh))
    return points


def as_series(points: list[tuple[float, int]]) -> list[tuple[float, float]]:
    """What the meter shows: the true total modulo 10,000 kWh, in kWh."""
    return [(ts, (wh % MODULUS_WH) / 1000) for ts, wh in points]


arbitrary_series = st.lists(
    st.tuples(
        st.floats(min_value=T0 - 1e7, max_value=T0 + 1e7),
        st.integers(min_value=0, max_value=MODULUS_WH - 1).map(lambda wh: wh / 1000),
    ),
    max_size=30,
).map(sorted)


@given(series=arbitrary_series)
def test_total_is_never_negative(series: list[tuple[float, float]]) -> None:
    result = consumption(series)
    assert result.wh >= 0
    assert all(event.kwh >= 0 for event in result.events)
    for (t1, k1), (t2, k2) in itertools.pairwise(series):
        assert counter_delta(k1, t1, k2, t2).wh >= 0


@given(points=true_usage())
def test_monotone_series_total_is_last_minus_first(points: list[tuple[float, int]]) -> None:
    monotone = [(ts, wh) for ts, wh in points if wh < MODULUS_WH]
    result = consumption(as_series(monotone))
    assert result.wh == monotone[-1][1] - monotone[0][1]
    assert result.events == []


@given(points=true_usage(start_max=MODULUS_WH - 1))
def test_wraps_are_counted_in_full(points: list[tuple[float, int]]) -> None:
    # the true total may pass 10,000 kWh any number of times; the meter shows it modulo
    result = consumption(as_series(points))
    assert result.wh == points[-1][1] - points[0][1]
    assert {event.event for event in result.events} <= {"wrap"}


@given(series=arbitrary_series, data=st.data())
def test_split_anywhere_adds_up(series: list[tuple[float, float]], data: st.DataObject) -> None:
    if len(series) < 2:
        return
    k = data.draw(st.integers(min_value=0, max_value=len(series) - 1))
    whole = consumption(series).wh
    assert consumption(series[: k + 1]).wh + consumption(series[k:]).wh == whole


@given(
    before=true_usage(start_max=9_000_000),
    after=true_usage(start_max=2_000_000),
    pause=st.floats(min_value=0, max_value=1e6),
)
@settings(max_examples=150)
def test_reset_in_the_middle(
    before: list[tuple[float, int]], after: list[tuple[float, int]], pause: float
) -> None:
    first = [(ts, wh) for ts, wh in before if wh < 9_900_000]  # stay out of the wrap zone
    # After the reset the counter restarts from 0 and counts up; shift it after `first`.
    shift = first[-1][0] + pause - after[0][0]
    second = [(ts + shift, wh) for ts, wh in after if wh < MODULUS_WH]
    # The first reading after the reset must be possible in the pause (else: a swap).
    post_reset_wh = second[0][1]
    assume(post_reset_wh < first[-1][1] and post_reset_wh <= allowed_wh(pause))
    series_a, series_b = as_series(first), as_series(second)
    whole = consumption(series_a + series_b)
    assert whole.wh == consumption(series_a).wh + consumption(series_b).wh + post_reset_wh
    assert [event.event for event in whole.events] == ["reset"]
