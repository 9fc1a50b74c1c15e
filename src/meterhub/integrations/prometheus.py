"""Per-device figures for `/metrics`: the newest stored reading of each device the caller
may see, as Prometheus gauges labelled by serial and name.

Cardinality: 6 series per visible device (power, voltage, current, energy counter,
online, time of the newest reading); a fleet of 1,000 meters is 6,000 series. Renaming a
device starts new series (the name is a label), as Prometheus expects of labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterhub.db.models import Device, Reading, User
from meterhub.services.devices import _only_visible

if TYPE_CHECKING:
    from prometheus_client.core import Metric

GAUGES = (
    ("meterhub_device_power_watts", "power", "Active power of the newest reading (W)."),
    ("meterhub_device_voltage_volts", "voltage", "Voltage of the newest reading (V)."),
    ("meterhub_device_current_amperes", "current", "Current of the newest reading (A)."),
    (
        "meterhub_device_energy_kwh",
        "energy",
        "The meter's energy counter at the newest reading (kWh); use increase() for use.",
    ),
)
ONLINE = "meterhub_device_online"
LAST_READING = "meterhub_device_last_reading_timestamp_seconds"
METRIC_NAMES = (*(g[0] for g in GAUGES), ONLINE, LAST_READING)


@dataclass(frozen=True)
class DeviceFigures:
    serial: str
    name: str
    online: bool
    ts_ms: int | None
    power: float | None
    voltage: float | None
    current: float | None
    energy: float | None


def device_figures(db: Session, user: User) -> list[DeviceFigures]:
    """The newest reading of every device `user` may see (one statement: a primary-key
    probe per device for its newest reading)."""
    newest = (
        select(func.max(Reading.ts))
        .where(Reading.device_id == Device.id)
        .correlate(Device)
        .scalar_subquery()
    )
    query = (
        select(
            Device.serial_number,
            Device.name,
            Device.online,
            Reading.ts,
            Reading.power,
            Reading.voltage,
            Reading.current,
            Reading.energy,
        )
        .outerjoin(Reading, (Reading.device_id == Device.id) & (Reading.ts == newest))
        .order_by(Device.serial_number)
    )
    return [
        DeviceFigures(r[0], r[1] or "", bool(r[2]), r[3], r[4], r[5], r[6], r[7])
        for r in db.execute(_only_visible(query, user))
    ]


class DeviceCollector:
    """A one-shot Prometheus collector over `device_figures`."""

    def __init__(self, figures: list[DeviceFigures]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        labels = ["serial", "name"]
        for metric, attr, doc in GAUGES:
            family = GaugeMetricFamily(metric, doc, labels=labels)
            for f in self.figures:
                value = getattr(f, attr)
                if value is not None:
                    family.add_metric([f.serial, f.name], value)
            yield family
        online = GaugeMetricFamily(ONLINE, "1 when the device is online.", labels=labels)
        last = GaugeMetricFamily(LAST_READING, "Time of the newest reading.", labels=labels)
        for f in self.figures:
            online.add_metric([f.serial, f.name], 1 if f.online else 0)
            if f.ts_ms is not None:
                last.add_metric([f.serial, f.name], f.ts_ms / 1000)
        yield online
        yield last
