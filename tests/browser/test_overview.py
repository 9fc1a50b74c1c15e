"""The overview: fleet figures, a card per visible device, live updates over /ws."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import SERIALS, Demo, Tab


def test_overview_shows_fleet_and_cards(admin_tab: Tab) -> None:
    page = admin_tab.page
    shown = page.locator("[data-device]").evaluate_all("ns => ns.map(n => n.dataset.serial)")
    assert set(SERIALS) <= set(shown)  # (other tests may add devices)
    admin_tab.wait_until("document.getElementById('kpi-today').textContent.includes('kWh')")
    assert f"of {len(shown)}" in page.locator("#kpi-online").inner_text()
    # the latest reading fills each card
    admin_tab.wait_until(
        "SERIALS.every(s => document.querySelector(`[data-serial='${s}'] [data-field=voltage]`)"
        ".textContent.includes('V'))".replace("SERIALS", str(SERIALS))
    )
    admin_tab.assert_clean()


def test_overview_updates_from_a_live_reading(admin_tab: Tab, demo: Demo) -> None:
    page = admin_tab.page
    admin_tab.wait_until("document.querySelector('[data-conn]').dataset.state === 'live'")
    serial = SERIALS[2]
    card = page.locator(f'[data-device][data-serial="{serial}"]')
    demo.server.publish_reading(
        serial, voltage=231.44, current=5.678, power=1234.5, energy=42.125, frequency=50.02, pf=0.91
    )
    card.locator('[data-field="power"]').filter(has_text="1,235").wait_for()
    assert card.locator('[data-field="voltage"]').inner_text().replace("\n", "") == "231.4V"
    assert card.locator('[data-field="current"]').inner_text().replace("\n", "") == "5.678A"
    assert card.locator('[data-field="pf"]').inner_text() == "0.91"
    assert "just now" in card.locator("time").inner_text()
    demo.server.publish_status(serial, False)
    card.locator("[data-status]").filter(has_text="offline").wait_for()
    demo.server.publish_status(serial, True)
    card.locator("[data-status]").filter(has_text="online").wait_for()
    admin_tab.assert_clean()


def test_live_page_updates(admin_tab: Tab, demo: Demo) -> None:
    admin_tab.goto("/live")
    page = admin_tab.page
    admin_tab.wait_until("document.querySelector('[data-conn]').dataset.state === 'live'")
    demo.server.publish_reading(
        SERIALS[0], voltage=229.0, current=0.5, power=98.7, energy=1.5, frequency=50.0, pf=0.86
    )
    item = page.locator(f'[data-live][data-serial="{SERIALS[0]}"]')
    item.locator('[data-field="power"]').filter(has_text="98.7").wait_for()
    admin_tab.assert_clean()


def test_users_see_only_their_devices(tab_factory: Any, demo: Demo) -> None:
    from tests.browser.conftest import USER

    tab = tab_factory()
    tab.login(*USER)
    cards = tab.page.locator("[data-device]")
    assert sorted(cards.evaluate_all("ns => ns.map(n => n.dataset.serial)")) == SERIALS[:2]
    assert tab.page.locator("a[href='/users']").count() == 0  # no admin links
    response = tab.goto(f"/devices/{SERIALS[2]}")
    assert response is not None and response.status == 404
    missing = tab.goto("/devices/NO-SUCH-METER")
    assert missing is not None and missing.status == 404
    assert tab.page.locator("h1").inner_text() == "Not found"
    forbidden = tab.goto("/users")
    assert forbidden is not None and forbidden.status == 403
    tab.assert_clean(allow=("status of 404", "status of 403"))
