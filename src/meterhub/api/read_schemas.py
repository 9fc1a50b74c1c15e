"""Response shapes of the read side: readings (series, latest, summary), the dashboard
figures, device events, ingest rejects and `/healthz` (docs/api.md).

The shapes are the ones the dashboard has always read: the models describe them, they do
not change them. A chart point has one of three shapes depending on `resolution`; each
model forbids extra keys, so a point matches exactly one of them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RawPoint(_Exact):
    """One stored reading (`resolution` "raw")."""

    ts: str
    voltage: float
    current: float
    power: float
    energy: float
    frequency: float | None
    pf: float | None


class RawBucket(_Exact):
    """A time bucket computed from raw readings (buckets under 15 minutes)."""

    ts: str
    voltage: float | None
    voltage_min: float | None
    voltage_max: float | None
    current: float | None
    current_max: float | None
    power: float | None
    power_min: float | None
    power_max: float | None
    energy: float | None
    frequency: float | None
    pf: float | None
    count: int


class RollupBucket(_Exact):
    """A time bucket computed from the rollups (15 minutes and wider): `energy` is null,
    `energy_kwh` is the energy used in the bucket."""

    ts: str
    voltage: float
    voltage_min: float
    voltage_max: float
    current: float
    current_max: float
    power: float
    power_min: float
    power_max: float
    energy: None
    energy_kwh: float
    frequency: float | None
    pf: float | None
    count: int


class SeriesOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    serial: str
    from_: str = Field(alias="from")
    to: str
    resolution: str
    points: list[RawPoint | RawBucket | RollupBucket]


class LatestOut(BaseModel):
    serial: str
    online: bool
    ts: str
    voltage: float
    current: float
    power: float
    energy: float
    frequency: float | None
    pf: float | None
    alarm: bool | None
    seq: int | None


class SummaryBucket(BaseModel):
    start: str
    end: str
    energy_kwh: float
    avg_power_w: float | None
    max_power_w: float | None
    min_voltage: float | None
    max_voltage: float | None
    readings: int
    coverage: float


class SummaryOut(BaseModel):
    serial: str
    tz: str
    period: Literal["day", "week", "month", "year"]
    total_kwh: float
    buckets: list[SummaryBucket]


class FleetCost(BaseModel):
    """Money as decimal strings with the currency's minor-unit digits, VAT included."""

    currency: str
    devices: int
    this_month: str
    projected_month: str
    last_month: str


class DashboardStatsOut(BaseModel):
    devices_total: int
    devices_online: int
    power_now_w: float
    energy_today_kwh: float
    energy_month_kwh: float
    readings_stored: int
    pending_devices: int
    tz: str
    cost: list[FleetCost]


class DeviceEventOut(BaseModel):
    id: int
    ts: str
    kind: str
    detail: dict[str, object] | None


class IngestRejectOut(BaseModel):
    id: int
    ts: str
    topic: str
    serial: str | None
    reason: str
    detail: str
    payload: str


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class HealthErrorOut(BaseModel):
    status: Literal["error"]
    error: str
