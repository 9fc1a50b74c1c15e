"""The alerts page in Chromium: a rule made with the form, an alert that appears live
(over /ws, with the navigation badge) and is acknowledged with its button; a user does
not get another user's alert."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from meterhub.alerts.evaluator import Evaluator
from meterhub.telemetry.messages import decode_message
from meterhub.telemetry.store import TelemetryStore
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
