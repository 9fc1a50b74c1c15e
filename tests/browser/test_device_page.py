"""The device page: history chart (presets, custom range, zoom re-fetch), consumption bars,
summary table, CSV export link."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.browser.conftest import SERIALS, Tab


def _since(url: str) -> float:
    """Hours between the request's `from` and now."""
    query = parse_qs(urlsplit(url).query)
    start = query["from"][0].replace("Z", "+00:00")
    from datetime import datetime

    return (time.time() - datetime.fromisoformat(start).timestamp()) / 3600


def _is_series(url: str) -> bool:
    path = urlsplit(url).path
    return path.startswith("/api/readings/") and path.count("/") == 3


def open_device(tab: Tab) -> Any:
    page = tab.page
    with page.expect_response(lambda r: _is_series(r.url)) as first:
        tab.goto(f"/devices/{SERIALS[0]}")
    assert first.value.ok
    tab.wait_until("Number(document.getElementById('history-chart').dataset.points) > 0")
    return page


def test_chart_renders_real_data_and_refetches_on_zoom(admin_tab: Tab) -> None:
    page = open_device(admin_tab)
    assert page.locator("#history-chart .main-svg").count() > 0
    points = int(page.locator("#history-chart").get_attribute("data-points") or 0)
    assert 80 <= points <= 2000  # 24 h of 15-minute history (+ nothing raw beyond)
    with page.expect_request(lambda r: _is_series(r.url)) as zoomed:
        page.evaluate("""() => {
            const gd = document.getElementById('history-chart');
            const [a, b] = gd.layout.xaxis.range;
            const t0 = new Date(a.replace(' ', 'T') + 'Z').getTime();
            const t1 = new Date(b.replace(' ', 'T') + 'Z').getTime();
            const mid = (t0 + t1) / 2, half = (t1 - t0) / 8;
            const f = t => new Date(t).toISOString().slice(0, 19).replace('T', ' ');
            window.Plotly.relayout(gd, {'xaxis.range[0]': f(mid - half),
                                        'xaxis.range[1]': f(mid + half)});
        }""")
    span = _since(zoomed.value.url) - (time.time() - _to(zoomed.value.url)) / 3600
    assert 4 < span < 8, span  # a quarter of 24 h
    page.locator("#reset-zoom").wait_for()
    admin_tab.wait_until("document.getElementById('history-chart').dataset.fetches === '2'")
    assert "from=" in (page.locator("#export-link").get_attribute("href") or "")
    admin_tab.assert_clean()


def _to(url: str) -> float:
    from datetime import datetime

    end = parse_qs(urlsplit(url).query)["to"][0].replace("Z", "+00:00")
    return datetime.fromisoformat(end).timestamp()


def test_range_presets_and_custom_range(admin_tab: Tab) -> None:
    page = open_device(admin_tab)
    for label, hours in (("7 d", 7 * 24), ("30 d", 30 * 24), ("1 h", 1), ("1 y", 365 * 24)):
        with page.expect_request(lambda r: _is_series(r.url)) as req:
            page.locator("#range-seg button", has_text=label).click()
        assert abs(_since(req.value.url) - hours) < 0.1, (label, req.value.url)
        assert "max_points=2000" in req.value.url
        assert (
            page.locator("#range-seg button", has_text=label).get_attribute("aria-pressed")
            == "true"
        )
    page.locator("#range-seg button", has_text="Custom").click()
    page.fill("#range-from", "2020-01-01T00:00")
    page.fill("#range-to", "2020-01-02T00:00")
    with page.expect_request(lambda r: _is_series(r.url)) as req:
        page.locator("#custom-range button[type=submit]").click()
    assert "from=2019-12-31T23%3A00%3A00" in req.value.url  # midnight in Europe/Berlin
    page.locator("#chart-overlay").filter(has_text="No readings").wait_for()
    page.locator("#metric-seg button", has_text="Voltage").click()
    admin_tab.assert_clean()


def test_consumption_bars_and_summary(admin_tab: Tab) -> None:
    page = open_device(admin_tab)
    admin_tab.wait_until("Number(document.getElementById('consumption-chart').dataset.bars) >= 28")
    assert page.locator("#consumption-chart .point").count() >= 28
    assert "kWh" in page.locator("#consumption-totals").inner_text()
    with page.expect_response(lambda r: "/summary" in r.url and "period=week" in r.url):
        page.locator("#period-seg button", has_text="Weekly").click()
    admin_tab.wait_until("Number(document.getElementById('consumption-chart').dataset.bars) < 20")
    page.locator("summary", has_text="Summary table").click()
    rows = page.locator("#summary-table tbody tr")
    assert rows.count() >= 5
    assert "kWh" in rows.first.inner_text()
    admin_tab.assert_clean()
