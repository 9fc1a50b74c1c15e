"""The cost engine: energy per local day (and per rate) in, exact money out. Pure.

Energy comes in whole watt-hours per day of the tariff's zone (per rate for a time-of-use
day, see `split_slots`); money is `Decimal`, never float. Rules (docs/tariffs.md):

* A day is costed by the version in force on it (the latest `effective_from` on or before
  it; days before the first version use the first).
* Tiers count kWh per billing cycle. When the version changes inside a cycle, the cycle is
  split into segments by days and each segment's bands are the version's bands scaled by
  segment days / cycle days (to the Wh, halves up); a segment's energy fills its own
  bands. Inside a segment, each day's energy is costed at the marginal prices where it
  falls (day costs of a cycle add up to the cycle's energy cost).
* `fixed_per_day` is charged per day; `fixed_per_month` per cycle, shared out by days.
* VAT is on energy plus fixed charges.
* A bill (`meterhub.tariffs.bill`) rounds each line once to the currency's minor unit,
  VAT once on the subtotal.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from meterhub.tariffs.model import SLOTS_PER_DAY, TariffDoc, Version
from meterhub.telemetry.periods import local_midnight

__all__ = [
    "CompiledVersion",
    "DayCost",
    "Tariff",
    "Usage",
    "cost_days",
    "scale_usage",
    "scaled_edges",
    "segments",
    "split_slots",
    "tier_split",
]

Usage = Mapping[date, Sequence[int]]
"""Wh per local day, one figure per rate of that day's version (one for flat/tiered)."""
_KWH = Decimal(1000)
_ZERO = Decimal(0)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CompiledVersion:
    """A version ready for costing: prices per rate index, tier edges in Wh."""

    start: date
    kind: str
    rate_names: tuple[str, ...]
    rate_prices: tuple[Decimal, ...]
    slot_rate: tuple[tuple[int, ...], ...]
    """[weekday][quarter hour] -> rate index (time of use); all zero otherwise."""
    tier_edges_wh: tuple[int | None, ...]
    tier_prices: tuple[Decimal, ...]
    fixed_per_day: Decimal
    fixed_per_month: Decimal

    @classmethod
    def of(cls, v: Version) -> CompiledVersion:
        """Compile one validated version."""
        names: tuple[str, ...] = ("energy",)
        prices: tuple[Decimal, ...] = (v.price if v.price is not None else Decimal(0),)
        table = [[0] * SLOTS_PER_DAY for _ in range(7)]
        if v.kind == "tou" and v.rates:
            names = tuple(r.name for r in v.rates)
            prices = tuple(r.price for r in v.rates)
            default = names.index(v.default_rate or names[0])
            table = [[default] * SLOTS_PER_DAY for _ in range(7)]
            for index, rate in enumerate(v.rates):
                for window in rate.windows:
                    for day, k in window.slots():
                        table[day][k] = index
        edges: tuple[int | None, ...] = ()
        tier_prices: tuple[Decimal, ...] = ()
        if v.kind == "tiered" and v.tiers:
            edges = tuple(None if t.up_to_kwh is None else int(t.up_to_kwh * _KWH) for t in v.tiers)
            tier_prices = tuple(t.price for t in v.tiers)
        return cls(
            v.effective_from,
            v.kind,
            names,
            prices,
            tuple(tuple(row) for row in table),
            edges,
            tier_prices,
            v.fixed_per_day,
            v.fixed_per_month,
        )


@dataclass(frozen=True, slots=True)
class Tariff:
    """A tariff document compiled for the engine."""

    name: str
    currency: str
    vat_percent: Decimal
    zone: ZoneInfo
    billing_day: int
    versions: tuple[CompiledVersion, ...]
    _starts: tuple[date, ...] = field(repr=False, default=())

    @classmethod
    def of(cls, doc: TariffDoc) -> Tariff:
        """Compile a validated document (its versions are sorted by date)."""
        versions = tuple(CompiledVersion.of(v) for v in doc.versions)
        return cls(
            doc.name,
            doc.currency,
            doc.vat_percent,
            ZoneInfo(doc.timezone or "UTC"),
            doc.billing_day,
            versions,
            tuple(v.start for v in versions),
        )

    def version_on(self, day: date) -> CompiledVersion:
        """The version in force on `day` (the first one before any)."""
        return self.versions[max(0, bisect_right(self._starts, day) - 1)]

    def cycle_of(self, day: date) -> tuple[date, date]:
        """The billing cycle [start, end) holding `day`."""
        year, month = day.year, day.month
        if day.day < self.billing_day:
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        return self.cycle_starting(year, month)

    def cycle_starting(self, year: int, month: int) -> tuple[date, date]:
        """The billing cycle [start, end) that starts in `year`-`month`."""
        start = date(year, month, self.billing_day)
        nxt = date(year + 1, 1, self.billing_day) if month == 12 else date(year, month + 1, 1)
        return start, nxt.replace(day=self.billing_day)

    def applying(self, first: date, last: date) -> list[CompiledVersion]:
        """The versions in force on some day of [first, last]."""
        return [self.version_on(first), *(v for v in self.versions if first < v.start <= last)]

    def has_tou(self, first: date, last: date) -> bool:
        """Whether a time-of-use version applies on any day of [first, last]."""
        return any(v.kind == "tou" for v in self.applying(first, last))

    def hourly(self, first: date, last: date) -> bool:
        """Whether every rate on [first, last] holds for whole wall-clock hours (all
        windows start and end on the hour), so hourly energy prices as exactly as
        15-minute energy."""
        return all(
            all(len(set(row[h : h + 4])) == 1 for row in v.slot_rate for h in range(0, 96, 4))
            for v in self.applying(first, last)
        )

    def vat_of(self, amount: Decimal) -> Decimal:
        """VAT on `amount`, exact."""
        return amount * self.vat_percent / 100


