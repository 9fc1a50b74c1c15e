"""The pure rule core: duration, hysteresis, history, validation, local days."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from meterhub.alerts.core import AlertState, Condition, flag_condition, validate
from meterhub.alerts.evaluator import local_midnight


def feed(cond: Condition, values: list[tuple[float, float]]) -> list[tuple[float, str]]:
    state = AlertState()
    out = []
    for ts, value in values:
        transition = state.observe(cond, ts, value)
        if transition:
            out.append((ts, transition))
    return out


def test_opens_only_after_the_condition_held_for_for_s() -> None:
    cond = Condition("power", ">", 1000.0, 900.0, for_s=30)
    # 20 s above, back below (not long enough), then 40 s above.
    values = [(t, 1500.0) for t in range(0, 30, 10)]
    values += [(30, 500.0)]
    values += [(t, 1500.0) for t in range(40, 90, 10)]
    assert feed(cond, values) == [(70, "open")]


def test_a_short_dip_restarts_the_countdown_and_clearing_needs_for_s_too() -> None:
    cond = Condition("voltage", "<", 200.0, 210.0, for_s=20)
    values = [(0, 190.0), (10, 190.0), (20, 190.0), (30, 215.0), (40, 190.0), (50, 215.0)]
    values += [(60, 215.0), (70, 215.0)]
    assert feed(cond, values) == [(20, "open"), (70, "resolve")]


def test_hysteresis_a_noisy_signal_around_the_threshold_does_not_flap() -> None:
    """Power wobbles +-60 W around 1000 W for an hour: with the alert at > 1000 W and the
    clear at <= 900 W, it opens once and stays open; without a band it would flap."""
    rng = random.Random(7)
    noisy = [(float(t), 1000.0 + rng.uniform(-60, 60)) for t in range(0, 3600, 5)]
    banded = Condition("power", ">", 1000.0, 900.0, for_s=0)
    assert [kind for _, kind in feed(banded, noisy)] == ["open"]
    flapping = Condition("power", ">", 1000.0, None, for_s=0)
    assert len(feed(flapping, noisy)) > 50  # what the band prevents
    # and for_s alone also calms it: the condition must hold 60 s uninterrupted
    timed = Condition("power", ">", 1000.0, 900.0, for_s=60)
    assert len(feed(timed, noisy)) <= 1
    # the signal really drops: resolved exactly once
    then = noisy + [(3600.0 + t, 800.0 + rng.uniform(-50, 50)) for t in range(0, 600, 5)]
    assert [kind for _, kind in feed(banded, then)] == ["open", "resolve"]


def test_a_reading_older_than_the_newest_is_history() -> None:
    cond = Condition("current", ">", 10.0, for_s=0)
    state = AlertState()
    assert state.observe(cond, 100, 12.0) == "open"
    assert state.observe(cond, 50, 1.0) is None  # late, does not resolve
    assert state.open
    assert state.observe(cond, 110, 1.0) == "resolve"


def test_tick_completes_a_duration_without_new_values() -> None:
    cond = flag_condition("offline", for_s=60)
    state = AlertState()
    assert state.observe(cond, 0, 1.0) is None
    assert state.tick(cond, 30) is None
    assert state.tick(cond, 61) == "open"


def test_validate_explains_nonsense() -> None:
    assert validate("power", ">", 1000, 1100, 0) == (
        'clear_threshold must not be above threshold for op ">"'
    )
    assert validate("voltage", "<", 200, 190, 0) == (
        'clear_threshold must not be below threshold for op "<"'
    )
    assert validate("watts", ">", 1, None, 0) is not None
    assert validate("power", ">", 1, None, -1) is not None
    assert validate("power", ">", 1000, 900, 30) is None


def test_local_midnight_on_dst_days() -> None:
    # Berlin springs forward on 2026-03-29 (23-hour day) and falls back on 2026-10-25.
    spring = datetime(2026, 3, 29, 20, 0, tzinfo=UTC).timestamp()
    start = local_midnight(spring, "Europe/Berlin")
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    nxt = local_midnight(spring + 6 * 3600, "Europe/Berlin")
    assert nxt - start == 23 * 3600
    autumn = datetime(2026, 10, 25, 20, 0, tzinfo=UTC).timestamp()
    a0 = local_midnight(autumn, "Europe/Berlin")
    assert local_midnight(autumn + 6 * 3600, "Europe/Berlin") - a0 == 25 * 3600
