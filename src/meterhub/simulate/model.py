"""A simulated PZEM-004T meter: deterministic v1 readings from a load model.

``MeterModel(serial, profile, seed).sample(ts)`` returns one MQTT v1 reading
dict. The appliance load is a pure function of (profile, seed, ts) (see
``load.py``); the model adds the supply (voltage wander and sag, grid
frequency), measurement noise from its own seeded RNG, and the state a real
meter keeps: ``seq`` and the cumulative energy counter, integrated from power
and reset rarely (``reset_probability`` per sample, and at the PZEM's
9999.99 kWh limit). Same serial, profile, seed and timestamps give the same
readings.
"""

from __future__ import annotations

import math
import random
from typing import Any

from meterhub.simulate.load import SiteLoad
from meterhub.simulate.noise import string_key, unit
from meterhub.simulate.profiles import Profile, get_profile
from meterhub.simulate.timefmt import IsoFormatter

FIRMWARE_VERSION = "1.0.0-sim"
#: Default chance per sample that the energy counter is reset (about once a year at 10 s).
DEFAULT_RESET_PROBABILITY = 3e-7
ENERGY_LIMIT_KWH = 9999.99
_TWO_PI = 2.0 * math.pi
_DAY_RAD = _TWO_PI / 86400.0
_WANDER_RAD = _TWO_PI / 13320.0
_GRID_RAD = _TWO_PI / 1700.0


class MeterModel:
    """State and physics of one simulated meter."""

    def __init__(
        self,
        serial: str,
        profile: str | Profile = "household",
        seed: int = 0,
        *,
        utc_offset_s: int = 0,
        reset_probability: float = DEFAULT_RESET_PROBABILITY,
        energy_kwh: float | None = None,
        ip_address: str | None = None,
        iso_timestamps: bool = True,
    ) -> None:
        """Create a meter; its sizes, phases and start energy follow from (serial, seed)."""
        self.serial = serial
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        key = string_key(serial) ^ (seed * 0x9E3779B1)
        self._load = SiteLoad(self.profile, key, utc_offset_s)
        self._rng = random.Random(key)
        self.reset_probability = reset_probability
        self.energy_kwh = energy_kwh if energy_kwh is not None else 50.0 + 2950.0 * unit(key, 7)
        self.seq = 0
        self.resets = 0
        self.last_ts: float | None = None
        self.ip_address = (
            ip_address
            or f"10.{int(unit(key, 8) * 250)}.{int(unit(key, 9) * 250)}"
            f".{2 + int(unit(key, 10) * 250)}"
        )
        self.firmware_version = FIRMWARE_VERSION
        self._nominal_v = 228.0 + 6.0 * unit(key, 11)
        self._v_phase = _TWO_PI * unit(key, 12)
        self._f_phase = _TWO_PI * unit(key, 13)
        self._resistance = self.profile.line_resistance_ohm
        self._alarm_w = self.profile.alarm_threshold_w
        self._iso = IsoFormatter() if iso_timestamps else None

    def sample(self, ts: float) -> dict[str, Any]:
        """Advance to ``ts`` (epoch seconds) and return the v1 reading there."""
        return self.sample_grid(ts, 0.0, 1)[0]

    def sample_grid(self, t0: float, step: float, n: int) -> list[dict[str, Any]]:
        """Advance through ``t0 + i * step`` for i in range(n); return the n readings."""
        powers, vars_ = self._load.power_grid(t0, step, n)
        noise = self._rng.random
        sqrt, sin = math.sqrt, math.sin
        iso = self._iso
        nominal, v_phase, f_phase = self._nominal_v, self._v_phase, self._f_phase
        sag = self._resistance / 230.0
        serial, firmware, ip = self.serial, self.firmware_version, self.ip_address
        alarm_w, reset_p = self._alarm_w, self.reset_probability
        energy, last_ts, seq = self.energy_kwh, self.last_ts, self.seq
        out: list[dict[str, Any]] = []
        for i in range(n):
            ts = t0 + i * step
            p = powers[i] * (0.98 + 0.04 * noise())
            q = vars_[i] * (0.98 + 0.04 * noise())
            apparent = sqrt(p * p + q * q)
            # Grid voltage: slow daily and few-hour wander, sag over the line with load.
            volts = (
                nominal
                + 2.5 * sin(ts * _DAY_RAD + v_phase)
                + 1.2 * sin(ts * _WANDER_RAD + f_phase)
                - sag * apparent
                + 0.4 * (noise() - 0.5)
            )
            hertz = 50.0 + 0.04 * sin(ts * _GRID_RAD + f_phase) + 0.02 * (noise() - 0.5)
            if last_ts is not None and ts > last_ts:
                energy += p * (ts - last_ts) / 3_600_000.0
            last_ts = ts
            if energy >= ENERGY_LIMIT_KWH or noise() < reset_p:
                energy = 0.0
                self.resets += 1
            seq += 1
            out.append(
                {
                    "serial_number": serial,
                    "seq": seq,
                    "timestamp": iso(ts) if iso is not None else round(ts, 3),
                    "voltage": round(volts * 10.0) / 10.0,
                    "current": round(apparent / volts * 1000.0) / 1000.0,
                    "power": round(p * 10.0) / 10.0,
                    "energy": round(energy * 1000.0) / 1000.0,
                    "frequency": round(hertz * 100.0) / 100.0,
                    "pf": round(p / apparent * 100.0) / 100.0 if apparent > 0.0 else 1.0,
                    "alarm": p > alarm_w,
                    "firmware_version": firmware,
                    "ip_address": ip,
                }
            )
        self.energy_kwh, self.last_ts, self.seq = energy, last_ts, seq
        return out
