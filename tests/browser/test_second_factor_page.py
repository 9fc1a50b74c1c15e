"""Settings: set up a second factor (QR code, key, confirm with a current code, recovery
codes), then log in with a code; a wrong code is refused at both steps; turning it off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
from sqlalchemy import select

from meterhub.db.models import User, UserSession
from meterhub.db.types import utcnow
from tests.browser.conftest import Demo, Tab

NAME, PASSWORD = "tina", "tina-pass-12345"


def _log_in(tab: Tab) -> None:
    tab.goto("/login?next=/settings")
    tab.page.fill("#username", NAME)
    tab.page.fill("#password", PASSWORD)
    tab.page.click("#login-submit")


def _wrong(code: str) -> str:
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


def _age_sessions(demo: Demo, username: str) -> None:
    """Move the user's last password entry an hour back (past the reauth window)."""
    with demo.server.ctx.sessions() as db:
        user = db.scalars(select(User).where(User.username == username)).one()
        for row in db.scalars(select(UserSession).where(UserSession.user_id == user.id)):
            row.authenticated_at = utcnow() - timedelta(hours=1)
        db.commit()


def test_enrol_log_in_with_the_code_and_turn_off(tab_factory: Any, demo: Demo) -> None:
    demo.server.add_user(NAME, PASSWORD)
    tab: Tab = tab_factory()
    tab.login(NAME, PASSWORD, "/settings")
    page = tab.page
    state = page.locator("#totp-state")
    state.filter(has_text="Off").wait_for()
    page.click("#totp-start")
    page.locator("#totp-enrol").wait_for()
    # The QR code is a real image (an SVG the browser decoded), and the key is shown as text.
    tab.wait_until("document.getElementById('totp-qr').naturalWidth > 100")
    secret = page.locator("#totp-secret").get_attribute("data-secret") or ""
    assert len(secret) == 32
    assert page.locator("#totp-secret").inner_text().replace(" ", "") == secret
    totp = pyotp.TOTP(secret)
    # A wrong code is refused inline; the factor stays off.
    page.fill("#totp-code", _wrong(totp.now()))
    page.click("#totp-confirm-form button[type=submit]")
    page.locator("#totp-error").filter(has_text="Wrong code").wait_for()
    assert state.inner_text() == "Off"
    page.fill("#totp-code", totp.now())
    page.click("#totp-confirm-form button[type=submit]")
    page.locator("#totp-codes").wait_for()
    codes = page.locator("#totp-recovery li").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    state.filter(has_text="On").wait_for()
    assert page.locator("#totp-enrol").is_hidden()

    # Log out; logging in now asks for the code; a wrong one is refused.
    page.click("#logout")
    page.wait_for_url("**/login**")
    _log_in(tab)
    page.locator("#totp-field").wait_for()
    assert "/login" in page.url
    page.fill("#totp-code", _wrong(totp.now()))
    page.click("#login-submit")
    page.locator("#login-error").filter(has_text="Wrong code").wait_for()
    assert "/login" in page.url
    page.fill("#totp-code", totp.now())
    page.click("#login-submit")
    page.wait_for_url("**/settings")
    state.filter(has_text="On").wait_for()

    # Turn it off: with the last password entry long ago, the page asks for the password
    # and (since the account has one) a code before it goes ahead.
    _age_sessions(demo, NAME)
    page.click("#totp-disable")
    page.click("#confirm-ok")
    dialog = page.locator("#reauth-dialog")
    dialog.wait_for()
    page.fill("#reauth-password", PASSWORD)
    page.click("#reauth-ok")
    page.locator("#reauth-totp").wait_for()
    page.fill("#reauth-code", totp.now())
    page.click("#reauth-ok")
    state.filter(has_text="Off").wait_for()
    assert dialog.is_hidden()
    assert page.locator("#totp-start").is_visible()
    page.click("#logout")
    page.wait_for_url("**/login**")
    tab.login(NAME, PASSWORD, "/settings")  # password only again
    tab.assert_clean(allow=("status of 401", "status of 403", "status of 422"))