def split_slots(tariff: Tariff, slots: Iterable[tuple[int, int]]) -> dict[date, list[int]]:
    """Usage per local day and rate from rollup rows `(start epoch s, Wh)`: 15-minute
    rows, or hourly ones when every rate holds for whole hours (`Tariff.hourly`).

    A slot belongs to the local day and wall-clock quarter hour of its start: on a 23-hour
    day the skipped hour has no slots, on a 25-hour day the repeated hour has two of each,
    both at the repeated wall-clock time's rate. So a DST day costs exactly its hours."""
    zone = tariff.zone
    out: dict[date, list[int]] = {}
    lo = hi = 0
    regular = True
    day = date.min
    row: Sequence[int] = ()
    bucket: list[int] = []
    for ts, wh in slots:
        if not lo <= ts < hi:
            day = datetime.fromtimestamp(ts, zone).date()
            lo = int(local_midnight(day, zone).timestamp())
            hi = int(local_midnight(day + _DAY, zone).timestamp())
            regular = hi - lo == 86400
            version = tariff.version_on(day)
            row = version.slot_rate[day.weekday()]
            bucket = out.setdefault(day, [0] * len(version.rate_names))
        if len(bucket) == 1:
            bucket[0] += wh
            continue
        if regular:
            quarter = (ts - lo) // 900
        else:  # DST day: the wall clock, not the elapsed time, picks the rate
            wall = datetime.fromtimestamp(ts, zone)
            quarter = wall.hour * 4 + wall.minute // 15
        bucket[row[quarter]] += wh
    return out


@dataclass(slots=True)
class DayCost:
    """One local day's cost, exact (unrounded)."""

    day: date
    wh: int
    energy: Decimal
    fixed: Decimal


def segments(tariff: Tariff, start: date, end: date) -> list[tuple[CompiledVersion, date, date]]:
    """Runs [a, b) of days inside [start, end) under one version."""
    out: list[tuple[CompiledVersion, date, date]] = []
    day = start
    while day < end:
        version = tariff.version_on(day)
        later = [v.start for v in tariff.versions if day < v.start < end]
        stop = min(later) if later else end
        out.append((version, day, stop))
        day = stop
    return out


def scaled_edges(version: CompiledVersion, days: int, cycle_days: int) -> list[int | None]:
    """Tier edges in Wh scaled to a segment of `days` of a `cycle_days` cycle."""
    if days == cycle_days:
        return list(version.tier_edges_wh)
    out: list[int | None] = []
    for edge in version.tier_edges_wh:
        if edge is None:
            out.append(None)
        else:
            exact = Fraction(edge * days, cycle_days)
            out.append(int(exact + Fraction(1, 2)))  # halves up, to the Wh
    return out


def tier_split(wh: int, edges: Sequence[int | None]) -> list[int]:
    """Wh per tier when `wh` fills the bands ending at `edges` in order."""
    out = []
    low = 0
    for edge in edges:
        top = wh if edge is None else min(wh, edge)
        out.append(max(0, top - low))
        if edge is not None:
            low = edge
    return out


def _tier_cost(
    used: int, wh: int, edges: Sequence[int | None], prices: Sequence[Decimal]
) -> Decimal:
    """Cost of `wh` more Wh when `used` Wh of the segment's bands are already filled."""
    total = 0 * prices[0]
    top = used + wh
    low = 0
    for edge, price in zip(edges, prices, strict=True):
        high = top if edge is None else edge
        part = min(top, high) - max(used, low)
        if part > 0:
            total += part * price
        if edge is None or edge >= top:
            break
        low = edge
    return total / _KWH


def _energy_of(version: CompiledVersion, use: Sequence[int]) -> Decimal:
    """Cost of one day's use under a flat or time-of-use version."""
    if len(use) == 1 or version.kind != "tou":
        return sum(use) * version.rate_prices[0] / _KWH
    total = Decimal(0)
    for wh, price in zip(use, version.rate_prices, strict=False):
        if wh:
            total += wh * price
    return total / _KWH


def cost_days(tariff: Tariff, usage: Usage, first: date, last: date) -> list[DayCost]:
    """Exact cost of each day of [first, last]. `usage` must hold every day with use
    from the start of the cycle of `first` (tiers count from there)."""
    out: list[DayCost] = []
    cycle_start, cycle_end = tariff.cycle_of(first)
    while cycle_start <= last:
        cycle_days = (cycle_end - cycle_start).days
        for version, seg_start, seg_end in segments(tariff, cycle_start, cycle_end):
            seg_days = (seg_end - seg_start).days
            fixed = version.fixed_per_day + version.fixed_per_month / cycle_days
            edges = scaled_edges(version, seg_days, cycle_days)
            used = 0
            day = seg_start
            while day < seg_end:
                use = usage.get(day, ())
                wh = sum(use)
                if version.kind == "tiered":
                    energy = _tier_cost(used, wh, edges, version.tier_prices) if wh else _ZERO
                else:
                    energy = _energy_of(version, use) if wh else _ZERO
                used += wh
                if first <= day <= last:
                    out.append(DayCost(day, wh, energy, fixed))
                day += _DAY
        cycle_start, cycle_end = tariff.cycle_of(cycle_end)
    return out


def scale_usage(usage: Usage, factor: Fraction) -> dict[date, list[int]]:
    """Every day's use times `factor`, to the Wh (for a projection of a cycle)."""
    return {day: [int(wh * factor + Fraction(1, 2)) for wh in use] for day, use in usage.items()}
