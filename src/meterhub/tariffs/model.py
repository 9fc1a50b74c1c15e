"""A tariff as data: the JSON document admins post, parsed and validated.

One tariff has a currency, a VAT rate, a time zone, a billing day and versions; each
version applies from its `effective_from` date (in the tariff's zone) until the next one and
is `flat` (one price per kWh), `tou` (named rates by wall-clock windows per weekday) or
`tiered` (bands of kWh per billing cycle), with optional daily and monthly fixed charges.
Prices are exact decimals per kWh, without VAT. Validation errors are ValueErrors with a
message that names the field, so the API can answer 422.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from meterhub.tariffs.money import is_currency

__all__ = [
    "DAY_NAMES",
    "SLOTS_PER_DAY",
    "Rate",
    "TariffDoc",
    "Tier",
    "Version",
    "Window",
    "parse_days",
    "parse_time",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SLOTS_PER_DAY = 96
"""Quarter hours in a wall-clock day: TOU windows start and end on them, so every window
is a union of 15-minute rollup slots and costs exactly."""
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")

Money = Annotated[Decimal, Field(ge=Decimal("-1e9"), le=Decimal("1e9"), decimal_places=6)]
NonNegMoney = Annotated[Decimal, Field(ge=0, le=Decimal("1e9"), decimal_places=6)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def parse_time(text: str) -> int:
    """ "HH:MM" (00:00 to 24:00, on a quarter hour) as a quarter-hour index 0..96."""
    match = _TIME.match(text)
    if not match:
        raise ValueError(f"time {text!r} is not HH:MM")
    hours, minutes = int(match[1]), int(match[2])
    if hours == 24 and minutes:
        raise ValueError(f"time {text!r} is past 24:00")
    if minutes % 15:
        raise ValueError(f"time {text!r} is not on a quarter hour (:00, :15, :30, :45)")
    return hours * 4 + minutes // 15


def parse_days(text: str) -> frozenset[int]:
    """Weekdays (0 = Monday) named by "mon-fri", "sat,sun", "daily", "mon,wed-fri"."""
    key = text.strip().lower()
    if key in ("daily", "all", "mon-sun"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in key.split(","):
        names = part.strip().split("-")
        if len(names) > 2 or any(n not in DAY_NAMES for n in names):
            raise ValueError(
                f"days {text!r}: use day names {', '.join(DAY_NAMES)}, ranges such as "
                "mon-fri, lists such as sat,sun, or daily"
            )
        first, last = DAY_NAMES.index(names[0]), DAY_NAMES.index(names[-1])
        if last < first:
            raise ValueError(f"days {text!r}: a range runs forward, e.g. mon-fri")
        days.update(range(first, last + 1))
    return frozenset(days)


class Window(_Doc):
    """Wall-clock time [from, to) on the named days; to <= from wraps past midnight (the
    part after midnight belongs to the next day, `days` names the day it starts)."""

    days: Annotated[str, Field(min_length=1, max_length=64)]
    from_: Annotated[str, Field(alias="from")]
    to: str

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        parse_days(value)
        return value

    @field_validator("from_", "to")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_time(value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if parse_time(self.from_) % SLOTS_PER_DAY == parse_time(self.to) % SLOTS_PER_DAY:
            raise ValueError(f"window {self.from_}-{self.to} is empty or a whole day")
        return self

    def slots(self) -> list[tuple[int, int]]:
        """(weekday, quarter-hour index) pairs the window covers."""
        start = parse_time(self.from_)
        end = parse_time(self.to)
        length = (end - start) % SLOTS_PER_DAY
        out = []
        for day in sorted(parse_days(self.days)):
            for k in range(start, start + length):
                out.append(((day + k // SLOTS_PER_DAY) % 7, k % SLOTS_PER_DAY))
        return out


class Rate(_Doc):
    """A named price for the windows it lists (the default rate may list none)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    price: Money
    windows: Annotated[list[Window], Field(max_length=64)] = []


class Tier(_Doc):
    """A band of kWh per billing cycle up to `up_to_kwh` (null: no limit, the last band)."""

    up_to_kwh: Annotated[Decimal, Field(gt=0, le=Decimal("1e9"), decimal_places=3)] | None
    price: Money


class Version(_Doc):
    """The prices in force from `effective_from` (a date in the tariff's zone)."""

    effective_from: date
    kind: Literal["flat", "tou", "tiered"]
    price: Money | None = None
    rates: Annotated[list[Rate], Field(max_length=16)] | None = None
    default_rate: str | None = None
    tiers: Annotated[list[Tier], Field(max_length=32)] | None = None
    fixed_per_day: NonNegMoney = Decimal(0)
    fixed_per_month: NonNegMoney = Decimal(0)

    @model_validator(mode="after")
    def _consistent(self) -> Version:
        where = f"version {self.effective_from}"
        if self.kind == "flat" and self.price is None:
            raise ValueError(f"{where}: a flat version needs 'price'")
        if self.kind == "tou":
            self._check_tou(where)
        if self.kind == "tiered":
            self._check_tiers(where)
        return self

    def _check_tou(self, where: str) -> None:
        if not self.rates:
            raise ValueError(f"{where}: a tou version needs 'rates'")
        names = [r.name for r in self.rates]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: rate names must be unique")
        if self.default_rate not in names:
            raise ValueError(f"{where}: 'default_rate' must name one of the rates ({names})")
        owner: dict[tuple[int, int], str] = {}
        for rate in self.rates:
            for window in rate.windows:
                for slot in window.slots():
                    other = owner.setdefault(slot, rate.name)
                    if other != rate.name:
                        day, k = slot
                        raise ValueError(
                            f"{where}: windows of {other!r} and {rate.name!r} overlap on "
                            f"{DAY_NAMES[day]} at {k // 4:02d}:{k % 4 * 15:02d}"
                        )

    def _check_tiers(self, where: str) -> None:
        if not self.tiers:
            raise ValueError(f"{where}: a tiered version needs 'tiers'")
        limits = [t.up_to_kwh for t in self.tiers]
        if limits[-1] is not None:
            raise ValueError(f"{where}: the last tier needs up_to_kwh null (no limit)")
        bounded = [x for x in limits[:-1] if x is not None]
        if len(bounded) != len(limits) - 1:
            raise ValueError(f"{where}: only the last tier may have up_to_kwh null")
        if any(b <= a for a, b in pairwise(bounded)):
            raise ValueError(f"{where}: up_to_kwh must increase from tier to tier")


class TariffDoc(_Doc):
    """The whole tariff document (what POST/PUT /api/tariffs take and GET returns)."""

    name: Annotated[str, Field(min_length=1, max_length=128)]
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    vat_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)] = Decimal(0)
    timezone: str | None = None
    """IANA zone of the cycles and windows; the API fills in METERHUB_TZ when absent."""
    billing_day: Annotated[int, Field(ge=1, le=28)] = 1
    versions: Annotated[list[Version], Field(min_length=1, max_length=100)]

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().upper()
            if not is_currency(value):
                raise ValueError(f"unknown currency {value!r}; use an ISO 4217 code")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin"
            ) from None
        return value

    @field_validator("versions")
    @classmethod
    def _sorted(cls, versions: list[Version]) -> list[Version]:
        days = [v.effective_from for v in versions]
        if len(set(days)) != len(days):
            raise ValueError("two versions have the same effective_from")
        return sorted(versions, key=lambda v: v.effective_from)
