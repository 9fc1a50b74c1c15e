"""Admin pages: create a user, assign a device, and that user then sees exactly it;
destructive actions ask first in a real dialog."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import SERIALS, Tab


def test_admin_creates_user_and_assigns_a_device(admin_tab: Tab, tab_factory: Any) -> None:
    page = admin_tab.page
    admin_tab.goto("/users")
    page.locator("#users-table tbody tr[data-user]").first.wait_for()
    page.click("#new-user")
    dialog = page.locator("#user-dialog")
    dialog.get_by_label("Username").fill("dave")
    dialog.get_by_label("Full name").fill("Dave Doe")
    dialog.get_by_label("Initial password").fill("dave-first-pass")
    dialog.locator("button[value=save]").click()
    row = page.locator('tr[data-user="dave"]')
    row.wait_for()
    assert "must change password" in row.inner_text()
    row.get_by_role("button", name="Meters").click()
    assign = page.locator("#assign-dialog")
    assign.get_by_label("Workshop").check()
    assign.locator("button[value=save]").click()
    row.locator(".badge", has_text="Workshop").wait_for()
    admin_tab.assert_clean()

    dave = tab_factory(width=390, height=800)
    dave.goto("/login")
    dave.page.fill("#username", "dave")
    dave.page.fill("#password", "dave-first-pass")
    dave.page.click("#login-submit")
    dave.page.locator("#change-step").wait_for()
    dave.page.fill("#new-password", "dave-own-password")
    dave.page.fill("#repeat-password", "dave-own-password")
    dave.page.click("#change-submit")
    dave.page.wait_for_url(f"{dave.base}/")
    cards = dave.page.locator("[data-device]")
    assert cards.evaluate_all("ns => ns.map(n => n.dataset.serial)") == [SERIALS[2]]
    dave.goto("/devices")
    assert dave.page.locator("tr[data-row]").count() == 1
    dave.assert_clean()


def test_delete_asks_first_in_a_dialog(admin_tab: Tab, demo: Any) -> None:
    demo.server.add_device("DOOMED-1", "Doomed")
    page = admin_tab.page
    admin_tab.goto("/admin/devices")
    row = page.locator('#registry-table tr[data-serial="DOOMED-1"]')
    row.get_by_role("button", name="Delete").click()
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for()
    assert "ALL its readings" in dialog.inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert row.count() == 1
    row.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete device").click()
    row.wait_for(state="detached")
    admin_tab.assert_clean()


def test_admin_adds_and_approves_devices(admin_tab: Tab, demo: Any) -> None:
    from meterhub.db.models import DEVICE_PENDING, Device

    with demo.server.ctx.sessions() as db:
        db.add(Device(serial_number="PZEM-NEW001", status=DEVICE_PENDING))
        db.commit()
    page = admin_tab.page
    admin_tab.goto("/admin/devices")
    pending = page.locator('#pending-table tr[data-serial="PZEM-NEW001"]')
    pending.get_by_role("button", name="Approve").click()
    page.locator('#registry-table tr[data-serial="PZEM-NEW001"]').wait_for()
    page.click("#new-device")
    dialog = page.locator("#device-dialog")
    dialog.get_by_label("Serial number").fill("PZEM-ADDED1")
    dialog.get_by_label("Name", exact=True).fill("Garden pump")
    dialog.locator("button[value=save]").click()
    page.locator('#registry-table tr[data-serial="PZEM-ADDED1"]', has_text="Garden pump").wait_for()
    admin_tab.assert_clean()


def test_settings_creates_and_revokes_a_token(admin_tab: Tab) -> None:
    page = admin_tab.page
    admin_tab.goto("/settings")
    page.get_by_label("Name", exact=True).fill("ci-script")
    page.get_by_role("button", name="Create token").click()
    page.locator("#new-token").wait_for()
    assert len(page.locator("#token-value").input_value()) > 20
    row = page.locator("#tokens-table tbody tr", has_text="ci-script")
    row.get_by_role("button", name="Revoke").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Revoke token").click()
    row.wait_for(state="detached")
    admin_tab.assert_clean()


def test_credentials_button_shows_the_password_once(admin_tab: Tab, demo: Any) -> None:
    from meterhub.broker.passwords import verify_password
    from meterhub.db.models import Device

    demo.server.add_device("CRED-1", "Credentials meter")
    page = admin_tab.page
    admin_tab.goto("/admin/devices")
    row = page.locator('#registry-table tr[data-serial="CRED-1"]')
    row.get_by_role("button", name="Credentials").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Issue credentials").click()
    dialog = page.locator("#credentials-dialog")
    dialog.wait_for()
    assert dialog.get_by_label("User name").input_value() == "CRED-1"
    password = dialog.get_by_label("Password").input_value()
    assert "meter-CRED-1" in dialog.inner_text()
    with demo.server.ctx.sessions() as db:
        device = db.query(Device).filter_by(serial_number="CRED-1").one()
        assert verify_password(password, device.mqtt_password_hash)
    dialog.get_by_role("button", name="Done").click()
    dialog.wait_for(state="hidden")
    assert dialog.get_by_label("Password").input_value() == ""
    row.get_by_role("button", name="Edit").click()
    edit = page.locator("#device-dialog")
    assert edit.get_by_label("Protocol").input_value() == "meterhub"
    edit.get_by_label("Protocol").select_option("tasmota")
    edit.locator("button[value=save]").click()
    edit.wait_for(state="hidden")
    with demo.server.ctx.sessions() as db:
        assert db.query(Device).filter_by(serial_number="CRED-1").one().protocol == "tasmota"
    admin_tab.assert_clean()
