"""/admin/integrations in Chromium: an admin adds an Emoncms target through the dialog,
the key never comes back to the page, pausing works; a user is refused the page."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import SERIALS, USER, Tab

KEY = "b1e2a3d4c5f60718293a4b5c6d7e8f90"


def test_admin_adds_and_pauses_an_emoncms_target(admin_tab: Tab) -> None:
    page = admin_tab.page
    admin_tab.goto("/admin/integrations")
    page.locator("#ha-details dd").first.wait_for()
    assert "homeassistant/status" in page.locator("#ha-details").inner_text()
    page.click("#new-target")
    dialog = page.locator("#target-dialog")
    dialog.get_by_label("Name").fill("browser-emon")
    dialog.get_by_label("Emoncms address").fill("http://127.0.0.1:9/emoncms")
    dialog.locator("select[name=device_serial] option", has_text=SERIALS[1]).wait_for(
        state="attached"
    )
    dialog.get_by_label("Meters").select_option(SERIALS[1])
    dialog.locator("button[value=save]").click()
    assert "API key" in dialog.locator("[data-error]").inner_text()  # required on create
    dialog.get_by_label("Write API key").fill(KEY)
    dialog.locator("button[value=save]").click()
    row = page.locator('#targets-table tr[data-target="browser-emon"]')
    row.wait_for()
    assert SERIALS[1] in row.inner_text() and "API key set" in row.inner_text()
    assert KEY not in page.content()
    row.get_by_role("button", name="Pause").click()
    row.locator(".badge", has_text="paused").wait_for()
    admin_tab.assert_clean()


def test_users_are_refused_the_page(tab_factory: Any) -> None:
    tab: Tab = tab_factory()
    tab.login(*USER)
    res = tab.goto("/admin/integrations")
    assert res.status == 403
    assert tab.page.locator('a[href="/admin/integrations"]').count() == 0
