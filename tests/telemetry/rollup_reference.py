"""The plain way to fold readings into 15-minute aggregates, field by field, one reading at a
time: the oracle that ingest's fast `rollup.aggregate` is checked against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meterhub.telemetry.energy import counter_delta
from meterhub.telemetry.rollup import STAT_COLUMNS, Row


@dataclass
class Agg:
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

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in STAT_COLUMNS}


def reference_aggregate(
    rows: list[Row], prev: tuple[float, float] | None
) -> tuple[dict[int, dict[str, Any]], list[tuple[float, str]]]:
    """Aggregates by bucket start (as dicts) and the counter events (ts, kind)."""
    aggs: dict[int, Agg] = {}
    events: list[tuple[float, str]] = []
    for row in rows:
        ts, energy = row[0], row[4]
        wh = 0
        if prev is not None and ts > prev[0]:
            delta = counter_delta(prev[1], prev[0], energy, ts, row[3])
            wh = delta.wh
            if delta.event is not None:
                events.append((ts, delta.event))
        aggs.setdefault(int(ts // 900) * 900, Agg()).add(row, wh)
        prev = (ts, energy)
    return {b: a.as_dict() for b, a in aggs.items()}, events
