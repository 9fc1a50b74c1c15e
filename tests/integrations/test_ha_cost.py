"""Home Assistant's month-cost sensor gets the tariffs' own figure: this cycle so far,
VAT included, rounded to the currency's minor unit; nothing for a device without a tariff."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from meterhub.db.models import Device
from meterhub.integrations.ha_cost import CachedMonthCost, month_cost
from meterhub.integrations.source import active_devices
from meterhub.services import cost, tariffs
from meterhub.tariffs.money import round_money

FLAT = {
    "name": "Flat",
    "currency": "EUR",
    "vat_percent": 10,
    "timezone": "UTC",
    "versions": [{"effective_from": "2020-01-01", "kind": "flat", "price": "0.30"}],
}


def test_month_cost_is_the_cycle_so_far(ctx: Any, admin_api: Any) -> None:
    priced = admin_api.post("/api/devices", json={"serial_number": "HA-COST-1"}).json()
    admin_api.post("/api/devices", json={"serial_number": "HA-COST-2"})
    tariff = admin_api.post("/api/tariffs", json=FLAT)
    assert tariff.status_code == 201, tariff.text
    res = admin_api.put(f"/api/devices/{priced['id']}", json={"tariff_id": tariff.json()["id"]})
    assert res.status_code == 200, res.text
    with ctx.engine.connect() as conn:
        devices = {d.serial: d for d in active_devices(conn)}
        got = month_cost(conn, devices["HA-COST-1"])
        assert month_cost(conn, devices["HA-COST-2"]) is None
        with ctx.sessions() as db:
            row = tariffs.for_device(db, db.get(Device, priced["id"]))
            assert row is not None
            compiled = tariffs.compiled(row)
        outlook = cost.outlook(conn, compiled, priced["id"], datetime.now(UTC))
    assert got is not None and got.currency == "EUR"
    assert Decimal(str(got.amount)) == round_money(outlook.so_far, "EUR")
    assert got.period_start_iso.endswith("+00:00")


def test_the_cache_costs_each_device_once_per_period(ctx: Any, admin_api: Any) -> None:
    admin_api.post("/api/devices", json={"serial_number": "HA-COST-3"})
    cached = CachedMonthCost(ttl_s=3600)
    with ctx.engine.connect() as conn:
        device = active_devices(conn)[0]
        assert cached(conn, device) is None
        admin_api.post("/api/tariffs", json=FLAT | {"is_default": True})
        assert cached(conn, device) is None  # still the remembered answer
        assert CachedMonthCost()(conn, device) is not None  # a fresh one sees the default
