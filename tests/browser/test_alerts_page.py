"""The alerts page in Chromium: a rule made with the form, an alert that appears live
(over /ws, with the navigation badge) and is acknowledged with its button; a user does
not get another user's alert."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from meterhub.alerts.evaluator import Evaluator
from meterhub.db.models import User
from meterhub.ingest.messages import decode_message
from meterhub.store import TelemetryStore
from tests.browser.conftest import SERIALS, USER, Demo, Tab

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def overload(demo: Demo, serial: str, power: float) -> None:
    """A reading through ingest's store, as a meter would send it."""
    payload = orjson.dumps(
        {"serial_number": serial, "timestamp": time.time(), "voltage": 229.5,
         "current": power / 229.5, "power": power, "energy": 500.0}
    )  # fmt: skip
    TelemetryStore(demo.server.ctx.engine).write(
        decode_message(f"meter/{serial}/data", payload, time.time())
    )


def test_an_alert_appears_live_and_is_acknowledged(
    admin_tab: Tab, tab_factory: Any, demo: Demo
) -> None:
    page = admin_tab.page
    admin_tab.goto("/alerts")
    admin_tab.wait_until("document.querySelector('[data-conn]').dataset.state === 'live'")
    # a rule for the workshop meter (carol cannot see it), made with the form
    page.select_option("#rule-form [name=device_id]", label=f"Workshop ({SERIALS[2]})")
    page.fill("#rule-form [name=name]", "Workshop overload")
    page.select_option("#rule-form [name=metric]", "power")
    page.fill("#rule-form [name=threshold]", "3000")
    page.fill("#rule-form [name=clear_threshold]", "2500")
    page.click("#rule-form button[type=submit]")
    page.locator("#rules-list li").filter(has_text="Workshop overload").wait_for()

    carol = tab_factory()
    carol.login(*USER, path="/alerts")
    carol.wait_until("document.querySelector('[data-conn]').dataset.state === 'live'")

    evaluator = Evaluator(demo.server.ctx.sessions)
    evaluator.step()  # the rule is loaded, the cursors start now
    overload(demo, SERIALS[2], 4200.0)
    assert len(evaluator.step().opened) == 1

    row = page.locator("#alerts-table tr.alert-row[data-state=active]")
    row.filter(has_text="Workshop overload").wait_for()  # live: no reload
    assert "4200W > 3000W" in row.inner_text()
    admin_tab.wait_until("document.getElementById('alert-badge').textContent === '1'")
    assert page.locator("#alert-badge").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "alerts.png"), animations="disabled")

    row.get_by_role("button", name="Acknowledge").click()
    page.locator("#alerts-table tr.alert-row[data-state=acknowledged]").wait_for()
    admin_tab.wait_until("document.getElementById('alert-badge').hidden")

    overload(demo, SERIALS[2], 800.0)  # back below the clear threshold: resolves by itself
    evaluator.step()
    page.locator("#alerts-table tr.alert-row[data-state=resolved]").wait_for()

    # carol saw nothing of it, live or on reload
    carol.page.wait_for_timeout(300)
    assert carol.page.locator("#alerts-table tr.alert-row").count() == 0
    carol.goto("/alerts")
    carol.page.locator("#alerts-table td.empty").wait_for()
    assert carol.page.locator("#alert-badge").is_hidden()
    admin_tab.assert_clean()
    carol.assert_clean()


def test_alert_markers_on_the_device_chart(admin_tab: Tab, demo: Demo) -> None:
    """An alert of the device shows on its history chart as a band with a line where it
    opened, and a new one arrives live."""
    serial = SERIALS[1]
    with demo.server.ctx.sessions() as db:
        from meterhub.db.models import Alert, AlertRule, Device
        from meterhub.services import devices as device_service

        device = device_service.by_serial(db, serial)
        assert isinstance(device, Device)
        owner = db.scalar(select(User.id).where(User.username == "boss"))
        assert owner is not None
        rule = AlertRule(
            owner_id=owner, name="Heat pump surge", device_id=device.id, metric="voltage",
            op=">", threshold=250.0, for_s=0, severity="warning", tz="UTC", channel_ids=[],
        )  # fmt: skip
        db.add(rule)
        db.flush()
        earlier = datetime.now(UTC) - timedelta(hours=7)
        db.add(  # one from this morning, resolved after 90 minutes
            Alert(
                rule_id=rule.id, device_id=device.id, owner_id=owner, serial=serial,
                metric="voltage", severity="warning", state="resolved", value=253.0,
                message="Heat pump surge: voltage 253V > 250V", opened_at=earlier,
                resolved_at=earlier + timedelta(minutes=90),
            )
        )  # fmt: skip
        db.commit()
    evaluator = Evaluator(demo.server.ctx.sessions)
    evaluator.step()
    admin_tab.goto(f"/devices/{serial}")
    page = admin_tab.page
    admin_tab.wait_until("document.getElementById('history-chart').dataset.points > 0")
    admin_tab.wait_until("document.querySelector('[data-conn]').dataset.state === 'live'")
    admin_tab.wait_until("Number(document.getElementById('history-chart').dataset.alerts) >= 1")
    before = int(page.locator("#history-chart").get_attribute("data-alerts") or 0)
    payload = orjson.dumps({"serial_number": serial, "timestamp": time.time(), "voltage": 255.0,
                            "current": 1.0, "power": 255.0, "energy": 900.0})  # fmt: skip
    TelemetryStore(demo.server.ctx.engine).write(
        decode_message(f"meter/{serial}/data", payload, time.time())
    )
    assert len(evaluator.step().opened) == 1
    admin_tab.wait_until(
        f"Number(document.getElementById('history-chart').dataset.alerts) === {before + 1}"
    )
    # the band and the line are drawn in the figure
    assert (
        page.locator("#history-chart .shapelayer path, #history-chart .layer-below path").count()
        >= 1
    )
    page.screenshot(path=str(SCREENSHOTS / "device-alert-markers.png"), animations="disabled")
    admin_tab.assert_clean()
