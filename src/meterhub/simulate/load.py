"""The active and reactive power a simulated site draws at a moment.

``SiteLoad.power(ts)`` is a pure function of (profile, seed, ts): appliance
runs are decided by hashing (seed, appliance, time slot), so any sampling
interval sees the same kettle boil at the same minute. It keeps small caches
(current slot, current hour) that make in-order sampling cheap; sampling out
of order is still correct, only slower.
"""

from __future__ import annotations

import math

from meterhub.simulate.noise import unit
from meterhub.simulate.profiles import FLAT, Appliance, Curve, Profile

DAY_S = 86400


def _table(curve: Curve) -> list[float]:
    """The curve with hour 0 repeated at the end, for interpolation to midnight."""
    return [*curve, curve[0]]


def _q_ratio(pf: float) -> float:
    """Reactive per active power (tan of the phase angle) for a power factor."""
    return math.tan(math.acos(min(max(pf, 0.05), 1.0)))


class _EventAppliance:
    """Decides and caches the runs of one event appliance, slot by slot."""

    def __init__(self, app: Appliance, key: int, scale: float) -> None:
        self.app = app
        self.key = key
        self.scale = scale
        self.weekday = _table(app.weekday)
        self.weekend = _table(app.weekend or app.weekday)
        self.q_ratio = _q_ratio(app.pf)
        self.phases = [(ph.end, ph.power_w * scale, _q_ratio(ph.pf)) for ph in app.phases]
        self._span = (0, -1)
        self._runs: list[tuple[float, float]] = []

    def _run_in(self, slot: int) -> tuple[float, float] | None:
        app = self.app
        start = slot * app.slot_s
        day = int(start // DAY_S)
        hour = int((start - day * DAY_S) // 3600)
        table = self.weekend if (day + 3) % 7 >= 5 else self.weekday
        if unit(self.key, slot, 1) >= app.rate * table[hour]:
            return None
        begin = start + unit(self.key, slot, 2) * app.slot_s
        length = app.min_s + unit(self.key, slot, 3) * (app.max_s - app.min_s)
        return begin, begin + length

    def runs_between(self, start: float, end: float) -> list[tuple[float, float]]:
        """Runs (begin, end) in local seconds that overlap [start, end]."""
        slot_s = self.app.slot_s
        first, last = int(start // slot_s) - 1, int(end // slot_s)
        if (first, last) != self._span:
            self._span = (first, last)
            self._runs = [
                run for slot in range(first, last + 1) if (run := self._run_in(slot)) is not None
            ]
        return [run for run in self._runs if run[1] > start and run[0] <= end]

    def draw(self, local: float, begin: float, end: float) -> tuple[float, float]:
        """(P, Q) at ``local`` inside the run [begin, end)."""
        app = self.app
        if app.cycle_s and (local - begin) % app.cycle_s >= app.duty * app.cycle_s:
            return 0.0, 0.0
        if self.phases:
            fraction = (local - begin) / (end - begin)
            for phase_end, watts, q_ratio in self.phases:
                if fraction < phase_end:
                    return watts, watts * q_ratio
        watts = app.power_w * self.scale
        return watts, watts * self.q_ratio


class SiteLoad:
    """All appliances of one simulated site (one meter)."""

    def __init__(self, profile: Profile, seed_key: int, utc_offset_s: int = 0) -> None:
        """Instantiate the profile's appliances with per-meter sizes and phases."""
        self.utc_offset_s = utc_offset_s
        self._key = seed_key
        self._base_p = 0.0
        self._base_q = 0.0
        self._rhythm: list[tuple[float, float, list[float], list[float]]] = []
        self._cycles: list[tuple[float, float, float, float, float, list[float], list[float]]] = []
        self._events: list[_EventAppliance] = []
        for index, app in enumerate(profile.appliances):
            key = seed_key * 131 + index
            scale = 1.0 + app.spread * (2.0 * unit(key, 0) - 1.0)
            watts = app.power_w * scale
            weekday, weekend = _table(app.weekday), _table(app.weekend or app.weekday)
            if app.kind == "base":
                self._base_p += watts
                self._base_q += watts * _q_ratio(app.pf)
            elif app.kind == "rhythm":
                self._rhythm.append((watts, _q_ratio(app.pf), weekday, weekend))
            elif app.kind == "cycle":
                period = app.period_s * (0.85 + 0.3 * unit(key, 1))
                offset = unit(key, 2) * period
                flat = app.weekday == FLAT and app.weekend in (None, FLAT)
                self._cycles.append(
                    (
                        watts,
                        _q_ratio(app.pf),
                        period,
                        app.duty,
                        offset,
                        [] if flat else weekday,
                        weekend,
                    )
                )
            elif app.kind == "event":
                self._events.append(_EventAppliance(app, key, scale))
            else:
                raise ValueError(f"appliance {app.name!r} has unknown kind {app.kind!r}")
        self._hour_key = -1
        self._levels: list[float] = []

    def power(self, ts: float) -> tuple[float, float]:
        """Return (active W, reactive var) drawn at epoch seconds ``ts``."""
        p, q = self.power_grid(ts, 0.0, 1)
        return p[0], q[0]

    def power_grid(self, t0: float, step: float, n: int) -> tuple[list[float], list[float]]:
        """Return active and reactive power at ``t0 + i * step`` for i in range(n).

        Works hour by hour: within an hour the rhythm loads are linear in
        time and the cycle duties constant, so the per-sample work is a few
        comparisons; this is what makes history generation fast.
        """
        p_out: list[float] = []
        q_out: list[float] = []
        local0 = t0 + self.utc_offset_s
        i = 0
        while i < n:
            local = local0 + i * step
            day = int(local // DAY_S)
            hour = int((local - day * DAY_S) // 3600)
            hour_start = day * DAY_S + hour * 3600.0
            left = hour_start + 3600.0 - local
            end = n if step <= 0 else min(n, i + max(1, math.ceil(left / step)))
            self._hour_segment(day, hour, hour_start, local, step, end - i, p_out, q_out)
            i = end
        return p_out, q_out

    def _hour_segment(
        self,
        day: int,
        hour: int,
        hour_start: float,
        local: float,
        step: float,
        count: int,
        p_out: list[float],
        q_out: list[float],
    ) -> None:
        weekend = (day + 3) % 7 >= 5
        hour_key = day * 24 + hour
        if hour_key != self._hour_key:
            # Rhythm loads vary hour to hour and day to day (people are not clocks).
            self._hour_key = hour_key
            self._levels = [
                0.6 + 0.8 * unit(self._key, hour_key, i) for i in range(len(self._rhythm))
            ]
        # Rhythm loads: linear in time within the hour -> a + b * (t - local).
        a_p, a_q, b_p, b_q = self._base_p, self._base_q, 0.0, 0.0
        frac0 = (local - hour_start) / 3600.0
        for (watts, q_ratio, weekday_t, weekend_t), level in zip(
            self._rhythm, self._levels, strict=True
        ):
            table = weekend_t if weekend else weekday_t
            slope = (table[hour + 1] - table[hour]) * watts * level
            value = table[hour] * watts * level + slope * frac0
            a_p += value
            a_q += value * q_ratio
            b_p += slope / 3600.0
            b_q += slope * q_ratio / 3600.0
        cycles = []
        for watts, q_ratio, period, duty, offset, weekday_t, weekend_t in self._cycles:
            if weekday_t:
                duty *= (weekend_t if weekend else weekday_t)[hour]
            if duty > 0.0:
                cycles.append((watts, watts * q_ratio, period, duty * period, offset))
        seg_end = local + count * step
        runs = [
            (begin, end, event)
            for event in self._events
            for begin, end in event.runs_between(local, seg_end)
        ]
        for k in range(count):
            dt = k * step
            t = local + dt
            p = a_p + b_p * dt
            q = a_q + b_q * dt
            for watts, vars_, period, on_s, offset in cycles:
                if (t + offset) % period < on_s:
                    p += watts
                    q += vars_
            for begin, end, event in runs:
                if begin <= t < end:
                    ep, eq = event.draw(t, begin, end)
                    p += ep
                    q += eq
            p_out.append(p)
            q_out.append(q)
