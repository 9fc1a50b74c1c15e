"""The discovery configs against Home Assistant's own rules (device classes, units, state
classes, the Energy dashboard's checks), and the state JSON's refusal of a 0 energy."""

from __future__ import annotations

import json
import math
import re

import pytest

from meterhub.integrations import ha_discovery as ha

# From HA core sensor/const.py (DEVICE_CLASS_UNITS, DEVICE_CLASS_STATE_CLASSES): the
# units and state classes HA accepts for each device class we use.
HA_UNITS: dict[str, set[str | None]] = {
    "power": {"mW", "W", "kW", "MW", "GW", "TW", "BTU/h"},
    "energy": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "current": {"A", "mA"},
    "frequency": {"Hz", "kHz", "MHz", "GHz"},
    "power_factor": {"%", None},
}
HA_STATE_CLASSES: dict[str, set[str]] = {
    "power": {"measurement"},
    "energy": {"total", "total_increasing"},
    "voltage": {"measurement"},
    "current": {"measurement"},
    "frequency": {"measurement"},
    "power_factor": {"measurement"},
    "monetary": {"total"},
}
# HA energy/validate.py: what the Energy dashboard accepts as a grid consumption sensor.
ENERGY_DASHBOARD_UNITS = {"Wh", "kWh", "MWh", "GWh", "TWh", "MJ", "GJ"}
ID_ALPHABET = re.compile(r"^[a-zA-Z0-9_-]+$")
INFO = ha.DeviceInfo(
    serial="PZ:01.a-b",
    name="Kitchen",
    firmware="2.3.0",
    location="Kitchen",
    configuration_url="http://meterhub.local:3000/devices/PZ:01.a-b",
)


def configs(currency: str | None = None) -> dict[str, dict[str, object]]:
    return ha.device_configs("homeassistant", INFO, currency)


def test_every_quantity_uses_ha_units_and_state_classes() -> None:
    for topic, config in configs("VND").items():
        dc = config["device_class"]
        assert isinstance(dc, str)
        assert config["state_class"] in HA_STATE_CLASSES[dc], topic
        if dc != "monetary":
            assert config.get("unit_of_measurement") in HA_UNITS[dc], topic


def test_energy_sensor_passes_the_energy_dashboard_checks() -> None:
    energy = configs()["homeassistant/sensor/meterhub_PZ_01_a-b/energy/config"]
    assert energy["device_class"] == "energy"
    assert energy["unit_of_measurement"] in ENERGY_DASHBOARD_UNITS
    assert energy["state_class"] == "total_increasing"
    assert energy["value_template"] == "{{ value_json.energy }}"  # always present


def test_topics_and_ids_use_ha_alphabet_and_are_unique() -> None:
    all_configs = configs("VND")
    assert len(all_configs) == 7
    unique_ids = [c["unique_id"] for c in all_configs.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    for topic, config in all_configs.items():
        prefix, component, node, object_id, last = topic.split("/")
        assert (prefix, component, last) == ("homeassistant", "sensor", "config")
        assert ID_ALPHABET.match(node) and ID_ALPHABET.match(object_id), topic
        assert config["state_topic"] == "meterhub/PZ:01.a-b/state"
        assert {"topic": "meterhub/PZ:01.a-b/availability"} in config["availability"]  # type: ignore[operator]


def test_device_block_names_the_meter() -> None:
    device = configs()["homeassistant/sensor/meterhub_PZ_01_a-b/power/config"]["device"]
    assert device == {
        "identifiers": ["meterhub_PZ_01_a-b"],
        "name": "Kitchen",
        "manufacturer": "meterhub",
        "model": "PZEM-004T v3",
        "serial_number": "PZ:01.a-b",
        "sw_version": "2.3.0",
        "suggested_area": "Kitchen",
        "configuration_url": "http://meterhub.local:3000/devices/PZ:01.a-b",
    }


def test_cost_entity_only_with_a_tariff_currency() -> None:
    assert not any("cost" in t for t in configs())
    cost = configs("VND")["homeassistant/sensor/meterhub_PZ_01_a-b/cost_month/config"]
    assert cost["device_class"] == "monetary"
    assert cost["unit_of_measurement"] == "VND"
    assert cost["state_class"] == "total"
    assert "last_reset_value_template" in cost


def test_configs_are_json() -> None:
    for config in configs("EUR").values():
        assert json.loads(json.dumps(config)) == config


def snap(energy: float, **kw: float | None) -> ha.Snapshot:
    base: dict[str, float | None] = {
        "voltage": 230.0,
        "current": 1.0,
        "power": 230.0,
        "counter_kwh": 12.5,
        "frequency": 50.0,
        "pf": 0.9,
    }
    base.update(kw)
    return ha.Snapshot(ts_ms=1_700_000_000_000, energy_total_kwh=energy, **base)  # type: ignore[arg-type]


@pytest.mark.parametrize("energy", [0.0, -1.0, math.nan, math.inf])
def test_no_state_without_a_positive_energy(energy: float) -> None:
    assert ha.state_payload(snap(energy)) is None


def test_state_carries_every_known_value_and_leaves_out_unknown_ones() -> None:
    state = ha.state_payload(snap(3.2104, frequency=None))
    assert state == {
        "energy": 3.21,
        "power": 230.0,
        "voltage": 230.0,
        "current": 1.0,
        "power_factor": 0.9,
        "meter_counter_kwh": 12.5,
        "ts": 1_700_000_000,
    }
    cost = ha.MonthCost(
        amount=1234.567, currency="VND", period_start_iso="2026-12-01T00:00:00+07:00"
    )
    with_cost = ha.state_payload(snap(1.0), cost)
    assert with_cost is not None
    assert with_cost["cost_month"] == 1234.57
    assert with_cost["cost_period_start"] == "2026-12-01T00:00:00+07:00"
