"""Home Assistant MQTT discovery: the retained config messages and the state JSON, as pure
functions on plain data (the publisher in `ha_publisher` only sends what these return).

One config per entity, at `<prefix>/sensor/meterhub_<serial>/<quantity>/config` (the
per-entity form every HA release since 2021 accepts). Units, device classes and state
classes are HA's exact strings: the Energy dashboard accepts `energy` only with `kWh`
(or Wh) and `total`/`total_increasing`, and `tests/integrations` checks each config
against those rules.

Energy is the one value HA must never see go wrong: with `total_increasing`, a value
below 90 % of the previous one is booked as a new meter (a "reset"), so a 0 or a
placeholder would double-count the whole meter. `state_payload` therefore refuses to
produce a state without a positive energy, and the energy it reports is meterhub's own
lifetime total (see `EnergyTotal`), which a meter restart, a counter reset or a wrap
cannot lower.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from meterhub import __version__

ORIGIN = {"name": "meterhub", "sw": __version__}
BRIDGE_AVAILABILITY_TOPIC = "meterhub/bridge/availability"
ONLINE, OFFLINE = "online", "offline"
NODE_PREFIX = "meterhub_"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


@dataclass(frozen=True)
class Quantity:
    """One sensor of a meter: its JSON key in the state, and HA's classes and unit."""

    key: str
    name: str
    device_class: str
    unit: str | None
    state_class: str
    precision: int
    optional: bool = False
    """May be missing from a state (the meter does not always report it)."""


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("power", "Power", "power", "W", "measurement", 1),
    Quantity("energy", "Energy", "energy", "kWh", "total_increasing", 3),
    Quantity("voltage", "Voltage", "voltage", "V", "measurement", 1),
    Quantity("current", "Current", "current", "A", "measurement", 3),
    Quantity("frequency", "Frequency", "frequency", "Hz", "measurement", 1, optional=True),
    Quantity("power_factor", "Power factor", "power_factor", None, "measurement", 2, True),
)


@dataclass(frozen=True)
class DeviceInfo:
    """What HA shows on its device page."""

    serial: str
    name: str | None
    model: str = "PZEM-004T v3"
    firmware: str | None = None
    location: str | None = None
    configuration_url: str | None = None


@dataclass(frozen=True)
class MonthCost:
    """The month-to-date cost of a device, from the tariffs (see `CostSource`)."""

    amount: float
    currency: str
    """ISO 4217 code, e.g. "VND": HA's unit for a `monetary` sensor."""
    period_start_iso: str
    """When the billing month began (HA's `last_reset`)."""


def node_id(serial: str) -> str:
    """The discovery node id of a device: `meterhub_` + the serial in HA's id alphabet."""
    return NODE_PREFIX + _UNSAFE.sub("_", serial)


def state_topic(serial: str) -> str:
    """Where the device's state JSON is published."""
    return f"meterhub/{serial}/state"


def availability_topic(serial: str) -> str:
    """Where `online`/`offline` of the device is published."""
    return f"meterhub/{serial}/availability"


def config_topic(prefix: str, serial: str, key: str) -> str:
    """The retained config topic of one entity."""
    return f"{prefix}/sensor/{node_id(serial)}/{key}/config"


def _device_block(info: DeviceInfo) -> dict[str, Any]:
    block: dict[str, Any] = {
        "identifiers": [node_id(info.serial)],
        "name": info.name or f"Meter {info.serial}",
        "manufacturer": "meterhub",
        "model": info.model,
        "serial_number": info.serial,
    }
    if info.firmware:
        block["sw_version"] = info.firmware
    if info.location:
        block["suggested_area"] = info.location
    if info.configuration_url:
        block["configuration_url"] = info.configuration_url
    return block


def _common(info: DeviceInfo, key: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "unique_id": f"{node_id(info.serial)}_{key}",
        "state_topic": state_topic(info.serial),
        "availability": [
            {"topic": BRIDGE_AVAILABILITY_TOPIC},
            {"topic": availability_topic(info.serial)},
        ],
        "availability_mode": "all",
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": _device_block(info),
        "origin": ORIGIN,
    }


def sensor_config(info: DeviceInfo, quantity: Quantity) -> dict[str, Any]:
    """The discovery config of one quantity of one device."""
    config = _common(info, quantity.key, quantity.name)
    config["device_class"] = quantity.device_class
    config["state_class"] = quantity.state_class
    if quantity.unit is not None:
        config["unit_of_measurement"] = quantity.unit
    config["suggested_display_precision"] = quantity.precision
    if quantity.optional:
        # Keep the last value when a state lacks this quantity (never an empty string).
        config["value_template"] = (
            f"{{{{ value_json.{quantity.key} if value_json.{quantity.key} is defined "
            "else this.state }}"
        )
    else:
        config["value_template"] = f"{{{{ value_json.{quantity.key} }}}}"
    return config


def cost_config(info: DeviceInfo, currency: str) -> dict[str, Any]:
    """The month's cost as a `monetary` total that restarts each billing month."""
    config = _common(info, "cost_month", "Cost this month")
    config.update(
        {
            "device_class": "monetary",
            "state_class": "total",
            "unit_of_measurement": currency,
            "value_template": "{{ value_json.cost_month }}",
            "last_reset_value_template": "{{ value_json.cost_period_start }}",
            "suggested_display_precision": 0,
        }
    )
    return config


def device_configs(
    prefix: str, info: DeviceInfo, currency: str | None = None
) -> dict[str, dict[str, Any]]:
    """Every config message of a device, by topic; the cost entity only with a currency."""
    configs = {config_topic(prefix, info.serial, q.key): sensor_config(info, q) for q in QUANTITIES}
    if currency is not None:
        configs[config_topic(prefix, info.serial, "cost_month")] = cost_config(info, currency)
    return configs


@dataclass(frozen=True)
class Snapshot:
    """The newest stored reading of a device, and its lifetime energy total."""

    ts_ms: int
    voltage: float
    current: float
    power: float
    counter_kwh: float
    frequency: float | None
    pf: float | None
    energy_total_kwh: float
    """meterhub's own count of what this meter used since meterhub first saw it: the sum
    of the counted consumption (resets, wraps and swaps already handled by ingest), so it
    only ever grows."""


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def state_payload(snap: Snapshot, cost: MonthCost | None = None) -> dict[str, Any] | None:
    """The state JSON for HA, or None when it must not be sent: no positive, finite
    energy yet (a 0 would read as a meter reset). Missing optional values are left out."""
    energy = snap.energy_total_kwh
    if not _finite(energy) or energy <= 0:
        return None
    state: dict[str, Any] = {"energy": round(energy, 3)}
    for key, value in (
        ("power", snap.power),
        ("voltage", snap.voltage),
        ("current", snap.current),
        ("frequency", snap.frequency),
        ("power_factor", snap.pf),
    ):
        if _finite(value):
            state[key] = value
    if _finite(snap.counter_kwh):
        state["meter_counter_kwh"] = snap.counter_kwh
    state["ts"] = snap.ts_ms // 1000
    if cost is not None:
        state["cost_month"] = round(cost.amount, 2)
        state["cost_period_start"] = cost.period_start_iso
    return state
