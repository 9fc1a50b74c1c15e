"""The load model: deterministic, physically consistent, with daily and weekly rhythm."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterhub.simulate import PROFILES, MeterModel

T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC, a Monday
DAY = 86400.0


def _run(model: MeterModel, start: float, seconds: float, step: float) -> list[dict[str, Any]]:
    return model.sample_grid(start, step, int(seconds / step))


def test_same_seed_same_readings_other_seed_differs() -> None:
    a = _run(MeterModel("PZEM-AAAAAA", "household", seed=7), T0, 6 * 3600, 10)
    b = _run(MeterModel("PZEM-AAAAAA", "household", seed=7), T0, 6 * 3600, 10)
    c = _run(MeterModel("PZEM-AAAAAA", "household", seed=8), T0, 6 * 3600, 10)
    assert a == b
    assert [r["power"] for r in a] != [r["power"] for r in c]


def test_sample_by_sample_matches_the_grid() -> None:
    grid = _run(MeterModel("PZEM-1", "office", seed=3), T0, 3 * 3600, 10)
    single = MeterModel("PZEM-1", "office", seed=3)
    one_by_one = [single.sample(T0 + i * 10) for i in range(len(grid))]
    assert [r["seq"] for r in one_by_one] == [r["seq"] for r in grid]
    for x, y in zip(one_by_one, grid, strict=True):
        assert x["timestamp"] == y["timestamp"]
        assert x["power"] == pytest.approx(y["power"], abs=0.11)
        assert x["energy"] == pytest.approx(y["energy"], abs=0.002)


def test_reading_has_the_v1_fields() -> None:
    reading = MeterModel("PZEM-1A2B3C").sample(T0)
    assert list(reading) == [
        "serial_number",
        "seq",
        "timestamp",
        "voltage",
        "current",
        "power",
        "energy",
        "frequency",
        "pf",
        "alarm",
        "firmware_version",
        "ip_address",
    ]
    assert reading["serial_number"] == "PZEM-1A2B3C"
    assert reading["seq"] == 1
    assert reading["timestamp"] == "2025-11-24T16:00:00Z"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_values_are_physically_consistent(profile: str) -> None:
    readings = _run(MeterModel(f"PZEM-{profile}", profile, seed=1), T0, 2 * DAY, 10)
    for r in readings:
        assert 80 <= r["voltage"] <= 260
        assert 45 <= r["frequency"] <= 65 and abs(r["frequency"] - 50) < 0.2
        assert 0 < r["pf"] <= 1
        assert 0 <= r["current"] <= 100 and 0 <= r["power"] <= 23000
        # current = P / (V * pf), within the rounding of the reported values
        expected = r["power"] / (r["voltage"] * r["pf"])
        assert r["current"] == pytest.approx(expected, rel=0.012, abs=0.002)
    # Load switches: the power is not a flat line.
    powers = [r["power"] for r in readings]
    assert max(powers) > 3 * min(powers)


def test_energy_is_the_integral_of_power() -> None:
    readings = _run(MeterModel("PZEM-E", "household", seed=2, reset_probability=0), T0, DAY, 10)
    integral_kwh = sum(r["power"] * 10 for r in readings[1:]) / 3_600_000
    gained = readings[-1]["energy"] - readings[0]["energy"]
    assert gained == pytest.approx(integral_kwh, rel=0.005, abs=0.002)
    assert all(b["energy"] >= a["energy"] for a, b in itertools.pairwise(readings))


def test_energy_is_monotone_except_at_rare_resets() -> None:
    model = MeterModel("PZEM-R", "workshop", seed=4, reset_probability=0.001)
    readings = _run(model, T0, DAY, 10)
    drops = [b for a, b in itertools.pairwise(readings) if b["energy"] < a["energy"]]
    assert model.resets >= 1
    assert len(drops) == model.resets
    assert all(r["energy"] < 0.1 for r in drops)  # a reset starts again from zero


def test_evening_power_exceeds_4am_power_over_weeks() -> None:
    readings = _run(MeterModel("PZEM-D", "household", seed=5), T0, 21 * DAY, 60)
    by_hour: dict[int, list[float]] = {}
    for r in readings:
        hour = dt.datetime.fromisoformat(r["timestamp"]).hour
        by_hour.setdefault(hour, []).append(r["power"])
    mean = {h: sum(v) / len(v) for h, v in by_hour.items()}
    evening = sum(mean[h] for h in (18, 19, 20, 21)) / 4
    assert evening > 2 * mean[4]


def test_office_is_busier_on_weekdays() -> None:
    readings = _run(MeterModel("PZEM-O", "office", seed=6), T0, 14 * DAY, 300)
    weekday = [
        r["power"]
        for r in readings
        if dt.datetime.fromisoformat(r["timestamp"]).weekday() < 5
        and 10 <= dt.datetime.fromisoformat(r["timestamp"]).hour < 16
    ]
    weekend = [
        r["power"]
        for r in readings
        if dt.datetime.fromisoformat(r["timestamp"]).weekday() >= 5
        and 10 <= dt.datetime.fromisoformat(r["timestamp"]).hour < 16
    ]
    assert sum(weekday) / len(weekday) > 2 * sum(weekend) / len(weekend)


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown load profile 'factory': choose one of"):
        MeterModel("PZEM-X", "factory")


@settings(max_examples=60, deadline=None)
@given(
    ts=st.floats(min_value=0, max_value=4e9),
    seed=st.integers(0, 2**32),
    profile=st.sampled_from(sorted(PROFILES)),
)
def test_any_moment_gives_a_valid_reading(ts: float, seed: int, profile: str) -> None:
    r = MeterModel("PZEM-H", profile, seed).sample(ts)
    assert 80 <= r["voltage"] <= 260 and 0 < r["pf"] <= 1 and r["power"] >= 0
