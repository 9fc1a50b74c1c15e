#!/usr/bin/env python3
"""Screenshots of the real dashboard with demo data, for the README (docs/screenshots/).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--days 400]

Starts the app on a free port with a temporary SQLite database, writes simulated history
for a handful of meters through the ingest store, pushes a live reading to each, and saves
desktop (1440x900) and phone (360x740) PNGs of the main pages. Needs Chromium
(/usr/bin/chromium) and the dev extra (playwright).
"""

from __future__ import annotations

import argparse
import random
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
MAX_BYTES = 300_000
METERS = [
    ("PZEM-1A2B3C", "Kitchen", "Ground floor"),
    ("PZEM-4D5E6F", "Heat pump", "Basement"),
    ("PZEM-7A8B9C", "Home office", "1st floor"),
    ("PZEM-0D1E2F", "Workshop", "Garage"),
    ("PZEM-3A4B5C", "EV charger", "Driveway"),
    ("PZEM-6D7E8F", "Flat 2", "2nd floor"),
]
SHOTS = [  # (file stem, path, desktop, phone)
    ("overview", "/", True, True),
    ("device", f"/devices/{METERS[1][0]}", True, True),
    ("analytics", "/analytics", True, True),
    ("live", "/live", True, False),
    ("devices", "/devices", True, False),
    ("admin-users", "/users", True, True),
    ("admin-devices", "/admin/devices", True, True),
    ("settings", "/settings", True, False),
    ("admin-integrations", "/admin/integrations", True, False),
]


def seed(server: AppServer, days: float) -> None:
    admin = server.add_user("admin", "demo-admin-1", role="admin", full_name="Alex Morgan")
    carol = server.add_user(
        "carol", "demo-carol-1", full_name="Carol Jones", email="carol@example.org"
    )
    server.add_user("sam", "demo-sam-12", full_name="Sam Patel", must_change=True)
    del admin
    for n, (serial, name, place) in enumerate(METERS):
        server.add_device(serial, name, place, users=[carol] if n < 3 else [])
    started = time.time()
    server.write_history([m[0] for m in METERS], days, interval_s=900, end_ts=time.time() - 30)
    print(f"history: {days:.0f} days for {len(METERS)} meters in {time.time() - started:.1f} s")
    from meterhub.db.models import DEVICE_PENDING, Device, IngestReject

    with server.ctx.sessions() as db:
        db.add(Device(serial_number="PZEM-99F00D", status=DEVICE_PENDING))
        db.add(
            IngestReject(
                topic="meter/PZEM-1A2B3C/data",
                serial="PZEM-1A2B3C",
                reason="out_of_range",
                detail="voltage 312.0 V is outside 80-260 V",
                payload='{"serial_number":"PZEM-1A2B3C","voltage":312.0,'
                '"current":1.2,"power":290,"energy":12.5}',
            )
        )
        db.add(
            IngestReject(
                topic="meter/garage/data",
                serial=None,
                reason="malformed_json",
                detail="unexpected end of input at byte 41",
                payload='{"serial_number":"PZEM-0D1E2F","voltage":23',
            )
        )
        seed_emoncms(db, server.ctx.secret)
        db.commit()
    server.set_online(METERS[5][0], False)


def seed_emoncms(db: Any, secret: str) -> None:
    """Two Emoncms targets as they look in use: one up to date, one retrying."""
    from datetime import UTC, datetime, timedelta

    from meterhub.db.models import Device, EmoncmsTarget
    from meterhub.integrations.secrets import encrypt

    now = datetime.now(UTC)
    heat_pump = db.query(Device).filter_by(serial_number=METERS[1][0]).one()
    db.add(
        EmoncmsTarget(
            name="emoncms.org",
            base_url="https://emoncms.org",
            api_key_enc=encrypt(secret, "0123456789abcdef0123456789abcdef"),
            enabled=True,
            forwarded=48_213,
            last_success_at=now - timedelta(seconds=4),
        )
    )
    db.add(
        EmoncmsTarget(
            name="emonpi",
            base_url="http://emonpi.local/emoncms",
            api_key_enc=encrypt(secret, "fedcba9876543210fedcba9876543210"),
            device_id=heat_pump.id,
            enabled=True,
            forwarded=9_876,
            last_success_at=now - timedelta(minutes=42),
            last_error="http://emonpi.local/emoncms/input/bulk unreachable: ConnectError: "
            "[Errno 113] No route to host",
            last_error_at=now - timedelta(seconds=20),
        )
    )


def push_live(server: AppServer) -> None:
    for serial, *_ in METERS[:5]:
        power = random.uniform(60, 2400)
        voltage = random.uniform(228, 233)
        pf = random.uniform(0.82, 0.99)
        server.publish_reading(
            serial,
            voltage=round(voltage, 1),
            current=round(power / voltage / pf, 3),
            power=round(power, 1),
            energy=round(random.uniform(100, 2000), 3),
            frequency=50.0,
            pf=round(pf, 2),
        )


def credentials_shot(page: Any, url: str, out: Path) -> None:
    """The admin devices page's Credentials dialog (the password is shown once)."""
    page.goto(url + "/admin/devices")
    page.locator("#registry-table tbody tr[data-serial]").first.get_by_role(
        "button", name="Credentials"
    ).click()
    page.locator("#confirm-dialog").get_by_role("button", name="Issue credentials").click()
    page.locator("#credentials-dialog").wait_for()
    page.wait_for_timeout(300)
    target = out / "admin-device-credentials-desktop.png"
    page.screenshot(path=str(target), full_page=False, animations="disabled")
    print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--days", type=float, default=400)
    parser.add_argument(
        "--only", action="append", default=[], help="take only this shot (file stem); repeatable"
    )
    opts = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(
            f"error: Chromium not found at {CHROMIUM} (apt-get install chromium)", file=sys.stderr
        )
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
                for kind, size, scheme in (
                    ("desktop", (1440, 900), "light"),
                    ("phone", (360, 740), "dark"),
                ):
                    context = browser.new_context(
                        viewport={"width": size[0], "height": size[1]},
                        color_scheme=scheme,
                        locale="en-US",
                        timezone_id="Europe/Berlin",
                    )
                    page = context.new_page()
                    page.goto(f"{server.url}/login")
                    page.fill("#username", "admin")
                    page.fill("#password", "demo-admin-1")
                    page.click("#login-submit")
                    page.wait_for_url(lambda u: "/login" not in u)
                    for stem, path, desktop, phone in SHOTS:
                        if not (desktop if kind == "desktop" else phone):
                            continue
                        if opts.only and stem not in opts.only:
                            continue
                        page.goto(server.url + path)
                        page.wait_for_load_state("networkidle")
                        for _ in range(100):  # until /ws is connected
                            if page.evaluate(
                                "() => document.querySelector('[data-conn]')"
                                ".dataset.state === 'live'"
                            ):
                                break
                            page.wait_for_timeout(50)
                        push_live(server)
                        page.wait_for_timeout(1500)
                        target = opts.out / f"{stem}-{kind}.png"
                        page.screenshot(path=str(target), full_page=False, animations="disabled")
                        size_b = target.stat().st_size
                        flag = "  (over 300 KB!)" if size_b > MAX_BYTES else ""
                        print(f"{target.relative_to(ROOT)}: {size_b // 1024} KB{flag}")
                    if kind == "desktop":
                        credentials_shot(page, server.url, opts.out)
                    context.close()
                browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
