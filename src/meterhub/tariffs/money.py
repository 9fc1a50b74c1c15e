"""Currencies and the one rounding rule.

The minor unit of a currency (2 for EUR, 0 for VND and JPY, 3 for KWD) comes from the
Unicode CLDR data shipped with Babel, which follows ISO 4217, rather than a table of our own.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

__all__ = ["is_currency", "minor_unit", "round_money"]


@lru_cache(maxsize=1)
def _codes() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    """True for a known ISO 4217 code (upper case)."""
    return code in _codes()


@lru_cache(maxsize=256)
def minor_unit(code: str) -> int:
    """Digits after the decimal point of `code` (ValueError for an unknown code)."""
    if not is_currency(code):
        raise ValueError(f"unknown currency {code!r}; use an ISO 4217 code such as EUR or VND")
    return int(get_currency_precision(code))


@lru_cache(maxsize=256)
def _quantum(code: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit(code))


def round_money(amount: Decimal, code: str) -> Decimal:
    """`amount` rounded to the minor unit of `code`, halves away from zero (0.5 -> 1,
    -0.5 -> -1): the rule applied once per bill line, to VAT and to each reported figure."""
    return amount.quantize(_quantum(code), rounding=ROUND_HALF_UP)
