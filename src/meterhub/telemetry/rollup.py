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
COARSE_ADD_COLUMNS = ("slots", *ADD_COLUMNS)


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


# -- hourly and daily rollups ---------------------------------------------------------
HOUR_S = 3600
DAY_S = 86400
COARSE_WIDTHS = (HOUR_S, DAY_S)
MIN_COLUMNS = LOW_COLUMNS
MAX_COLUMNS = HIGH_COLUMNS


def coarsen(rows: list[dict[str, Any]], width: int, new_slots: set[tuple[int, int]]
            ) -> list[dict[str, Any]]:
    """Merge 15-minute rows into `width`-second rows; `slots` counts the 15-minute buckets
    in `new_slots` (those that did not exist before this batch)."""
    merged: dict[tuple[int, int], dict[str, Any]] = {}
    for row in rows:
        key = (row["device_id"], row["bucket"] // width * width)
        slot = 1 if (row["device_id"], row["bucket"]) in new_slots else 0
        into = merged.get(key)
        if into is None:
            merged[key] = {**row, "bucket": key[1], "slots": slot}
            continue
        into["slots"] += slot
        for column in ADD_COLUMNS:
            into[column] += row[column]
        for column in MIN_COLUMNS:
            into[column] = min(into[column], row[column])
        for column in MAX_COLUMNS:
            into[column] = max(into[column], row[column])
    return list(merged.values())


def cover(start: int, end: int, widths: tuple[int, ...] = (DAY_S, HOUR_S, QUARTER_HOUR_S)
          ) -> list[tuple[int, int, int]]:
    """Split [start, end) (quarter-hour aligned, epoch s) into the fewest rollup pieces:
    (width, lo, hi) with lo and hi multiples of width, coarsest in the middle."""
    if start >= end:
        return []
    width, finer = widths[0], widths[1:]
    lo = -(-start // width) * width
    hi = end // width * width
    if not finer:
        return [(width, start, end)]
    if lo >= hi:
        return cover(start, end, finer)
    return [*cover(start, lo, finer), (width, lo, hi), *cover(hi, end, finer)]
