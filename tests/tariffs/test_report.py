"""The monthly report: the printable page and `meterhub report`, with the bill of the
cycle, its daily chart and the comparison with the cycle before; users see only theirs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from meterhub.cli.main import app
from tests.tariffs.conftest import HCM, evn, feed


def seed(admin_api: Any, ctx: Any) -> dict[str, Any]:
    device = admin_api.post("/api/devices", json={"serial_number": "HOME-1", "name": "Home"})
    tariff = admin_api.post("/api/tariffs", json=evn() | {"is_default": True}).json()
    assert tariff["is_default"]
    feed(ctx, "HOME-1", HCM, date(2026, 5, 1), 5, 36, 400)  # May: 80 kWh
    feed(ctx, "HOME-1", HCM, date(2026, 6, 1), 10, 36, 800, counter_kwh=180)  # June: 320 kWh
    body: dict[str, Any] = device.json()
    return body


def test_report_page_and_comparison(admin_api: Any, ctx: Any, make_user: Any) -> None:
    device = seed(admin_api, ctx)
    res = admin_api.get("/report", params={"cycle": "2026-06"})
    assert res.status_code == 200, res.text
    html = res.text
    assert "Electricity report, 2026-06" in html
    assert "871020 VND" in html and "Tier 5 (300-400 kWh)" in html
    may = 50 * 1984 + 30 * 2050
    may_total = may + round(may * 0.08)
    assert f"{may_total} VND" in html  # the previous cycle
    assert f"{(871020 - may_total) / may_total * 100:+.1f} %" in html
    assert html.count("<rect") == 30  # a bar per day of June
    assert '<link rel="stylesheet" href="/static/css/report.css">' in html  # CSP: no inline
    alice = make_user("alice", (device["id"],))
    assert "871020" in alice.get("/report", params={"cycle": "2026-06"}).text
    bob = make_user("bob")
    page = bob.get("/report", params={"cycle": "2026-06"}).text
    assert "HOME-1" not in page and "No meters are shared with you" in page
    assert admin_api.get("/report", params={"cycle": "June"}).status_code == 422


def test_cli_writes_a_self_contained_file(
    admin_api: Any, ctx: Any, db_url: str, tmp_path: Path
) -> None:
    seed(admin_api, ctx)
    env = {"DATABASE_URL": db_url, "METERHUB_DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "june.html"
    runner = CliRunner()
    res = runner.invoke(
        app, ["report", "--user", "root", "--cycle", "2026-06", "--out", str(out)], env=env
    )
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "871020 VND" in html and "<style>" in html and "/static/" not in html
    res = runner.invoke(app, ["report", "--user", "nobody", "--cycle", "2026-06"], env=env)
    assert res.exit_code == 1 and "no user named 'nobody'" in res.output
    res = runner.invoke(
        app, ["report", "--user", "root", "--cycle", "2026-6", "--out", str(out)], env=env
    )
    assert res.exit_code == 1 and "YYYY-MM" in res.output
