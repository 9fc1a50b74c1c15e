"""15-minute rollups as plain data: fold readings into per-bucket aggregates (pure).

A reading's consumption is the counter delta from the reading before it (see
`energy.counter_delta`), booked to the bucket of the *later* reading; so a bucket's energy
depends on the reading before its first one, which callers pass as `prev`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from meterhub.telemetry.energy import Delta, counter_delta
from meterhub.telemetry.periods import QUARTER_HOUR_S

# (ts seconds, voltage, current, power, energy kWh, frequency, pf): the row shape both the
# decoder's readings and stored rows are turned into.
Row = tuple[float, float, float, float, float, float | None, float | None]

ADD_COLUMNS = (
    "count",
    "energy_wh",
    "voltage_sum",
    "current_sum",
    "power_sum",
    "pf_sum",
    "pf_count",
    "frequency_sum",
    "frequency_count",
)
LOW_COLUMNS = ("voltage_min", "power_min")
HIGH_COLUMNS = ("voltage_max", "power_max", "current_max")


def bucket_of(ts: float) -> int:
    """Start (epoch s) of the 15-minute bucket holding `ts`."""
    return int(ts // QUARTER_HOUR_S) * QUARTER_HOUR_S


@dataclass(slots=True)
class Agg:
    """Partial aggregate of one device's readings in one bucket; merges by adding."""

    count: int = 0
    energy_wh: int = 0
    voltage_min: float = float("inf")
    voltage_max: float = float("-inf")
    voltage_sum: float = 0.0
    current_sum: float = 0.0
    current_max: float = float("-inf")
    power_sum: float = 0.0
    power_min: float = float("inf")
    power_max: float = float("-inf")
    pf_sum: float = 0.0
    pf_count: int = 0
    frequency_sum: float = 0.0
    frequency_count: int = 0

    def add(self, row: Row, wh: int) -> None:
        """Fold one reading and the Wh it consumed since the previous reading."""
        _, voltage, current, power, _, frequency, pf = row
        self.count += 1
        self.energy_wh += wh
        self.voltage_sum += voltage
        self.voltage_min = min(self.voltage_min, voltage)
        self.voltage_max = max(self.voltage_max, voltage)
        self.current_sum += current
        self.current_max = max(self.current_max, current)
        self.power_sum += power
        self.power_min = min(self.power_min, power)
        self.power_max = max(self.power_max, power)
        if pf is not None:
            self.pf_sum += pf
            self.pf_count += 1
        if frequency is not None:
            self.frequency_sum += frequency
            self.frequency_count += 1

    def as_row(self, device_id: int, bucket: int) -> dict[str, Any]:
        """The `rollups_15m` row."""
        return {
            "device_id": device_id,
            "bucket": bucket,
            "count": self.count,
            "energy_wh": self.energy_wh,
            "voltage_min": self.voltage_min,
            "voltage_max": self.voltage_max,
            "voltage_sum": self.voltage_sum,
            "current_sum": self.current_sum,
            "current_max": self.current_max,
            "power_sum": self.power_sum,
            "power_min": self.power_min,
            "power_max": self.power_max,
            "pf_sum": self.pf_sum,
            "pf_count": self.pf_count,
            "frequency_sum": self.frequency_sum,
            "frequency_count": self.frequency_count,
        }


def aggregate(
    rows: Iterable[Row], prev: tuple[float, float] | None
) -> tuple[dict[int, Agg], list[tuple[float, Delta]]]:
    """Fold time-ordered `rows` into buckets; `prev` is (ts, kWh) of the reading before.

    Returns the aggregates by bucket start and the counter events met (ts, Delta)."""
    aggs: dict[int, Agg] = {}
    events: list[tuple[float, Delta]] = []
    for row in rows:
        ts, energy = row[0], row[4]
        wh = 0
        if prev is not None and ts > prev[0]:
            delta = counter_delta(prev[1], prev[0], energy, ts, row[3])
            wh = delta.wh
            if delta.event is not None:
                events.append((ts, delta))
        bucket = int(ts // QUARTER_HOUR_S) * QUARTER_HOUR_S
        agg = aggs.get(bucket)
        if agg is None:
            agg = aggs[bucket] = Agg()
        agg.add(row, wh)
        prev = (ts, energy)
    return aggs, events
