"""Device page, admins: the topic id (validation errors shown at the field) and a new
command secret shown once; users see neither and the API refuses them."""

from __future__ import annotations

from typing import Any

from meterhub.db.models import Device
from meterhub.services import command_signing
from tests.browser.conftest import SERIALS, USER, Demo, Tab


def _device(demo: Demo, serial: str) -> Device:
    with demo.server.ctx.sessions() as db:
        device = db.query(Device).filter_by(serial_number=serial).one()
        db.expunge(device)
        return device


def test_topic_id_is_edited_with_errors_inline(admin_tab: Tab, demo: Demo) -> None:
    demo.server.add_device("PZEM-TOPIC1", "Topic meter")
    tab = admin_tab
    page = tab.page
    tab.goto("/devices/PZEM-TOPIC1")
    error = page.locator("#topic-error")
    # 422: not a valid id (the serial rule)
    page.fill("#topic-id", "has space/slash")
    page.click("#topic-save")
    error.wait_for()
    assert "topic_id" in error.inner_text()
    assert page.locator("#topic-id").get_attribute("aria-invalid") == "true"
    # 409: another device's serial
    page.fill("#topic-id", SERIALS[0])
    assert error.is_hidden()  # typing clears the old message
    page.click("#topic-save")
    error.filter(has_text=SERIALS[0]).wait_for()
    assert _device(demo, "PZEM-TOPIC1").topic_id is None
    # a good one is saved; empty goes back to the serial
    page.fill("#topic-id", "kitchen-main")
    page.click("#topic-save")
    page.locator(".toast.ok").filter(has_text="meter/kitchen-main/").wait_for()
    assert error.is_hidden()
    assert _device(demo, "PZEM-TOPIC1").topic_id == "kitchen-main"
    tab.goto("/devices/PZEM-TOPIC1")
    assert page.input_value("#topic-id") == "kitchen-main"
    page.fill("#topic-id", "")
    page.click("#topic-save")
    page.locator(".toast.ok").filter(has_text="its serial").wait_for()
    assert _device(demo, "PZEM-TOPIC1").topic_id is None
    tab.assert_clean(allow=("status of 409", "status of 422"))


def test_new_command_secret_is_shown_once(admin_tab: Tab, demo: Demo) -> None:
    demo.server.add_device("PZEM-SECRET1", "Secret meter")
    tab = admin_tab
    page = tab.page
    tab.goto("/devices/PZEM-SECRET1")
    assert page.locator("#new-secret").is_hidden()
    page.click("#secret-rotate")
    page.click("#confirm-ok")
    page.locator("#new-secret").wait_for()
    first = page.input_value("#secret-value")
    assert len(first) == 64 and _device(demo, "PZEM-SECRET1").command_secret == first
    assert "command_secret" in page.locator("#new-secret").inner_text()
    # commands the server signs from now on verify with the key shown
    signed = command_signing.sign(first, "id-1", "identify", {}, 60)
    assert command_signing.verify(page.input_value("#secret-value"), signed) is not None
    # a reload does not show it again; a new one replaces it
    tab.goto("/devices/PZEM-SECRET1")
    assert page.locator("#new-secret").is_hidden()
    assert first not in page.content()
    page.click("#secret-rotate")
    page.click("#confirm-ok")
    page.locator("#new-secret").wait_for()
    second = page.input_value("#secret-value")
    assert second != first and _device(demo, "PZEM-SECRET1").command_secret == second
    tab.assert_clean()


def test_users_get_no_setup_and_a_403(tab_factory: Any, demo: Demo) -> None:
    tab: Tab = tab_factory()
    tab.login(*USER)
    tab.goto(f"/devices/{SERIALS[0]}")
    tab.page.locator("h1").wait_for()
    assert tab.page.locator("#meter-setup").count() == 0
    device_id = _device(demo, SERIALS[0]).id
    status = tab.page.evaluate(
        """async (id) => {
            const csrf = document.cookie.split('; ').find((c) => c.startsWith('meterhub_csrf='));
            const res = await fetch(`/api/devices/${id}/command-secret`, {
              method: 'POST', headers: {'X-CSRF-Token': decodeURIComponent(csrf.split('=')[1])},
            });
            return res.status;
        }""",
        device_id,
    )
    assert status == 403
    assert _device(demo, SERIALS[0]).command_secret is None
    tab.assert_clean(allow=("status of 403",))
