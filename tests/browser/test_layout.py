"""Every page: no console errors (CSP included), and no sideways scrolling on a phone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ADMIN, SERIALS

PAGES = [
    "/",
    "/devices",
    f"/devices/{SERIALS[0]}",
    "/live",
    "/analytics",
    "/users",
    "/admin/devices",
    "/admin/tariffs",
    "/settings",
    "/report",
]
SETTLED = (
    "[...document.querySelectorAll('.js-plotly-plot')].every(n => n.querySelector('.main-svg'))"
)


@pytest.mark.parametrize(
    ("width", "height", "dark"),
    [(360, 740, True), (1440, 900, False)],
    ids=["phone-dark", "desktop-light"],
)
def test_every_page_fits_and_has_no_console_errors(
    tab_factory: Any, width: int, height: int, dark: bool
) -> None:
    tab = tab_factory(width=width, height=height, dark=dark)
    tab.login(*ADMIN)
    for path in PAGES:
        tab.goto(path)
        tab.page.wait_for_load_state("networkidle")
        tab.wait_until(SETTLED)
        widths = tab.page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"{path} scrolls sideways at {width}px: {widths}"
        assert tab.page.locator("h1").count() >= 1
    tab.assert_clean()


def test_login_page_fits_a_phone(tab_factory: Any) -> None:
    tab = tab_factory(width=360, height=740)
    tab.goto("/login")
    widths = tab.page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1]
    assert tab.page.get_by_label("Username", exact=True).is_visible()
    tab.assert_clean()


def test_phone_menu_opens_and_closes_with_the_keyboard(tab_factory: Any) -> None:
    tab = tab_factory(width=360, height=740)
    tab.login(*ADMIN)
    page = tab.page
    assert not page.locator("#sidebar a[href='/analytics']").is_visible() or page.locator(
        "#sidebar"
    ).evaluate("n => n.getBoundingClientRect().right <= 0")
    page.click("#nav-toggle")
    page.locator("#sidebar.open").wait_for()
    assert page.locator("#nav-toggle").get_attribute("aria-expanded") == "true"
    page.keyboard.press("Escape")
    assert page.locator("#nav-toggle").get_attribute("aria-expanded") == "false"
    tab.assert_clean()
