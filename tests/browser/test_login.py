"""Logging in: wrong credentials, throttling, the forced password change, ?next=."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import USER, Demo


def test_anonymous_is_sent_to_login_and_back(tab_factory: Any) -> None:
    tab = tab_factory()
    tab.goto("/devices?q=kit")
    assert (
        "/login?next=/devices%3Fq%3Dkit" in tab.page.url
        or "/login?next=/devices?q=kit" in tab.page.url.replace("%3F", "?").replace("%3D", "=")
    )
    tab.page.fill("#username", USER[0])
    tab.page.fill("#password", USER[1])
    tab.page.click("#login-submit")
    tab.page.wait_for_url("**/devices?q=kit")
    assert tab.page.locator("h1").inner_text() == "Devices"
    tab.assert_clean()


def test_wrong_password_then_throttled(tab_factory: Any, demo: Demo) -> None:
    demo.server.add_user("unlucky", "unlucky-pass-1234")
    tab = tab_factory()
    tab.goto("/login")
    error = tab.page.locator("#login-error")
    tab.page.fill("#username", "unlucky")
    for _ in range(5):
        tab.page.fill("#password", "not-it")
        tab.page.click("#login-submit")
        error.filter(has_text="Wrong username or password").wait_for()
        tab.wait_until("!document.querySelector('#login-submit').disabled")
    tab.page.fill("#password", "not-it")
    tab.page.click("#login-submit")
    error.filter(has_text="Too many failed attempts").wait_for()
    assert tab.page.locator("#login-submit").is_disabled()
    # the browser logs the 401/429 answers as failed resources; nothing else
    tab.assert_clean(allow=("status of 401", "status of 429"))


def test_forced_password_change(tab_factory: Any, demo: Demo) -> None:
    demo.server.add_user("fresh", "first-pass-given-1", role="admin", must_change=True)
    tab = tab_factory()
    tab.goto("/login")
    tab.page.fill("#username", "fresh")
    tab.page.fill("#password", "first-pass-given-1")
    tab.page.click("#login-submit")
    tab.page.locator("#change-step").wait_for()
    assert tab.page.locator("#login-step").is_hidden()
    # every other page sends the user back to this step until the password is changed
    tab.goto("/devices")
    assert "/login?change=1" in tab.page.url
    assert tab.page.locator("#change-step").is_visible()
    tab.page.fill("#current-password", "first-pass-given-1")
    tab.page.fill("#new-password", "short")
    tab.page.fill("#repeat-password", "short")
    tab.page.click("#change-submit")
    tab.page.locator("#change-error").filter(has_text="at least 12").wait_for()
    tab.page.fill("#new-password", "a-much-better-one")
    tab.page.fill("#repeat-password", "a-much-better-one")
    tab.page.click("#change-submit")
    tab.page.wait_for_url(f"{demo.url}/")
    assert tab.page.locator("h1").inner_text() == "Overview"
    tab.assert_clean()
