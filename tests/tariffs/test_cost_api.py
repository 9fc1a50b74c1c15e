"""Tariffs, cost and bills through the API, from real readings, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.tariffs.conftest import EVN_2024, EVN_2025, HCM, evn, feed, tiers


@pytest.fixture
def device(admin_api: Any) -> dict[str, Any]:
    res = admin_api.post("/api/devices", json={"serial_number": "HOME-1", "name": "Home"})
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


def add_tariff(admin_api: Any, doc: dict[str, Any]) -> dict[str, Any]:
    res = admin_api.post("/api/tariffs", json=doc)
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


def assign(admin_api: Any, device: dict[str, Any], tariff_id: int | None) -> None:
    res = admin_api.put(f"/api/devices/{device['id']}", json={"tariff_id": tariff_id})
    assert res.status_code == 200, res.text
    assert res.json()["tariff_id"] == tariff_id


def test_worked_example_320_kwh(admin_api: Any, ctx: Any, device: dict[str, Any]) -> None:
    """TARIFFS.md: 320 kWh in a month = 806,500 VND, 871,020 VND with 8 % VAT."""
    tariff = add_tariff(admin_api, evn())
    assign(admin_api, device, tariff["id"])
    # 10 days x 40 readings x 800 Wh = 320 kWh, in June 2026 (Ho Chi Minh City)
    assert feed(ctx, "HOME-1", HCM, date(2026, 6, 1), 10, 36, 800) == 320_000
    res = admin_api.get("/api/readings/HOME-1/bill", params={"cycle": "2026-06"})
    assert res.status_code == 200, res.text
    bill = res.json()
    assert bill["energy_kwh"] == 320
    assert [(line["kwh"], line["price"], line["amount"]) for line in bill["lines"]] == [
        (50, "1984", "99200"),
        (50, "2050", "102500"),
        (100, "2380", "238000"),
        (100, "2998", "299800"),
        (20, "3350", "67000"),
    ]
    assert (bill["subtotal"], bill["vat"], bill["total"]) == ("806500", "64520", "871020")
    assert bill["first_day"] == "2026-06-01" and bill["last_day"] == "2026-06-30"
    assert bill["complete"] is True and bill["currency"] == "VND"
    # The day costs add up to the same energy cost (tiers by marginal kWh of the cycle)
    cost = admin_api.get(
        "/api/readings/HOME-1/cost", params={"from": "2026-06-01", "to": "2026-06-30"}
    ).json()
    assert len(cost["buckets"]) == 30 and cost["energy_kwh"] == 320
    assert cost["energy_cost"] == "806500" and cost["total"] == "871020"
    assert cost["buckets"][0]["energy_cost"] == str(32 * 1984)  # day 1: all in tier 1
    month = admin_api.get(
        "/api/readings/HOME-1/cost", params={"period": "month", "from": "2026-06-15"}
    ).json()
    assert month["buckets"][0]["start"] == "2026-06-01T00:00:00+07:00"
    assert month["buckets"][0]["total"] == "871020"
    csv_text = admin_api.get(
        "/api/readings/HOME-1/cost",
        params={"from": "2026-06-01", "to": "2026-06-02", "format": "csv"},
    ).text
    assert csv_text.splitlines()[0].startswith("start,end,energy_kWh,energy_cost")
    assert csv_text.splitlines()[1].endswith(",VND")


def test_price_change_on_day_10_splits_the_cycle(
    admin_api: Any, ctx: Any, device: dict[str, Any]
) -> None:
    """Versions 2024 prices to 2026-06-09, 2025 prices from 2026-06-10: 9 and 21 days of
    June, bands scaled by 9/30 and 21/30; 10 kWh a day."""
    doc = evn(
        versions=[
            {"effective_from": "2024-10-11", "kind": "tiered", "tiers": tiers(EVN_2024)},
            {"effective_from": "2026-06-10", "kind": "tiered", "tiers": tiers(EVN_2025)},
        ]
    )
    assign(admin_api, device, add_tariff(admin_api, doc)["id"])
    assert feed(ctx, "HOME-1", HCM, date(2026, 6, 1), 30, 36, 250) == 300_000
    bill = admin_api.get("/api/readings/HOME-1/bill", params={"cycle": "2026-06"}).json()
    # 90 kWh in bands 15/30/60/90/120; 210 kWh in bands 35/70/140/210/280
    old = 15 * 1893 + 15 * 1956 + 30 * 2271 + 30 * 2860
    new = 35 * 1984 + 35 * 2050 + 70 * 2380 + 70 * 2998
    assert old == 211_665 and new == 517_650
    assert [line["kwh"] for line in bill["lines"]] == [15, 15, 30, 30, 35, 35, 70, 70]
    assert bill["subtotal"] == str(old + new)
    assert bill["vat"] == "58345"  # 8 % of 729,315 = 58,345.2
    assert bill["total"] == str(old + new + 58345)
    assert "01 Jun-09 Jun" in bill["lines"][0]["label"]


def test_counter_reset_inside_a_cycle(admin_api: Any, ctx: Any, device: dict[str, Any]) -> None:
    """A reset to 0 mid-cycle (the reset reading counts what it shows since the reset):
    the cycle's energy is every step's, and the bill prices it by tiers."""
    assign(admin_api, device, add_tariff(admin_api, evn())["id"])
    booked = feed(ctx, "HOME-1", HCM, date(2026, 7, 1), 5, 36, 1000, counter_kwh=9000, reset_at=77)
    assert booked == 200_000
    bill = admin_api.get("/api/readings/HOME-1/bill", params={"cycle": "2026-07"}).json()
    assert bill["energy_kwh"] == 200
    assert bill["subtotal"] == str(50 * 1984 + 50 * 2050 + 100 * 2380)
    events = admin_api.get(f"/api/devices/{device['id']}/events", params={"kind": "reset"})
    assert events.status_code == 200 and len(events.json()) == 1


def test_tou_day_across_dst_in_berlin(admin_api: Any, ctx: Any, device: dict[str, Any]) -> None:
    """Night 22:00-06:00 at 0.10, day 0.30 EUR, 1 kW all day: the 23-hour day has 7 night
    hours, the 25-hour day 9 (02:00-03:00 twice); each costs exactly its hours."""
    doc = {
        "name": "Night and day",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "versions": [
            {
                "effective_from": "2026-01-01",
                "kind": "tou",
                "default_rate": "day",
                "rates": [
                    {"name": "day", "price": "0.30"},
                    {
                        "name": "night",
                        "price": "0.10",
                        "windows": [{"days": "daily", "from": "22:00", "to": "06:00"}],
                    },
                ],
            }
        ],
    }
    tariff = add_tariff(admin_api, doc)
    assign(admin_api, device, tariff["id"])
    feed(ctx, "HOME-1", "Europe/Berlin", date(2026, 3, 29), 1, 15, 250)
    # continue the counter where March ended (100 + 92 x 0.25 kWh): no step between
    feed(ctx, "HOME-1", "Europe/Berlin", date(2026, 10, 25), 1, 15, 250, counter_kwh=123)
    for day, hours, cost in (("2026-03-29", 23, "5.50"), ("2026-10-25", 25, "5.70")):
        res = admin_api.get("/api/readings/HOME-1/cost", params={"from": day, "to": day})
        assert res.status_code == 200, res.text
        (bucket,) = res.json()["buckets"]
        assert (bucket["energy_kwh"], bucket["energy_cost"]) == (hours, cost), day
    bill = admin_api.get("/api/readings/HOME-1/bill", params={"cycle": "2026-10"}).json()
    assert [(x["label"], x["kwh"], x["amount"]) for x in bill["lines"]] == [
        ("day", 16, "4.80"),
        ("night", 9, "0.90"),
    ]
    # Night until 06:15: priced from 15-minute rows (hourly ones serve whole-hour windows)
    doc["versions"][0]["rates"][1]["windows"][0]["to"] = "06:15"
    assert admin_api.put(f"/api/tariffs/{tariff['id']}", json=doc).status_code == 200
    for day, cost in (("2026-03-29", "5.45"), ("2026-10-25", "5.65")):
        res = admin_api.get("/api/readings/HOME-1/cost", params={"from": day, "to": day})
        assert res.json()["buckets"][0]["energy_cost"] == cost, day


def test_correction_recosts_history_and_default_tariff(
    admin_api: Any, ctx: Any, device: dict[str, Any]
) -> None:
    flat = {
        "name": "Flat",
        "currency": "EUR",
        "vat_percent": 19,
        "timezone": "Europe/Berlin",
        "versions": [
            {"effective_from": "2026-01-01", "kind": "flat", "price": 0.3, "fixed_per_month": 12}
        ],
    }
    tariff = add_tariff(admin_api, flat | {"is_default": True})
    assert tariff["is_default"] and tariff["timezone"] == "Europe/Berlin"
    feed(ctx, "HOME-1", "Europe/Berlin", date(2026, 5, 1), 2, 60, 500)  # 24 kWh
    bill = admin_api.get("/api/readings/HOME-1/bill", params={"cycle": "2026-05"}).json()
    assert bill["tariff_id"] == tariff["id"]  # the default: the device has none
    assert (bill["subtotal"], bill["vat"], bill["total"]) == ("19.20", "3.65", "22.85")
    flat["versions"][0]["price"] = "0.25"  # a corrected price re-costs May
    res = admin_api.put(f"/api/tariffs/{tariff['id']}", json=flat | {"is_default": True})
    assert res.status_code == 200, res.text
    bill = admin_api.get("/api/readings/HOME-1/bill", params={"cycle": "2026-05"}).json()
    assert (bill["subtotal"], bill["vat"], bill["total"]) == ("18.00", "3.42", "21.42")


def test_errors(admin_api: Any, device: dict[str, Any]) -> None:
    res = admin_api.get("/api/readings/HOME-1/bill")
    assert res.status_code == 409 and "no tariff" in res.json()["error"]
    bad = evn(versions=[{"effective_from": "2026-01-01", "kind": "tiered", "tiers": []}])
    assert admin_api.post("/api/tariffs", json=bad).status_code == 422
    window = {"days": "mon-fri", "from": "09:10", "to": "11:00"}
    tou = evn(
        versions=[
            {
                "effective_from": "2026-01-01",
                "kind": "tou",
                "default_rate": "a",
                "rates": [{"name": "a", "price": 1, "windows": [window]}],
            }
        ]
    )
    res = admin_api.post("/api/tariffs", json=tou)
    assert res.status_code == 422 and "quarter hour" in res.text
    assert admin_api.post("/api/tariffs", json=evn(currency="XYZ")).status_code == 422
    tariff = add_tariff(admin_api, evn())
    assert admin_api.post("/api/tariffs", json=evn()).status_code == 409
    assign(admin_api, device, tariff["id"])
    assert admin_api.delete(f"/api/tariffs/{tariff['id']}").status_code == 409
    res = admin_api.get("/api/readings/HOME-1/bill", params={"cycle": "2026-13"})
    assert res.status_code == 422
    res = admin_api.get("/api/readings/HOME-1/bill", params={"cycle": "2999-01"})
    assert res.status_code == 422
    for params in ({"cycle": "0001-01"},):
        assert admin_api.get("/api/readings/HOME-1/bill", params=params).status_code == 422
    for params in (
        {"from": "0001-01-01", "to": "0001-01-02", "period": "month"},
        {"from": "2026-01-01", "to": "9999-12-31"},
        {"from": "2026-01-01", "tz": "Mars/Base"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "2020-01-01", "to": "2026-01-01"},  # more than 1,098 days
    ):
        res = admin_api.get("/api/readings/HOME-1/cost", params=params)
        assert res.status_code == 422 and "error" in res.json(), params
    res = admin_api.put(f"/api/devices/{device['id']}", json={"tariff_id": 999})
    assert res.status_code == 422


def test_user_cannot_read_cost_of_a_device_they_may_not_see(
    admin_api: Any, make_user: Any, device: dict[str, Any]
) -> None:
    other = admin_api.post("/api/devices", json={"serial_number": "OTHER-1"}).json()
    tariff = add_tariff(admin_api, evn())
    private = add_tariff(admin_api, evn(name="Private"))
    assign(admin_api, device, tariff["id"])
    assign(admin_api, other, private["id"])
    alice = make_user("alice", (device["id"],))
    for path in ("cost", "bill"):
        assert alice.get(f"/api/readings/HOME-1/{path}").status_code == 200
        res = alice.get(f"/api/readings/OTHER-1/{path}")
        assert res.status_code == 404 and "error" in res.json()
    assert [t["name"] for t in alice.get("/api/tariffs").json()] == ["EVN residential"]
    assert alice.get(f"/api/tariffs/{tariff['id']}").status_code == 200
    assert alice.get(f"/api/tariffs/{private['id']}").status_code == 404
    assert alice.post("/api/tariffs", json=evn(name="Mine")).status_code == 403


def test_dashboard_stats_cost(admin_api: Any, ctx: Any, device: dict[str, Any]) -> None:
    """Last cycle's bill, this cycle so far (fixed charges to today) and a projection."""
    flat = {
        "name": "Flat",
        "currency": "EUR",
        "timezone": "UTC",
        "versions": [
            {"effective_from": "2020-01-01", "kind": "flat", "price": 1, "fixed_per_day": 1}
        ],
    }
    assign(admin_api, device, add_tariff(admin_api, flat)["id"])
    today = datetime.now(UTC).date()
    last_start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    last_days = (today.replace(day=1) - last_start).days
    feed(ctx, "HOME-1", "UTC", last_start, 2, 60, 500)  # 24 kWh in last cycle
    (cost,) = admin_api.get("/api/dashboard/stats").json()["cost"]
    assert cost["currency"] == "EUR" and cost["devices"] == 1
    assert cost["last_month"] == f"{24 + last_days}.00"
    assert cost["this_month"] == f"{today.day}.00"  # a euro a day, no energy yet
    assert Decimal(cost["projected_month"]) >= Decimal(cost["this_month"])
