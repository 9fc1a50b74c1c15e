"""Tariffs in the browser: an admin creates a tiered tariff from the EVN template, assigns
it on a device page, and the page shows the bill (tier lines, VAT, total) and the cost
per day; the user who sees the device sees the same bill."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import SERIALS, USER, Tab


def test_admin_creates_evn_tariff_assigns_it_and_sees_the_bill(
    admin_tab: Tab, tab_factory: Any
) -> None:
    page = admin_tab.page
    # The first page with a chart in this server makes it compress plotly.js (seconds on
    # a busy 2-core machine) when this test runs alone
    page.set_default_navigation_timeout(30_000)
    admin_tab.goto("/admin/tariffs")
    page.locator("#tariffs-table tbody td").first.wait_for()
    page.click("#new-tariff")
    editor = page.locator("#tariff-editor")
    editor.get_by_role("button", name="EVN residential (6 tiers)").click()
    assert editor.locator("[data-tier]").count() == 6
    assert '"up_to_kwh": "50"' in page.locator("#tariff-json").text_content()
    editor.get_by_label("Name").fill("EVN home")
    page.click("#save-tariff")
    row = page.locator('#tariffs-table tr[data-tariff="EVN home"]')
    row.wait_for()
    assert "tiered" in row.inner_text() and "VND" in row.inner_text()
    admin_tab.assert_clean()

    admin_tab.goto(f"/devices/{SERIALS[0]}")
    page.locator("#cost-sub", has_text="No tariff").wait_for()
    page.select_option("#tariff-select", label="EVN home (VND)")
    lines = page.locator("#bill-table tbody tr[data-kind=energy]")
    lines.first.wait_for()
    assert lines.first.locator("td").first.inner_text().startswith("Tier 1")
    foot = page.locator("#bill-table tfoot").inner_text()
    assert "VAT 8 %" in foot and "Total" in foot
    assert page.locator("#bill-table").get_attribute("data-total") not in (None, "0")
    admin_tab.wait_until("document.querySelector('#cost-chart').dataset.bars === '30'")
    page.get_by_role("button", name="Last bill").click()
    page.locator("#cost-sub", has_text="cycle").wait_for()
    admin_tab.assert_clean()

    carol = tab_factory()
    carol.login(*USER, path=f"/devices/{SERIALS[0]}")
    carol.page.locator("#bill-table tbody tr[data-kind=energy]").first.wait_for()
    assert carol.page.locator("#tariff-select").count() == 0  # admins only
    carol.assert_clean()
