"""The cost engine without I/O: tier edges, rounding, validation, splitting by rate."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from meterhub.tariffs.bill import bill
from meterhub.tariffs.engine import Tariff, cost_days, split_slots
from meterhub.tariffs.model import TariffDoc
from meterhub.tariffs.money import minor_unit, round_money
from tests.tariffs.conftest import EVN_2025, evn, tiers

EVN = Tariff.of(TariffDoc.model_validate(evn()))
JUNE = date(2026, 6, 1)


def june(kwh_per_day: list[int]) -> dict[date, list[int]]:
    return {date(2026, 6, i + 1): [kwh * 1000] for i, kwh in enumerate(kwh_per_day)}


@pytest.mark.parametrize(
    ("kwh", "lines", "subtotal"),
    [
        (50, [50], 50 * 1984),
        (100, [50, 50], 50 * 1984 + 50 * 2050),
        (400, [50, 50, 100, 100, 100], 99_200 + 102_500 + 238_000 + 299_800 + 335_000),
        (401, [50, 50, 100, 100, 100, 1], 99_200 + 102_500 + 238_000 + 299_800 + 335_000 + 3460),
    ],
)
def test_tier_edges(kwh: int, lines: list[int], subtotal: int) -> None:
    b = bill(EVN, JUNE, june([kwh]))
    assert [line.quantity for line in b.lines] == lines
    assert b.subtotal == subtotal
    assert b.vat == round_money(Decimal(subtotal) * Decimal("0.08"), "VND")
    assert b.total == b.subtotal + b.vat


def test_worked_example() -> None:
    b = bill(EVN, JUNE, june([100, 100, 100, 20]))
    assert (b.subtotal, b.vat, b.total) == (806_500, 64_520, 871_020)


@given(st.lists(st.integers(0, 40_000), min_size=30, max_size=30))
def test_tier_lines_add_up_and_days_cost_the_cycle(whs: list[int]) -> None:
    """Sum of tier kWh == the cycle's kWh; the exact day costs add up to the exact tier
    cost (each line rounded once differs by at most half a unit per line)."""
    usage = {date(2026, 6, i + 1): [wh] for i, wh in enumerate(whs)}
    b = bill(EVN, JUNE, usage)
    assert sum(line.quantity for line in b.lines) * 1000 == sum(whs)
    days = cost_days(EVN, usage, JUNE, date(2026, 6, 30))
    exact = sum(d.energy for d in days)
    assert abs(exact - b.subtotal) <= Decimal("0.5") * len(b.lines)


def test_currency_minor_units() -> None:
    assert (minor_unit("VND"), minor_unit("EUR"), minor_unit("JPY"), minor_unit("KWD")) == (
        0,
        2,
        0,
        3,
    )
    assert round_money(Decimal("2.345"), "EUR") == Decimal("2.35")
    assert round_money(Decimal("-2.345"), "EUR") == Decimal("-2.35")
    assert round_money(Decimal("0.5"), "VND") == 1


def test_fixed_charges_by_day_and_month_split_on_a_change() -> None:
    doc = {
        "name": "Fixed",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "versions": [
            {"effective_from": "2026-01-01", "kind": "flat", "price": 0, "fixed_per_month": 10},
            {
                "effective_from": "2026-06-11",
                "kind": "flat",
                "price": 0,
                "fixed_per_day": "0.5",
                "fixed_per_month": 31,
            },
        ],
    }
    t = Tariff.of(TariffDoc.model_validate(doc))
    b = bill(t, JUNE, {})
    amounts = [(line.label.split(",")[0], line.amount) for line in b.lines]
    # 10 days at 10/month, 20 days at 31/month + 0.50/day, of a 30-day cycle
    assert amounts == [
        ("Monthly charge", Decimal("3.33")),
        ("Daily charge", Decimal("10.00")),
        ("Monthly charge", Decimal("20.67")),
    ]
    assert b.fixed == b.subtotal == Decimal("34.00")
    days = cost_days(t, {}, JUNE, date(2026, 6, 30))
    assert round_money(sum(d.fixed for d in days), "EUR") == Decimal("34.00")


def test_split_slots_uses_wall_clock_on_dst_days() -> None:
    doc = {
        "name": "Spike",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "versions": [
            {
                "effective_from": "2026-01-01",
                "kind": "tou",
                "default_rate": "normal",
                "rates": [
                    {"name": "normal", "price": 1},
                    {
                        "name": "two",
                        "price": 2,
                        "windows": [{"days": "sun", "from": "02:00", "to": "03:00"}],
                    },
                ],
            }
        ],
    }
    t = Tariff.of(TariffDoc.model_validate(doc))
    for day, hours, two in ((date(2026, 3, 29), 23, 0), (date(2026, 10, 25), 25, 8)):
        start = int(datetime(day.year, day.month, day.day, tzinfo=t.zone).timestamp())
        slots = [(start + 900 * k, 1) for k in range(hours * 4)]
        assert split_slots(t, slots) == {day: [hours * 4 - two, two]}


def test_window_wrapping_midnight_belongs_to_the_next_weekday() -> None:
    window = {"days": "fri", "from": "22:00", "to": "02:00"}
    rates = [{"name": "a", "price": 1}, {"name": "b", "price": 2, "windows": [window]}]
    version = {"effective_from": "2026-01-01", "kind": "tou", "default_rate": "a", "rates": rates}
    t = Tariff.of(TariffDoc.model_validate(evn(currency="EUR", timezone="UTC", versions=[version])))
    sat = int(datetime(2026, 6, 6, tzinfo=UTC).timestamp())  # a Saturday
    got = split_slots(t, [(sat + 900 * k, 1) for k in range(96)])
    assert got == {date(2026, 6, 6): [88, 8]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"currency": "EURO"}, "currency"),
        ({"timezone": "Mars/Base"}, "time zone"),
        ({"billing_day": 29}, "billing_day"),
        ({"vat_percent": -1}, "vat_percent"),
        ({"versions": []}, "versions"),
        ({"versions": [{"effective_from": "2026-01-01", "kind": "flat"}]}, "needs 'price'"),
        (
            {
                "versions": [
                    {
                        "effective_from": "2026-01-01",
                        "kind": "tiered",
                        "tiers": tiers(EVN_2025)[:-1],
                    }
                ]
            },
            "last tier",
        ),
        (
            {
                "versions": [
                    {
                        "effective_from": "2026-01-01",
                        "kind": "tiered",
                        "tiers": [
                            {"up_to_kwh": 100, "price": 1},
                            {"up_to_kwh": 50, "price": 1},
                            {"up_to_kwh": None, "price": 1},
                        ],
                    }
                ]
            },
            "increase",
        ),
        (
            {
                "versions": [
                    {
                        "effective_from": "2026-01-01",
                        "kind": "tou",
                        "default_rate": "a",
                        "rates": [
                            {
                                "name": "a",
                                "price": 1,
                                "windows": [{"days": "daily", "from": "08:00", "to": "10:00"}],
                            },
                            {
                                "name": "b",
                                "price": 1,
                                "windows": [{"days": "mon", "from": "09:00", "to": "11:00"}],
                            },
                        ],
                    }
                ]
            },
            "overlap on mon at 09:00",
        ),
        (
            {
                "versions": [
                    {
                        "effective_from": "2026-01-01",
                        "kind": "tou",
                        "default_rate": "a",
                        "rates": [
                            {
                                "name": "a",
                                "price": 1,
                                "windows": [{"days": "weekdays", "from": "08:00", "to": "10:00"}],
                            }
                        ],
                    }
                ]
            },
            "day names",
        ),
    ],
)
def test_invalid_documents(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TariffDoc.model_validate(evn() | change)
