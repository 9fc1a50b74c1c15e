"""ESPHome pzemac state messages: names to quantities, Wh to kWh, and rounds of single
values assembled into the Reading a v1 message with those values gives."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterhub.protocol.esphome import MAX_ROUNDS, ROUND_WINDOW_S, Rounds, decode_status, quantity
from meterhub.protocol.readings import Reading, decode_data
from meterhub.protocol.rejects import Reject
from meterhub.protocol.status import StatusUpdate

NOW = 1_796_000_000.0
SIX = {
    "pzem_voltage": "230.1",
    "pzem_current": "1.52",
    "pzem_power": "345.6",
    "pzem_energy": "12345",  # Wh
    "pzem_frequency": "50.0",
    "pzem_power_factor": "0.98",
}


def feed(
    rounds: Rounds, values: dict[str, str], at: float = NOW, prefix: str = "kitchen"
) -> tuple[list[Reading], list[Reject]]:
    readings: list[Reading] = []
    rejects: list[Reject] = []
    for n, (name, value) in enumerate(values.items()):
        topic = f"{prefix}/sensor/{name}/state"
        got, bad = rounds.add(topic, prefix, name, value.encode(), at + n * 0.01)
        readings += got
        rejects += bad
    return readings, rejects


@pytest.mark.parametrize(
    ("object_id", "field"),
    [
        ("voltage", "voltage"),
        ("pzem_voltage", "voltage"),
        ("kitchen_pzem_current", "current"),
        ("power", "power"),
        ("pzem_power_factor", "pf"),
        ("power_factor", "pf"),
        ("pzem_energy", "energy"),
        ("frequency", "frequency"),
        ("pzem_temperature", None),
        ("wattage", None),
        ("superpower", None),
    ],
)
def test_names_to_quantities(object_id: str, field: str | None) -> None:
    assert quantity(object_id) == field


def test_six_values_are_one_reading_like_v1() -> None:
    readings, rejects = feed(Rounds(), SIX)
    v1 = {
        "voltage": 230.1,
        "current": 1.52,
        "power": 345.6,
        "energy": 12.345,
        "frequency": 50.0,
        "pf": 0.98,
    }
    want = decode_data("meter/kitchen/data", orjson.dumps(v1), NOW).readings
    assert rejects == [] and readings == want


def test_four_values_wait_for_the_next_round() -> None:
    rounds = Rounds()
    four = {k: v for k, v in SIX.items() if "freq" not in k and "factor" not in k}
    assert feed(rounds, four) == ([], [])
    readings, rejects = feed(rounds, four, at=NOW + 10)
    assert rejects == [] and len(readings) == 1
    assert (readings[0].ts, readings[0].energy, readings[0].pf) == (NOW, 12.345, None)


def test_a_late_value_starts_a_new_round_and_an_incomplete_one_is_rejected() -> None:
    rounds = Rounds()
    assert feed(rounds, {"pzem_voltage": "230"}) == ([], [])
    readings, rejects = feed(rounds, {"pzem_power": "10"}, at=NOW + ROUND_WINDOW_S + 0.5)
    assert readings == [] and [r.reason for r in rejects] == ["incomplete_reading"]
    assert "current, energy, power" in rejects[0].detail and rejects[0].serial == "kitchen"


def test_devices_are_assembled_apart() -> None:
    rounds = Rounds()
    a, _ = feed(rounds, dict(list(SIX.items())[:3]), prefix="a")
    b, _ = feed(rounds, SIX, prefix="b")
    c, _ = feed(rounds, dict(list(SIX.items())[3:]), prefix="a")
    assert (a, [r.serial for r in b], [r.serial for r in c]) == ([], ["b"], ["a"])


def test_bad_values_are_rejected_and_left_out() -> None:
    rounds = Rounds()
    cases = {"pzem_voltage": "nan", "pzem_current": "abc", "pzem_power": "-5", "pzem_temp": "20"}
    readings, rejects = feed(rounds, cases)
    assert readings == []
    assert [r.reason for r in rejects] == [
        "wrong_type",
        "wrong_type",
        "out_of_range",
        "unknown_field",
    ]
    assert rejects[0].field == "voltage" and "'nan'" in rejects[0].detail
    _, too_much = feed(rounds, {"pzem_energy": "99999999"})  # Wh: 99999.999 kWh
    assert [r.reason for r in too_much] == ["out_of_range"] and "kWh" in too_much[0].detail


def test_open_rounds_are_bounded() -> None:
    rounds = Rounds(max_rounds=3)
    rejects: list[Reject] = []
    for n in range(5):
        rejects += feed(rounds, {"pzem_voltage": "230"}, prefix=f"d{n}")[1]
    assert [r.serial for r in rejects] == ["d0", "d1"]
    assert MAX_ROUNDS >= 1000


def test_status() -> None:
    on = decode_status("kitchen/status", "kitchen", b"online", NOW)
    off = decode_status("kitchen/status", "kitchen", b"offline", NOW)
    assert isinstance(on, StatusUpdate) and (on.serial, on.online) == ("kitchen", True)
    assert isinstance(off, StatusUpdate) and not off.online
    assert isinstance(decode_status("x/status", "x", b"{}", NOW), Reject)


@given(st.lists(st.tuples(st.sampled_from(sorted(SIX)), st.text(max_size=8)), max_size=30))
def test_never_raises_and_every_reading_is_in_range(items: list[tuple[str, str]]) -> None:
    rounds = Rounds()
    for n, (name, value) in enumerate(items):
        readings, _ = rounds.add(f"p/sensor/{name}/state", "p", name, value.encode(), NOW + n)
        for r in readings:
            assert 80 <= r.voltage <= 260 and 0 <= r.energy <= 9999.999
