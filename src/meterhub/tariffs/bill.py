"""The bill of a billing cycle: a line per tier, rate or fixed charge, each rounded once
to the currency's minor unit; VAT on the subtotal, rounded once. Pure (see `engine` for
the rules of versions, tiers and fixed charges)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from meterhub.tariffs.engine import (
    CompiledVersion,
    Tariff,
    Usage,
    scaled_edges,
    segments,
    tier_split,
)
from meterhub.tariffs.money import round_money

__all__ = ["Bill", "BillLine", "bill"]

_KWH = Decimal(1000)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line of a bill; `amount` is rounded to the minor unit."""

    label: str
    kind: str  # "energy" or "fixed"
    quantity: Decimal
    unit: str  # "kWh", "day" or "month"
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Bill:
    """A billing cycle's bill; every money figure rounded to the minor unit."""

    currency: str
    start: date
    end: date  # exclusive
    wh: int
    lines: tuple[BillLine, ...]
    fixed: Decimal
    subtotal: Decimal
    vat: Decimal
    total: Decimal


def bill(tariff: Tariff, cycle_start: date, usage: Usage) -> Bill:
    """The bill of the cycle starting on `cycle_start` (see the module docs for the rules)."""
    start, end = tariff.cycle_of(cycle_start)
    cycle_days = (end - start).days
    parts = segments(tariff, start, end)
    lines: list[BillLine] = []
    total_wh = 0
    for version, seg_start, seg_end in parts:
        seg_days = (seg_end - seg_start).days
        suffix = f", {seg_start:%d %b}-{seg_end - _DAY:%d %b}" if len(parts) > 1 else ""
        per_rate = [0] * len(version.rate_names)
        day = seg_start
        while day < seg_end:
            use = usage.get(day, ())
            if len(use) == len(per_rate):
                for i, wh in enumerate(use):
                    per_rate[i] += wh
            else:  # a day split for another version's rates: its total counts
                per_rate[0] += sum(use)
            day += _DAY
        seg_wh = sum(per_rate)
        total_wh += seg_wh
        lines += _energy_lines(tariff, version, per_rate, seg_days, cycle_days, suffix)
        lines += _fixed_lines(tariff, version, seg_days, cycle_days, suffix)
    subtotal = sum((line.amount for line in lines), Decimal(0))
    fixed = sum((line.amount for line in lines if line.kind == "fixed"), Decimal(0))
    vat = round_money(tariff.vat_of(subtotal), tariff.currency)
    return Bill(
        tariff.currency, start, end, total_wh, tuple(lines), fixed, subtotal, vat, subtotal + vat
    )


def _line(
    tariff: Tariff, label: str, kind: str, qty: Decimal, unit: str, price: Decimal
) -> BillLine:
    return BillLine(label, kind, qty, unit, price, round_money(qty * price, tariff.currency))


def _kwh(wh: int) -> Decimal:
    return Decimal(wh) / _KWH


def _energy_lines(
    tariff: Tariff,
    version: CompiledVersion,
    per_rate: list[int],
    seg_days: int,
    cycle_days: int,
    suffix: str,
) -> list[BillLine]:
    if version.kind == "tiered":
        edges = scaled_edges(version, seg_days, cycle_days)
        out = []
        low = 0
        for i, (part, price, edge) in enumerate(
            zip(tier_split(sum(per_rate), edges), version.tier_prices, edges, strict=True), 1
        ):
            band = (
                f"{_kwh(low):g}-{_kwh(edge):g} kWh"
                if edge is not None
                else f"over {_kwh(low):g} kWh"
            )
            if part:
                out.append(
                    _line(tariff, f"Tier {i} ({band}{suffix})", "energy", _kwh(part), "kWh", price)
                )
            low = edge if edge is not None else low
        return out
    if version.kind == "tou":
        return [
            _line(tariff, f"{name}{suffix}", "energy", _kwh(wh), "kWh", price)
            for name, price, wh in zip(
                version.rate_names, version.rate_prices, per_rate, strict=True
            )
            if wh
        ]
    wh = sum(per_rate)
    return (
        [_line(tariff, f"Energy{suffix}", "energy", _kwh(wh), "kWh", version.rate_prices[0])]
        if wh
        else []
    )


def _fixed_lines(
    tariff: Tariff, version: CompiledVersion, seg_days: int, cycle_days: int, suffix: str
) -> list[BillLine]:
    out = []
    if version.fixed_per_day:
        out.append(
            _line(
                tariff,
                f"Daily charge{suffix}",
                "fixed",
                Decimal(seg_days),
                "day",
                version.fixed_per_day,
            )
        )
    if version.fixed_per_month:
        share = Decimal(seg_days) / Decimal(cycle_days)
        out.append(
            _line(
                tariff, f"Monthly charge{suffix}", "fixed", share, "month", version.fixed_per_month
            )
        )
    return out
