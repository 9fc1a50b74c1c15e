#!/usr/bin/env python3
"""Screenshots of the cost views with demo data (docs/screenshots/), for docs/tariffs.md
and docs/dashboard.md.

    .venv/bin/python scripts/tariff_screenshots.py [--out docs/screenshots] [--days 100]

Starts the app on a free port with a temporary SQLite database, writes simulated history
for three meters through the ingest store, creates EVN's residential tariff (the default)
and a time-of-use tariff through the API, and saves PNGs of the tariff form, the device
page's cost card, the overview, analytics and the monthly report. Needs Chromium
(/usr/bin/chromium) and the dev extra (playwright).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.appserver import AppServer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
METERS = [
    ("PZEM-1A2B3C", "Kitchen", "Ground floor"),
    ("PZEM-4D5E6F", "Heat pump", "Basement"),
    ("PZEM-7A8B9C", "Home office", "1st floor"),
]
EVN = [(50, 1984), (100, 2050), (200, 2380), (300, 2998), (400, 3350), (None, 3460)]
TOU = {
    "name": "EVN business (time of use)",
    "currency": "VND",
    "vat_percent": 8,
    "timezone": "Asia/Ho_Chi_Minh",
    "versions": [
        {
            "effective_from": "2025-05-10",
            "kind": "tou",
            "default_rate": "normal",
            "rates": [
                {"name": "normal", "price": 3152},
                {
                    "name": "peak",
                    "price": 5422,
                    "windows": [
                        {"days": "mon-sat", "from": "09:30", "to": "11:30"},
                        {"days": "mon-sat", "from": "17:00", "to": "20:00"},
                    ],
                },
                {
                    "name": "off-peak",
                    "price": 1918,
                    "windows": [{"days": "daily", "from": "22:00", "to": "04:00"}],
                },
            ],
        }
    ],
}


def seed(server: AppServer, days: float) -> None:
    from meterhub.services import devices, tariffs
    from meterhub.tariffs.model import TariffDoc

    server.add_user("admin", "demo-admin-1", role="admin", full_name="Alex Morgan")
    for serial, name, place in METERS:
        server.add_device(serial, name, place)
    server.write_history([m[0] for m in METERS], days, interval_s=900, end_ts=time.time() - 30)
    evn: dict[str, Any] = {
        "name": "EVN residential",
        "currency": "VND",
        "vat_percent": 8,
        "timezone": "Asia/Ho_Chi_Minh",
        "versions": [
            {
                "effective_from": "2025-05-10",
                "kind": "tiered",
                "tiers": [{"up_to_kwh": up, "price": p} for up, p in EVN],
            }
        ],
    }
    with server.ctx.sessions() as db:
        admin = server_admin(db)
        tariffs.create(db, admin, TariffDoc.model_validate(evn), True, "Europe/Berlin")
        tou = tariffs.create(db, admin, TariffDoc.model_validate(TOU), False, "Europe/Berlin")
        device = devices.by_serial(db, METERS[2][0])
        assert device is not None
        devices.update(db, admin, device, {"tariff_id": tou.id})
        db.commit()


def server_admin(db: Any) -> Any:
    from sqlalchemy import select

    from meterhub.db.models import User

    return db.scalar(select(User).where(User.username == "admin"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--days", type=float, default=100)
    opts = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"error: Chromium not found at {CHROMIUM}", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    opts.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = AppServer(Path(tmp))
        seed(server, opts.days)
        server.start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                context = browser.new_context(
                    viewport={"width": 1440, "height": 900},
                    locale="en-US",
                    timezone_id="Europe/Berlin",
                )
                page = context.new_page()
                page.goto(f"{server.url}/login")
                page.fill("#username", "admin")
                page.fill("#password", "demo-admin-1")
                page.click("#login-submit")
                page.wait_for_url(lambda u: "/login" not in u)

                def shot(name: str, node: Any = None) -> None:
                    page.wait_for_timeout(1200)
                    target = opts.out / f"{name}.png"
                    (node or page).screenshot(path=str(target), animations="disabled")
                    print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} KB")

                page.goto(f"{server.url}/devices/{METERS[1][0]}")
                page.locator("#bill-table tbody tr[data-kind]").first.wait_for()
                shot("cost-device-desktop", page.locator("#cost"))
                page.get_by_role("button", name="Last bill").click()
                page.locator("#cost-sub", has_text="cycle").wait_for()
                shot("bill-last-desktop", page.locator("#cost"))
                page.goto(f"{server.url}/devices/{METERS[2][0]}")
                page.locator("#bill-table tbody tr[data-kind]").first.wait_for()
                shot("cost-device-tou-desktop", page.locator("#cost"))
                page.goto(f"{server.url}/")
                page.locator("#kpi-cost-card:not([hidden])").wait_for()
                shot("cost-overview-desktop")
                page.goto(f"{server.url}/analytics")
                page.locator("#cost-section:not([hidden])").wait_for()
                shot("cost-analytics-desktop", page.locator("#cost-section"))
                page.goto(f"{server.url}/admin/tariffs")
                page.click("#new-tariff")
                page.locator("#tariff-editor [data-tier]").first.wait_for()
                shot("tariffs-desktop", page.locator("#tariff-editor"))
                page.goto(f"{server.url}/report")
                shot("report-desktop")
                browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
