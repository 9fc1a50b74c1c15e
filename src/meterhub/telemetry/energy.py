"""Energy used, from the PZEM-004T's cumulative kWh counter. Pure functions on plain data.

The counter (PZEM.md) has 1 Wh resolution, runs 0..9999.99 kWh, wraps to 0 past the top
and goes to 0 on the reset command. A board moved to another meter (a "device swap")
makes it jump to an unrelated value. All arithmetic is in integer watt-hours: counter
values are rounded to 1 Wh (the meter's resolution), so sums are exact and float noise
from firmware (float32 kWh) can never fake a drop.

One step ``prev -> cur`` over ``elapsed = cur_ts - prev_ts`` seconds (a negative elapsed
counts as 0: the caller orders readings by time; small inversions from clock jitter are
tolerated, not reordered). The most the meter can have counted in that time is::

    allowed_wh = MAX_POWER_W * (elapsed * (1 + POWER_TOLERANCE) + TIME_JITTER_S) / 3600

(23 kW, +10 %, plus 60 s of slack for timestamp jitter: about 383 Wh even at equal
timestamps). Then:

* ``cur >= prev``: a rise up to ``allowed_wh`` is consumption (event None); a larger rise
  is physically impossible: event ``"jump"``, delta 0 (never invent consumption).
* ``cur < prev`` (a drop):

  - ``"wrap"``: prev within WRAP_WINDOW_KWH (100 kWh) of the top, cur within 100 kWh of
    zero, and ``10000 kWh - prev + cur <= allowed_wh``: delta is that sum;
  - ``"reset"``: otherwise, if ``cur <= allowed_wh`` the counter restarted from 0 since
    prev: delta = cur. What was used between prev and the reset is unknown and not
    counted, so this is a lower bound;
  - ``"swap"``: any other drop (an unrelated counter): delta 0.

After any step, ``cur`` is the new baseline. ``jump`` and ``swap`` both mean "the counter
now belongs to another series": report them (a device swap, a bad read), never bill them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

__all__ = [
    "COUNTER_MODULUS_KWH",
    "MAX_POWER_W",
    "Consumption",
    "CounterEvent",
    "CounterTracker",
    "Delta",
    "EventKind",
    "allowed_wh",
    "consumption",
    "counter_delta",
]

COUNTER_MODULUS_KWH: Final = 10000.0
"""The counter shows 0..9999.99 kWh and wraps to 0: it counts modulo 10,000 kWh."""
MAX_POWER_W: Final = 23000.0
"""Highest power the PZEM-004T v3 (100 A model) measures."""
POWER_TOLERANCE: Final = 0.10
"""Relative slack on MAX_POWER_W (meter and clock error)."""
TIME_JITTER_S: Final = 60.0
"""Absolute slack on elapsed time: receive-time stamps and batched delivery jitter."""
WRAP_WINDOW_KWH: Final = 100.0
"""A drop is a wrap only from the top 100 kWh to the bottom 100 kWh."""

_MODULUS_WH: Final = 10_000_000
_WRAP_WINDOW_WH: Final = 100_000

EventKind = Literal["reset", "wrap", "swap", "jump"]


class Delta(NamedTuple):
    """Energy used over one counter step, in whole Wh, and what happened to the counter."""

    wh: int
    """Consumption in watt-hours, never negative."""
    event: EventKind | None = None
    detail: str | None = None
    """Human explanation, set when ``event`` is."""

    @property
    def kwh(self) -> float:
        """Consumption in kWh (``wh / 1000``), never negative."""
        return self.wh / 1000.0


@dataclass(slots=True, frozen=True)
class CounterEvent:
    """A non-ordinary counter step found by :func:`consumption`."""

    ts: float
    """Time of the reading after the step (epoch seconds)."""
    event: EventKind
    prev_kwh: float
    cur_kwh: float
    kwh: float
    """What the step contributed to the total."""
    detail: str


@dataclass(slots=True)
class Consumption:
    """Total energy used over a series and the counter events met on the way."""

    wh: int = 0
    events: list[CounterEvent] = field(default_factory=list)
    readings: int = 0
    """How many (ts, kwh) pairs were read."""

    @property
    def kwh(self) -> float:
        """Total in kWh."""
        return self.wh / 1000.0


def allowed_wh(elapsed_s: float) -> float:
    """Most Wh the meter can count in ``elapsed_s`` seconds (with tolerance and jitter)."""
    elapsed = elapsed_s if elapsed_s > 0.0 else 0.0
    return MAX_POWER_W * (elapsed * (1.0 + POWER_TOLERANCE) + TIME_JITTER_S) / 3600.0


def _to_wh(kwh: float, name: str) -> int:
    if not (0.0 <= kwh < COUNTER_MODULUS_KWH):  # also refuses NaN
        raise ValueError(f"{name} {kwh!r} kWh is outside the counter range 0-9999.99")
    return round(kwh * 1000.0)


def counter_delta(
    prev_kwh: float,
    prev_ts: float,
    cur_kwh: float,
    cur_ts: float,
    power_w: float | None = None,
) -> Delta:
    """Energy used between two readings of the same counter (see the module doc).

    Timestamps are epoch seconds. ``power_w`` (the later reading's power) only enriches
    the detail of an event; the decision rests on the counter and the elapsed time.
    Raises ValueError for counter values outside 0..9999.99 kWh or NaN.
    """
    prev = _to_wh(prev_kwh, "previous energy")
    cur = _to_wh(cur_kwh, "energy")
    elapsed = cur_ts - prev_ts
    if cur >= prev:
        rise = cur - prev
        if rise <= allowed_wh(elapsed):
            return Delta(rise)
        return Delta(
            0,
            "jump",
            f"counter rose {prev_kwh:g} -> {cur_kwh:g} kWh in {_span(elapsed)}, more than "
            f"{MAX_POWER_W / 1000:g} kW allows{_power(power_w)}; not counted",
        )
    limit = allowed_wh(elapsed)
    if prev >= _MODULUS_WH - _WRAP_WINDOW_WH and cur <= _WRAP_WINDOW_WH:
        wrapped = _MODULUS_WH - prev + cur
        if wrapped <= limit:
            return Delta(
                wrapped,
                "wrap",
                f"counter wrapped {prev_kwh:g} -> {cur_kwh:g} kWh (counted {wrapped / 1000:g} kWh)",
            )
    if cur <= limit:
        return Delta(
            cur,
            "reset",
            f"counter reset {prev_kwh:g} -> {cur_kwh:g} kWh in {_span(elapsed)}; "
            f"counted {cur_kwh:g} kWh since the reset",
        )
    return Delta(
        0,
        "swap",
        f"counter dropped {prev_kwh:g} -> {cur_kwh:g} kWh in {_span(elapsed)}, neither a "
        f"wrap nor a reset (another meter?){_power(power_w)}; not counted",
    )


def consumption(readings: Iterable[tuple[float, float]]) -> Consumption:
    """Total energy used over time-ordered ``(ts, kwh)`` pairs, with the counter events.

    Sums :func:`counter_delta` over consecutive pairs, so totals are additive: the parts
    of a series split at a reading (that reading ending one part and starting the next)
    add up to the whole. Fewer than two readings give 0.
    """
    result = Consumption()
    events = result.events
    total = 0
    count = 0
    prev_ts = 0.0
    prev_kwh = 0.0
    for ts, kwh in readings:
        if count:
            delta = counter_delta(prev_kwh, prev_ts, kwh, ts)
            total += delta.wh
            if delta.event is not None:
                events.append(
                    CounterEvent(ts, delta.event, prev_kwh, kwh, delta.kwh, delta.detail or "")
                )
        else:
            _to_wh(kwh, "energy")
        prev_ts, prev_kwh = ts, kwh
        count += 1
    result.wh = total
    result.readings = count
    return result


class CounterTracker:
    """Running consumption of one counter, fed reading by reading (no I/O, no clock).

    Readings older than the last one fed are ignored (``feed`` returns None): a backfill
    into an already summed range is recomputed from stored rows with :func:`consumption`.
    """

    __slots__ = ("last_kwh", "last_ts", "total_wh")

    def __init__(self) -> None:
        """Start with no baseline."""
        self.last_ts: float | None = None
        self.last_kwh = 0.0
        self.total_wh = 0

    def feed(self, ts: float, kwh: float, power_w: float | None = None) -> Delta | None:
        """Add one reading; the step from the previous one, or None for a first or late one."""
        last_ts = self.last_ts
        if last_ts is None:
            _to_wh(kwh, "energy")
            self.last_ts, self.last_kwh = ts, kwh
            return None
        if ts < last_ts:
            return None
        delta = counter_delta(self.last_kwh, last_ts, kwh, ts, power_w)
        self.last_ts, self.last_kwh = ts, kwh
        self.total_wh += delta.wh
        return delta


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{max(seconds, 0.0):.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _power(power_w: float | None) -> str:
    if power_w is None or not math.isfinite(power_w):
        return ""
    return f" (meter shows {power_w:g} W)"
