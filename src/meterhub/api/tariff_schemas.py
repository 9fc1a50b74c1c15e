"""Request and response shapes of the tariff, cost and bill routes.

Money is a decimal string with exactly the currency's minor-unit digits ("806500" VND,
"12.30" EUR): JSON numbers would invite float arithmetic. Energy is a number of kWh
(whole Wh, so at most three decimals)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from meterhub.tariffs.model import TariffDoc


class ErrorOut(BaseModel):
    error: str


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses (all answer `{"error": ...}`)."""
    text = {
        404: "Not found, or not yours to see",
        409: "Conflict (name taken, tariff in use, or no tariff for the device)",
        422: "Invalid input; `field` names the culprit",
    }
    return {c: {"model": ErrorOut, "description": text.get(c, "Error")} for c in codes}


class TariffIn(TariffDoc):
    """A tariff document, plus whether it is the install's default tariff."""

    is_default: bool = Field(
        default=False, description="Cost every device without its own tariff with this one."
    )


class TariffOut(TariffDoc):
    id: int
    is_default: bool
    devices: int = Field(description="Devices assigned this tariff explicitly.")
    created_at: datetime
    updated_at: datetime


class CostBucketOut(BaseModel):
    start: str = Field(description="Local midnight, ISO-8601 with offset")
    end: str = Field(description="Exclusive")
    energy_kwh: float
    energy_cost: str
    fixed_cost: str
    vat: str
    total: str


class CostOut(BaseModel):
    serial: str
    tariff_id: int
    tariff: str
    currency: str
    tz: str = Field(description="The tariff's zone: days and cycles are its days")
    period: str
    energy_kwh: float
    energy_cost: str
    fixed_cost: str
    vat: str
    total: str
    buckets: list[CostBucketOut]


class BillLineOut(BaseModel):
    label: str
    kind: str = Field(description="energy or fixed")
    kwh: float | None
    quantity: str = Field(description="kWh, days, or the share of a month")
    unit: str
    price: str
    amount: str


class BillOut(BaseModel):
    serial: str
    tariff_id: int
    tariff: str
    currency: str
    cycle: str
    start: str = Field(description="The cycle's first local midnight, ISO-8601")
    end: str = Field(description="The next cycle's first local midnight (exclusive)")
    first_day: str
    last_day: str
    complete: bool = Field(description="False while the cycle is still running")
    energy_kwh: float
    lines: list[BillLineOut]
    fixed: str
    subtotal: str
    vat_percent: str
    vat: str
    total: str
